"""A local DeepSeek-compatible server for tests and demos: THE SIMULATOR, not DeepSeek.

It speaks the subset of the chat-completions protocol nightshift uses, on loopback only:
``POST /chat/completions`` (and ``/v1/...``), ``GET /models``, ``GET /health``. Usage is counted
with the real V4 tokenizer and a 64-token prefix-cache model; answers come from the rule-based
model in ``simulator_model``. Faults are injected from an exact sequence or seeded rates, so
tests are deterministic.

The HTTP layer is a small hand-written HTTP/1.1 server on asyncio streams rather than an ASGI
app, because the faults need control a framework hides: blank keep-alive lines written before
the JSON body (or for ever, with no body), a connection dropped before any answer, or cut in the
middle of one, and 200 answers that are not chat completions.

``insufficient_system_resource`` is, per DeepSeek's API reference, a ``finish_reason`` of a 200
answer whose generation was interrupted (not an HTTP error); the simulator answers it that way,
with half the content.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any, Literal

from connectors.deepseek_protocol import ChatRequest, request_key
from connectors.simulator_model import (
    PrefixCache,
    Reply,
    answer,
    completion_payload,
    context_length_message,
    encode,
    error_body,
    fit,
    parse_chat_body,
    render_prompt,
)
from connectors.simulator_oracle import Oracle
from nightshift.errors import ConfigError
from nightshift.tokenizer import load_tokenizer

logger = logging.getLogger(__name__)

CONTEXT_TOKENS = 1_048_576
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DEEPSEEK_MODELS = ("deepseek-v4-flash", "deepseek-v4-pro", "deepseek-flash")
VLLM_MODELS = ("deepseek-ai/DeepSeek-V4-Flash",)
FAULTS = (
    "ok",
    "429",
    "500",
    "503",
    "400",
    "422",
    "402",
    "insufficient_system_resource",
    "disconnect",  # closed before any byte of an answer (DeepSeek: 10 minutes without inference)
    "disconnect_mid",  # status, keep-alive lines and half the body, then the connection is cut
    "keepalive",  # blank lines before the body, as while queued
    "blank_json",  # whitespace-only content
    "length",  # truncated content, finish_reason "length"
    "slow",  # ``slow_seconds`` of silence before the answer
    "keepalive_forever",  # blank lines at ``keepalive_interval`` (at least 50 ms), never a body
    # 200 answers that are not chat completions; usage is intact unless named
    "malformed_content",  # message.content is a number
    "malformed_choices",  # choices is an object, not a list
    "null_message",  # choices[0].message is null
    "malformed_usage",  # the token counts are strings
    "not_json",  # a proxy's HTML error page, echoing the request's Authorization header
)
_BIG_PROMPT_CHARS = 200_000  # tokenise off the event loop above this
_FOREVER_INTERVAL = 0.05  # the least gap between the "keepalive_forever" fault's blank lines
_FAULT_ERRORS = {
    "429": (429, "Rate limit reached for requests (simulator)", "rate_limit_error"),
    "500": (500, "Internal server error (simulator)", "server_error"),
    "503": (503, "Server overloaded, please retry shortly (simulator)", "server_error"),
    "400": (400, "Invalid request body (simulator fault)", "invalid_request_error"),
    "422": (422, "Invalid parameters (simulator fault)", "invalid_request_error"),
    "402": (402, "Insufficient Balance (simulator)", "unknown_error"),
}


@dataclass
class SimulatorConfig:
    """Knobs; a running simulator reads them per request, so tests may change them live."""

    flavour: Literal["deepseek", "vllm"] = "deepseek"
    models: tuple[str, ...] | None = None  # None: the flavour's defaults
    expected_api_key: str | None = None  # None: any non-empty bearer key
    context_tokens: int = CONTEXT_TOKENS
    seconds_per_1k_prompt_tokens: float = 0.0
    seconds_per_output_token: float = 0.0
    seconds_per_request: float = 0.0  # a fixed latency on top, for dispatch benches
    keepalive_interval: float = 0.0  # >0: blank lines at this interval while "computing"
    keepalive_lines: int = 3  # blank lines written by the "keepalive" fault
    slow_seconds: float = 2.0
    fault_sequence: list[str] = field(default_factory=list)  # consumed, one per chat request
    fault_rates: dict[str, float] = field(default_factory=dict)  # used once the sequence is empty
    seed: int = 0
    invent_quotes: tuple[str, ...] = ()  # field names, or "*"
    invent_models: tuple[str, ...] | None = None  # None: every model whose id contains "flash"
    oracle: Oracle | None = None  # answers from labels (simulator_oracle) instead of the rules

    def served_models(self) -> tuple[str, ...]:
        if self.models is not None:
            return self.models
        return VLLM_MODELS if self.flavour == "vllm" else DEEPSEEK_MODELS

    def invents(self, model: str) -> bool:
        if self.invent_models is None:
            return "flash" in model
        return "*" in self.invent_models or model in self.invent_models


@dataclass(frozen=True)
class LogEntry:
    seq: int
    model: str
    request_key: str
    fault: str
    status: int | None  # None: the connection was dropped before a status
    answered: bool  # a complete, proper answer was written (the client got a result)
    prompt_tokens: int = 0
    cache_hit_tokens: int = 0
    user_id: str | None = None


@dataclass
class SimulatorStats:
    requests: int = 0  # every HTTP request, any path
    log: list[LogEntry] = field(default_factory=list)  # chat requests only
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: Counter[str] = field(default_factory=Counter)

    def answered(self) -> Counter[str]:
        """How many times each request key got a complete, proper answer."""
        return Counter(e.request_key for e in self.log if e.answered)

    def faults(self) -> list[str]:
        return [e.fault for e in self.log]

    def summary(self) -> dict[str, Any]:
        """What ``GET /stats`` answers: chat requests seen and answered, and the most in
        flight at once, per model."""
        return {
            "chat_requests": len(self.log),
            "answered": sum(1 for e in self.log if e.answered),
            "in_flight": dict(self.in_flight),
            "max_in_flight": dict(self.max_in_flight),
        }


class _Dropped(Exception):
    """The simulator cut the connection on purpose."""


class Simulator:
    """The protocol logic, independent of how the server is run."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.stats = SimulatorStats()
        self.cache = PrefixCache()
        self._rng = random.Random(config.seed)
        self._seq = 0

    def set_faults(self, sequence: list[str]) -> None:
        unknown = [f for f in sequence if f not in FAULTS]
        if unknown:
            raise ConfigError(f"unknown simulator faults {unknown}; known: {FAULTS}")
        self.config.fault_sequence = list(sequence)

    def _next_fault(self) -> str:
        if self.config.fault_sequence:  # read live, so tests may also assign the list
            return self.config.fault_sequence.pop(0)
        roll = self._rng.random()
        for name, rate in sorted(self.config.fault_rates.items()):
            if roll < rate:
                return name
            roll -= rate
        return "ok"

    # -- HTTP --------------------------------------------------------------------------------

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, headers, body = request
                self.stats.requests += 1
                await self._route(method, path, headers, body, writer)
                if headers.get("connection", "").lower() == "close":
                    break
        except _Dropped:
            writer.transport.abort()
            return
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            # Shutting down: end quietly (Python 3.11's stream callback would log a cancelled
            # handler as an error).
            writer.transport.abort()
            return
        writer.close()

    async def _route(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
    ) -> None:
        path = path.split("?", 1)[0]
        if path.startswith("/v1/"):
            path = path[3:]
        if path == "/health" and method == "GET":
            await _write(writer, 200, b"")
            return
        if path == "/stats" and method == "GET":  # for tests and benches in another process
            await _write(writer, 200, json.dumps(self.stats.summary()).encode())
            return
        if path not in ("/models", "/chat/completions", "/beta/chat/completions"):
            await _write(writer, 404, error_body(f"no route {path} (simulator)", "not_found"))
            return
        denied = self._auth_error(headers.get("authorization", ""))
        if denied is not None:
            await _write(writer, 401, denied)
            return
        if path == "/models" and method == "GET":
            data = [
                {"id": m, "object": "model", "owned_by": "nightshift-simulator"}
                for m in self.config.served_models()
            ]
            await _write(writer, 200, json.dumps({"object": "list", "data": data}).encode())
        elif path in ("/chat/completions", "/beta/chat/completions") and method == "POST":
            beta = path.startswith("/beta/")
            await self._chat(body, writer, headers.get("authorization", ""), beta=beta)
        else:
            await _write(
                writer, 405, error_body("method not allowed (simulator)", "invalid_request_error")
            )

    def _auth_error(self, authorization: str) -> bytes | None:
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        expected = self.config.expected_api_key
        if scheme.lower() == "bearer" and key and (expected is None or key == expected):
            return None
        # DeepSeek's message echoes the key masked to its last four characters.
        masked = f"****{key[-4:]}" if len(key) >= 4 else "****"
        return error_body(
            f"Authentication Fails, Your api key: {masked} is invalid (simulator)",
            "authentication_error",
        )

    # -- chat --------------------------------------------------------------------------------

    async def _chat(
        self, raw: bytes, writer: asyncio.StreamWriter, authorization: str, *, beta: bool = False
    ) -> None:
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            message = "Failed to parse the request body as JSON (simulator)"
            await _write(writer, 400, error_body(message, "invalid_request_error"))
            return
        self._seq += 1
        cfg = self.config
        model = str(body.get("model", ""))
        problem, request = parse_chat_body(
            body, flavour=cfg.flavour, served=cfg.served_models(), beta=beta
        )
        key = request_key(request) if request is not None else ""
        user = body.get("user_id") or body.get("user")
        entry = LogEntry(self._seq, model, key, self._next_fault(), None, False, user_id=user)
        stats = self.stats
        stats.in_flight[model] += 1
        stats.max_in_flight[model] = max(stats.max_in_flight[model], stats.in_flight[model])
        recorded = False
        try:
            if problem is not None or request is None:
                status, message = problem or (400, "invalid request")
                body = error_body(f"{message} (simulator)", "invalid_request_error")
                plan = _Plan(_with(entry, status=status), status, body)
            else:
                plan = _malformed(await self._plan(request, entry), authorization)
            entry = _with(plan.entry, answered=False)  # logged if the answer never completes
            chunked = await _prelude(writer, plan, self.config.keepalive_interval)
            # Recorded before the last bytes leave, so a client that has its answer also
            # finds it in the log.
            recorded = True
            stats.in_flight[model] -= 1
            stats.log.append(plan.entry)
            try:
                await _finish(writer, plan, chunked)
            except (ConnectionError, OSError):
                stats.log[-1 - stats.log[::-1].index(plan.entry)] = _with(
                    plan.entry, answered=False
                )
                raise
        finally:
            if not recorded:  # dropped on purpose, client gone, or shutting down
                stats.in_flight[model] -= 1
                stats.log.append(entry)

    async def _plan(self, request: ChatRequest, entry: LogEntry) -> _Plan:
        """What to answer: status, body, delay and the fault's way of delivering it."""
        cfg, fault = self.config, entry.fault
        if fault == "disconnect":
            return _Plan(entry, 0, b"", drop=True)
        if fault in _FAULT_ERRORS:
            status, message, kind = _FAULT_ERRORS[fault]
            return _Plan(_with(entry, status=status), status, error_body(message, kind))
        prompt = render_prompt(request.messages, request.prefix)
        if len(prompt) > _BIG_PROMPT_CHARS:  # a 1M-token prompt takes seconds to tokenise
            ids = await asyncio.to_thread(encode, prompt)
        else:
            ids = encode(prompt)
        if len(ids) + request.max_tokens > cfg.context_tokens:
            message = context_length_message(cfg.context_tokens, len(ids), request.max_tokens)
            entry = _with(entry, status=400, prompt_tokens=len(ids))
            return _Plan(entry, 400, error_body(message, "invalid_request_error"))
        hits = self.cache.hit_tokens(request.model, ids)
        invent = set(cfg.invent_quotes) if cfg.invents(request.model) else set()
        if cfg.oracle is not None:
            said = cfg.oracle.answer(request.messages, json_mode=request.json_mode)
        else:
            said = answer(request.messages, json_mode=request.json_mode, invent=invent)
        reasoning = said.reasoning if request.thinking else None
        content = said.content
        if request.prefix is not None:
            # The model goes on from the prefix; the answer holds only what follows it.
            content = content[len(request.prefix) :]
        content, reasoning, finish = fit(content, reasoning, request.max_tokens)
        if fault == "blank_json":
            content = "\n \n"
        elif fault in ("length", "insufficient_system_resource"):
            content, finish = content[: len(content) // 2], fault
        reasoning_tokens = len(encode(reasoning)) if reasoning else 0
        reply = Reply(
            content=content,
            reasoning=reasoning,
            finish_reason=finish,
            prompt_tokens=len(ids),
            cache_hit_tokens=hits,
            completion_tokens=len(encode(content)) + reasoning_tokens,
            reasoning_tokens=reasoning_tokens,
        )
        payload = completion_payload(entry.seq, request.model, reply, flavour=cfg.flavour)
        delay = (
            cfg.seconds_per_1k_prompt_tokens * reply.prompt_tokens / 1000
            + cfg.seconds_per_output_token * reply.completion_tokens
            + cfg.seconds_per_request
            + (cfg.slow_seconds if fault == "slow" else 0.0)
        )
        entry = _with(
            entry,
            status=200,
            prompt_tokens=len(ids),
            cache_hit_tokens=hits,
            answered=fault in ("ok", "keepalive", "length", "slow"),
        )
        return _Plan(
            entry,
            200,
            payload,
            delay=delay,
            blank_lines=cfg.keepalive_lines if fault in ("keepalive", "disconnect_mid") else 0,
            cut=fault == "disconnect_mid",
            forever=fault == "keepalive_forever",
        )


@dataclass(frozen=True)
class _Plan:
    entry: LogEntry
    status: int
    body: bytes
    delay: float = 0.0
    blank_lines: int = 0
    cut: bool = False  # send half the body, then cut the connection
    drop: bool = False  # cut the connection before sending anything
    forever: bool = False  # keep-alive blank lines until the client leaves; never the body


def _malformed(plan: _Plan, authorization: str) -> _Plan:
    """The plan's 200 answer broken the way its fault says (other plans pass through)."""
    fault = plan.entry.fault
    if fault == "not_json":
        page = (
            "<html><head><title>502 Bad Gateway</title></head><body>upstream answered "
            f"nothing (simulator)<!-- request: Authorization: {authorization} --></body></html>"
        )
        return replace(plan, body=page.encode())
    if fault not in ("malformed_content", "malformed_choices", "null_message", "malformed_usage"):
        return plan
    payload = json.loads(plan.body)
    choice = payload["choices"][0]
    if fault == "malformed_content":
        choice["message"]["content"] = 12345
    elif fault == "malformed_choices":
        payload["choices"] = {"0": choice}
    elif fault == "null_message":
        choice["message"] = None
    else:
        payload["usage"] = {name: str(value) for name, value in payload["usage"].items()}
    return replace(plan, body=json.dumps(payload).encode())


def _with(entry: LogEntry, **changes: Any) -> LogEntry:
    return replace(entry, **changes)


# -- minimal HTTP/1.1 -----------------------------------------------------------------------

_MAX_BODY = 256 * 1024 * 1024


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    method, path, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                break
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(chunks)
    else:
        length = int(headers.get("content-length", "0"))
        if length > _MAX_BODY:
            raise ValueError("request body too large")
        body = await reader.readexactly(length) if length else b""
    return method, path, headers, body


def _head(status: int, extra: str) -> bytes:
    reason = HTTPStatus(status).phrase
    head = f"HTTP/1.1 {status} {reason}\r\nServer: nightshift-simulator\r\n"
    return f"{head}Content-Type: application/json\r\n{extra}\r\n".encode("latin-1")


async def _write(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    writer.write(_head(status, f"Content-Length: {len(body)}\r\n") + body)
    await writer.drain()


async def _prelude(writer: asyncio.StreamWriter, plan: _Plan, interval: float) -> bool:
    """Wait out the plan's delay, writing keep-alive blank lines first when asked, as DeepSeek
    does while a request is queued. Returns whether the answer is chunked (headers sent)."""
    if plan.drop:
        raise _Dropped
    if plan.forever:
        writer.write(_head(plan.status, "Transfer-Encoding: chunked\r\n"))
        while True:  # until the client goes (the write fails) or the server shuts down
            writer.write(b"1\r\n\n\r\n")
            await writer.drain()
            await asyncio.sleep(max(interval, _FOREVER_INTERVAL))
    chunked = plan.blank_lines > 0 or (interval > 0 and plan.delay > 0)
    if not chunked:
        if plan.delay > 0:
            await asyncio.sleep(plan.delay)
        return False
    writer.write(_head(plan.status, "Transfer-Encoding: chunked\r\n"))
    for _ in range(plan.blank_lines):
        writer.write(b"1\r\n\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.01)
    remaining = plan.delay
    while remaining > 0:
        step = min(interval, remaining) if interval > 0 else remaining
        await asyncio.sleep(step)
        remaining -= step
        if interval > 0:
            writer.write(b"1\r\n\n\r\n")
            await writer.drain()
    return True


async def _finish(writer: asyncio.StreamWriter, plan: _Plan, chunked: bool) -> None:
    body = plan.body
    if plan.cut:
        if chunked:
            half = body[: len(body) // 2]
            writer.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
            await writer.drain()
        raise _Dropped
    if not chunked:
        await _write(writer, plan.status, body)
        return
    writer.write(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    await writer.drain()


# -- running it ------------------------------------------------------------------------------


def _check_loopback(host: str) -> None:
    if host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"the simulator binds loopback only ({', '.join(LOOPBACK_HOSTS)}), not {host!r}"
        )


class SimulatorHandle:
    """A simulator running in a background thread: its URL, its stats, its live config."""

    def __init__(self, simulator: Simulator, base_url: str) -> None:
        self.simulator = simulator
        self.base_url = base_url

    @property
    def config(self) -> SimulatorConfig:
        return self.simulator.config

    @property
    def stats(self) -> SimulatorStats:
        return self.simulator.stats

    def set_faults(self, sequence: list[str]) -> None:
        self.simulator.set_faults(sequence)

    def reset(self) -> None:
        """Forget the stats and the prefix cache (the config stays)."""
        self.simulator.stats = SimulatorStats()
        self.simulator.cache.clear()


@contextmanager
def running_simulator(
    config: SimulatorConfig | None = None, host: str = "127.0.0.1"
) -> Iterator[SimulatorHandle]:
    """Run the simulator on a free loopback port in a background thread, for tests."""
    _check_loopback(host)
    simulator = Simulator(config or SimulatorConfig())
    simulator.set_faults(simulator.config.fault_sequence)
    load_tokenizer()  # load once, before the first request is timed
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        server = await asyncio.start_server(simulator.handle_connection, host, 0, backlog=1024)
        box["server"] = server
        box["port"] = server.sockets[0].getsockname()[1]
        started.set()
        async with server:
            await server.serve_forever()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="nightshift-simulator", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the simulator did not start within 10 s")
    url_host = f"[{host}]" if ":" in host else host
    try:
        yield SimulatorHandle(simulator, f"http://{url_host}:{box['port']}")
    finally:

        def shutdown() -> None:
            box["server"].close()
            for task in asyncio.all_tasks(loop):
                task.cancel()

        loop.call_soon_threadsafe(shutdown)
        thread.join(10)


def run_simulator(host: str, port: int, config: SimulatorConfig) -> None:
    """Serve until interrupted (blocking)."""
    _check_loopback(host)
    simulator = Simulator(config)
    simulator.set_faults(config.fault_sequence)
    load_tokenizer()

    async def main() -> None:
        server = await asyncio.start_server(simulator.handle_connection, host, port, backlog=1024)
        bound = server.sockets[0].getsockname()[1]  # the real port when ``port`` is 0
        print(
            f"nightshift SIMULATOR (not DeepSeek; test and demo only) serving "
            f"{', '.join(config.served_models())} on http://{host}:{bound}",
            flush=True,
        )
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("nightshift SIMULATOR stopped", flush=True)


def serve(port: int, host: str = "127.0.0.1", **knobs: Any) -> None:
    """For ``nightshift simulator --port N``; ``knobs`` are ``SimulatorConfig`` fields."""
    run_simulator(host, port, SimulatorConfig(**knobs))
