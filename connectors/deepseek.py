"""The async client for DeepSeek's (or a self-hosted vLLM/SGLang) chat-completions endpoint.

Building bodies and parsing answers are pure functions in ``deepseek_protocol``; this module
sends, retries, and admits requests per model. What it handles, and why:

- 429 means the account's concurrency limit was hit: back off AND halve the admitted concurrency
  of that model (AIMD; it creeps back by about one slot per window of successes).
- 500/503, dropped connections, timeouts and the ``insufficient_system_resource`` finish reason
  are transient: exponential backoff with full jitter, bounded. DeepSeek sends no Retry-After.
- 400/422 are the request's own fault: raised at once with the server's message.
- 401/402 stop the run: raised at once, and every later ``chat()`` raises the same error without
  sending, so thousands of queued coroutines fail fast instead of each paying a round trip.
- JSON mode can answer with blank content: retried a few times, then ``TransientAPIError``.
- ``finish_reason: "length"`` is an answer, returned to the caller, who continues or splits.

The API key lives in a ``SecretStr`` and in the transport's headers only; every error text that
leaves this module is scrubbed of it (the DeepSeek 401 message echoes part of the key).
"""

from __future__ import annotations

import json
import logging
import random
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import anyio
import certifi
import httpx
from pydantic import SecretStr

from connectors.deepseek_protocol import (
    FLAVOURS,
    AttemptRecord,
    ChatRequest,
    ChatResult,
    Flavour,
    Outcome,
    Usage,
    answer_problem,
    api_error,
    build_body,
    is_blank_json,
    parse_chat_response,
    redact,
    request_key,
)
from nightshift.errors import ConfigError, ModelAPIError, RunStoppingError, TransientAPIError

__all__ = [
    "AttemptRecord",
    "ChatRequest",
    "ChatResult",
    "DeepSeekClient",
    "Usage",
    "request_key",
]

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 30.0
# A 1M-token prompt takes minutes to prefill, and DeepSeek may queue it first; the read timeout
# is per chunk, and queued requests receive keep-alive blank lines, so this bounds real silence.
DEFAULT_READ_TIMEOUT = 30 * 60.0
DEFAULT_WRITE_TIMEOUT = 5 * 60.0  # a 1M-token body is ~4 MB
DEFAULT_MAX_RETRIES = 6
DEFAULT_BLANK_JSON_RETRIES = 2
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_CAP = 60.0
# Well under the account limits (2,500 Flash / 500 Pro): other jobs share the account.
DEFAULT_CONCURRENCY: Mapping[str, int] = {
    "deepseek-v4-flash": 64,
    "deepseek-flash": 64,
    "deepseek-v4-pro": 16,
}
DEFAULT_OTHER_CONCURRENCY = 16
POOL_SIZE = 16  # requests per httpx connection pool; see ``DeepSeekClient._pick_pool``


def _now() -> datetime:
    return datetime.now(UTC)


class AdaptiveLimit:
    """Admission control for one model: at most ``limit`` requests in flight, AIMD-adapted.

    A burst of 429s from requests admitted under the same limit halves it once, not once per
    429 (the ``epoch`` check), as TCP does once per window.
    """

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ConfigError(f"a concurrency limit must be at least 1, got {ceiling}")
        self.ceiling = ceiling
        self._limit = float(ceiling)
        self._in_flight = 0
        self._epoch = 0
        self._waiters: deque[anyio.Event] = deque()

    @property
    def limit(self) -> int:
        return max(1, int(self._limit))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def acquire(self) -> int:
        """Wait for a slot (first come, first served); returns the epoch to give ``release``."""
        if self._in_flight < self.limit and not self._waiters:
            self._in_flight += 1
            return self._epoch
        event = anyio.Event()
        self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():  # the slot was handed over but will not be used: pass it on
                self._in_flight -= 1
                self._wake()
            else:
                self._waiters.remove(event)
            raise
        return self._epoch

    def release(self, epoch: int, *, overloaded: bool = False, succeeded: bool = False) -> None:
        self._in_flight -= 1
        if overloaded:
            if epoch == self._epoch:
                self._limit = max(1.0, self._limit / 2)
                self._epoch += 1
        elif succeeded:
            self._limit = min(float(self.ceiling), self._limit + 1.0 / self._limit)
        self._wake()

    def _wake(self) -> None:
        # Hand slots straight to the oldest waiters, so a woken waiter never has to re-check
        # (and re-queue behind newcomers).
        while self._waiters and self._in_flight < self.limit:
            self._in_flight += 1
            self._waiters.popleft().set()


class DeepSeekClient:
    """One async client for OpenAI-format chat completions. Takes explicit arguments only."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | str,
        *,
        flavour: Flavour = "deepseek",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        blank_json_retries: int = DEFAULT_BLANK_JSON_RETRIES,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        concurrency: Mapping[str, int] | None = None,
        default_concurrency: int = DEFAULT_OTHER_CONCURRENCY,
        seed: int | None = None,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ConfigError(f"unknown flavour {flavour!r}; expected one of {FLAVOURS}")
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not key.get_secret_value().strip():
            raise ConfigError("an API key is required (an empty key was given)")
        if max_retries < 0 or blank_json_retries < 0:
            raise ConfigError("retry counts cannot be negative")
        self.base_url = base_url.rstrip("/")
        self.flavour: Flavour = flavour
        self.max_retries = max_retries
        self.blank_json_retries = blank_json_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._key = key
        self._ceilings = {**DEFAULT_CONCURRENCY, **(concurrency or {})}
        self._default_concurrency = default_concurrency
        self._limits: dict[str, AdaptiveLimit] = {}
        self._stopped: RunStoppingError | None = None
        self._rng = random.Random(seed)
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=write_timeout, pool=None
        )
        # One TLS context for all pools: building one loads the CA bundle (~50 ms).
        self._tls = ssl.create_default_context(cafile=certifi.where())
        self._pools: list[httpx.AsyncClient] = []
        self._pool_load: list[int] = []
        self._http = self._new_pool()  # also serves the models list and health checks

    def __repr__(self) -> str:
        return (
            f"DeepSeekClient(base_url={self.base_url!r}, flavour={self.flavour!r}, "
            f"api_key={self._key!r})"
        )

    async def __aenter__(self) -> DeepSeekClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    def _new_pool(self) -> httpx.AsyncClient:
        pool = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self._key.get_secret_value()}"},
            timeout=self._timeout,
            verify=self._tls,
            # Admission control is ours; the pool must never be the thing that queues.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=POOL_SIZE),
        )
        self._pools.append(pool)
        self._pool_load.append(0)
        return pool

    def _pick_pool(self) -> int:
        """The least loaded connection pool, adding one when all hold ``POOL_SIZE`` requests.

        httpcore's pool does work quadratic in its connection count on every request (1.0.9,
        ``_assign_requests_to_connections``); several small pools keep the client's CPU cost
        flat at hundreds of concurrent requests.
        """
        index = min(range(len(self._pools)), key=self._pool_load.__getitem__)
        if self._pool_load[index] >= POOL_SIZE:
            self._new_pool()
            index = len(self._pools) - 1
        self._pool_load[index] += 1
        return index

    # -- admission -------------------------------------------------------------------------

    def _limit_for(self, model: str) -> AdaptiveLimit:
        limit = self._limits.get(model)
        if limit is None:
            limit = AdaptiveLimit(self._ceilings.get(model, self._default_concurrency))
            self._limits[model] = limit
        return limit

    def concurrency(self, model: str) -> int:
        """The number of requests of ``model`` admitted at once right now (adapts on 429)."""
        return self._limit_for(model).limit

    def in_flight(self, model: str) -> int:
        return self._limit_for(model).in_flight

    @property
    def stopped(self) -> RunStoppingError | None:
        """The 401/402 error that stopped this client, if one did."""
        return self._stopped

    # -- sending ---------------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Send ``request`` with retries. Raises a ``ModelAPIError`` carrying ``.attempts``."""
        body = _encode(build_body(request, self.flavour))
        limit = self._limit_for(request.model)
        attempts: list[AttemptRecord] = []
        blanks = 0
        while True:
            number = len(attempts) + 1
            started, result, error = await self._attempt(request, body, limit, attempts)
            finished = _now()
            usage = result.usage if result is not None else None
            if error is None and result is not None:
                attempts.append(AttemptRecord(number, started, finished, "ok", 200, None, usage))
                return replace(result, attempts=tuple(attempts))
            assert error is not None
            retry = isinstance(error, TransientAPIError) and number <= self.max_retries
            if result is not None and is_blank_json(request, result):
                blanks += 1
                if blanks > self.blank_json_retries:
                    retry = False
                    error = TransientAPIError(
                        f"JSON mode answered blank content {blanks} times", status_code=200
                    )
            text = redact(str(error), self._key.get_secret_value())
            outcome: Outcome = "retried" if retry else "failed"
            attempts.append(
                AttemptRecord(number, started, finished, outcome, error.status_code, text, usage)
            )
            if not retry:
                raise self._final(error, text, attempts, request)
            delay = self._backoff(number)
            logger.warning(
                "%s attempt %d failed (%s); retrying in %.2fs", request.model, number, text, delay
            )
            await anyio.sleep(delay)

    async def _attempt(
        self,
        request: ChatRequest,
        body: bytes,
        limit: AdaptiveLimit,
        attempts: list[AttemptRecord],
    ) -> tuple[datetime, ChatResult | None, ModelAPIError | None]:
        """One admitted send: (when it started, the answer if any, why it is not one)."""
        self._raise_if_stopped(attempts)
        epoch = await limit.acquire()
        if self._stopped is not None:  # stopped while this request waited for a slot
            limit.release(epoch)
            self._raise_if_stopped(attempts)
        started = _now()
        result: ChatResult | None = None
        error: ModelAPIError | None = None
        try:
            result = await self._post(body)
            error = answer_problem(request, result)
        except ModelAPIError as exc:
            error = exc
        except BaseException:
            limit.release(epoch)  # cancelled, or a ConfigError: give the slot back
            raise
        overloaded = error is not None and error.status_code == 429
        limit.release(epoch, overloaded=overloaded, succeeded=error is None)
        return started, result, error

    async def _post(self, body: bytes) -> ChatResult:
        index = self._pick_pool()
        try:
            response = await self._pools[index].post(
                "/chat/completions", content=body, headers={"Content-Type": "application/json"}
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ConfigError(f"bad base URL {self.base_url!r}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise TransientAPIError(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            # Includes a connection closed without (or in the middle of) an answer.
            raise TransientAPIError(f"connection failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self._pool_load[index] -= 1
        if response.status_code != 200:
            raise api_error(response.status_code, response.content)
        return parse_chat_response(response.content, http_status=200)

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): spreads the
        # retries of many coroutines that failed together.
        return self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    def _final(
        self, error: ModelAPIError, text: str, attempts: list[AttemptRecord], request: ChatRequest
    ) -> ModelAPIError:
        error.args = (text,)
        error.attempts = tuple(attempts)  # type: ignore[attr-defined]
        if isinstance(error, RunStoppingError) and self._stopped is None:
            self._stopped = error
            logger.error("run stopped by %s: %s", type(error).__name__, text)
        else:
            logger.error("%s failed after %d attempt(s): %s", request.model, len(attempts), text)
        return error

    def _raise_if_stopped(self, attempts: list[AttemptRecord]) -> None:
        if self._stopped is not None:
            error = type(self._stopped)(str(self._stopped), status_code=self._stopped.status_code)
            error.attempts = tuple(attempts)  # type: ignore[attr-defined]
            raise error

    # -- readiness -------------------------------------------------------------------------

    async def list_models(self) -> list[str]:
        """Ids served at ``GET {base_url}/models``."""
        try:
            response = await self._http.get("/models")
        except httpx.TransportError as exc:
            raise TransientAPIError(f"connection failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            error = api_error(response.status_code, response.content)
            error.args = (redact(str(error), self._key.get_secret_value()),)
            raise error
        data: Any = response.json().get("data") or []
        return [str(item.get("id")) for item in data if isinstance(item, dict)]

    async def wait_until_ready(
        self, timeout: float, *, model: str | None = None, poll_interval: float = 1.0
    ) -> list[str]:
        """Poll until the endpoint serves ``model`` (or any model); returns the served ids.

        vLLM answers ``GET /health`` at the server root (not under ``/v1``) once the engine is
        up; the models list then names what is served.
        """
        deadline = anyio.current_time() + timeout
        last = "no answer yet"
        while True:
            try:
                if self.flavour == "vllm":
                    health = await self._http.get(_health_url(self.base_url))
                    if health.status_code != 200:
                        raise TransientAPIError(f"/health answered {health.status_code}")
                served = await self.list_models()
                if (model is None and served) or (model is not None and model in served):
                    return served
                last = f"served models are {served}, waiting for {model or 'any'}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            except TransientAPIError as exc:
                last = str(exc)
            if anyio.current_time() >= deadline:
                raise TransientAPIError(
                    f"endpoint {self.base_url} not ready after {timeout}s: {last}"
                )
            await anyio.sleep(poll_interval)


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _health_url(base_url: str) -> str:
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    return f"{root}/health"
