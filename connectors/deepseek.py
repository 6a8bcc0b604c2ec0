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
- A 200 whose body is not a chat completion (not JSON, no choices, a non-string content, usage
  of the wrong types) is ``MalformedResponseError``: retried, its usage kept when readable.
- Each attempt has a wall-clock deadline, send to last byte: keep-alive lines reset the read
  timeout, so a server that sends them forever would otherwise hold the request for ever.
- Whatever else goes wrong inside an attempt (a bug) releases its slot and is raised as
  ``ClientInternalError`` from the original, carrying the attempts, like every error here.
- Each attempt's record goes to the caller's ``on_attempt`` callback as soon as it ends, so
  billed attempts are landed before a kill could lose them; the callback can stop the retries.

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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType, TracebackType
from typing import Any

import anyio
import certifi
import httpx
from pydantic import SecretStr

from connectors.deepseek_protocol import (
    FLAVOURS,
    AttemptCallback,
    AttemptRecord,
    ChatRequest,
    ChatResult,
    Flavour,
    Outcome,
    StopRetrying,
    Usage,
    answer_problem,
    api_error,
    billed_usage,
    build_body,
    chat_path,
    is_blank_json,
    parse_chat_response,
    redact,
    request_key,
)
from nightshift.errors import (
    AttemptDeadlineError,
    ClientInternalError,
    ConfigError,
    MalformedResponseError,
    ModelAPIError,
    RetriesStoppedError,
    RunStoppingError,
    TransientAPIError,
)

__all__ = [
    "AttemptCallback",
    "AttemptRecord",
    "ChatRequest",
    "ChatResult",
    "ClientConfig",
    "DeepSeekClient",
    "RetryPolicy",
    "StopRetrying",
    "Usage",
    "flash_pro_concurrency",
    "request_key",
]

logger = logging.getLogger(__name__)

# DeepSeek's per-account concurrency limits (API docs, "Rate Limit"); Pro admits a fifth of
# Flash. Callers derive their per-model ceilings from these through ``flash_pro_concurrency``.
FLASH_ACCOUNT_CONCURRENCY = 2_500
PRO_ACCOUNT_CONCURRENCY = 500
FLASH_MODEL = "deepseek-v4-flash"
PRO_MODEL = "deepseek-v4-pro"

DEFAULT_CONNECT_TIMEOUT = 30.0
# A 1M-token prompt takes minutes to prefill, and DeepSeek may queue it first; the read timeout
# is per chunk, and queued requests receive keep-alive blank lines, so this bounds real silence.
DEFAULT_READ_TIMEOUT = 30 * 60.0
DEFAULT_WRITE_TIMEOUT = 5 * 60.0  # a 1M-token body is ~4 MB
DEFAULT_MAX_RETRIES = 6
DEFAULT_BLANK_JSON_RETRIES = 2
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_CAP = 60.0
# The wall-clock bound of one attempt, send to last byte. Keep-alive lines reset the read
# timeout, so only this ends a server that sends them forever. DeepSeek closes a connection after
# 10 minutes without inference, so 15 minutes covers any queueing; generating ``max_tokens``
# adds up to that many tokens at a pessimistic 20 tokens/s (16,384 tokens: ~14 more minutes).
DEFAULT_REQUEST_DEADLINE_SECONDS = 15 * 60.0
DEFAULT_DEADLINE_SECONDS_PER_OUTPUT_TOKEN = 1 / 20
# Well under the account limits: other jobs share the account.
DEFAULT_FLASH_CONCURRENCY = 64
DEFAULT_OTHER_CONCURRENCY = 16
POOL_SIZE = 16  # requests per httpx connection pool; see ``DeepSeekClient._pick_pool``


def flash_pro_concurrency(flash_model: str, pro_model: str, flash_in_flight: int) -> dict[str, int]:
    """Per-model ceilings: ``flash_in_flight`` for Flash and the account limits' share of it
    (a fifth) for Pro. One model serving both roles (self-hosted) gets ``flash_in_flight``."""
    if flash_in_flight < 1:
        raise ConfigError(f"a concurrency limit must be at least 1, got {flash_in_flight}")
    if flash_model == pro_model:
        return {flash_model: flash_in_flight}
    pro = max(1, flash_in_flight * PRO_ACCOUNT_CONCURRENCY // FLASH_ACCOUNT_CONCURRENCY)
    return {flash_model: flash_in_flight, pro_model: pro}


DEFAULT_CONCURRENCY: Mapping[str, int] = MappingProxyType(
    {
        **flash_pro_concurrency(FLASH_MODEL, PRO_MODEL, DEFAULT_FLASH_CONCURRENCY),
        "deepseek-flash": DEFAULT_FLASH_CONCURRENCY,
    }
)


def default_timeout() -> httpx.Timeout:
    return httpx.Timeout(
        connect=DEFAULT_CONNECT_TIMEOUT,
        read=DEFAULT_READ_TIMEOUT,
        write=DEFAULT_WRITE_TIMEOUT,
        pool=None,  # admission control is ours; the pool never queues (see ``_new_pool``)
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient failures are retried."""

    max_retries: int = DEFAULT_MAX_RETRIES
    blank_json_retries: int = DEFAULT_BLANK_JSON_RETRIES
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    jitter_seed: int | None = None  # fixed only in tests

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.blank_json_retries < 0:
            raise ConfigError("retry counts cannot be negative")
        if self.backoff_base < 0 or self.backoff_cap < 0:
            raise ConfigError("back-off times cannot be negative")


@dataclass(frozen=True)
class ClientConfig:
    """Everything about sending but the endpoint, the key and the flavour.

    ``concurrency`` maps model ids to their admission ceilings, over ``DEFAULT_CONCURRENCY``;
    other models get ``default_concurrency``. An attempt's deadline is
    ``request_deadline_seconds + max_tokens * deadline_seconds_per_output_token``.
    """

    timeout: httpx.Timeout = field(default_factory=default_timeout)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    request_deadline_seconds: float = DEFAULT_REQUEST_DEADLINE_SECONDS
    deadline_seconds_per_output_token: float = DEFAULT_DEADLINE_SECONDS_PER_OUTPUT_TOKEN
    concurrency: Mapping[str, int] = field(default_factory=dict)
    default_concurrency: int = DEFAULT_OTHER_CONCURRENCY
    # Where a model's adaptive limit starts (below its ceiling): what an earlier client of the
    # same run learned from 429s, so a new client does not hit the account limit all over again.
    start: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.request_deadline_seconds <= 0 or self.deadline_seconds_per_output_token < 0:
            raise ConfigError("the request deadline must be positive")
        low = {m: n for m, n in self.concurrency.items() if n < 1}
        if low or self.default_concurrency < 1:
            raise ConfigError(
                f"concurrency limits must be at least 1, got {low or self.default_concurrency}"
            )
        # Frozen all the way down: a caller's dict changed later must not change the client.
        object.__setattr__(self, "concurrency", MappingProxyType(dict(self.concurrency)))
        object.__setattr__(self, "start", MappingProxyType(dict(self.start)))

    def ceiling(self, model: str) -> int:
        default = DEFAULT_CONCURRENCY.get(model, self.default_concurrency)
        return self.concurrency.get(model, default)

    def deadline_seconds(self, request: ChatRequest) -> float:
        return (
            self.request_deadline_seconds
            + request.max_tokens * self.deadline_seconds_per_output_token
        )


def _now() -> datetime:
    return datetime.now(UTC)


class AdaptiveLimit:
    """Admission control for one model: at most ``limit`` requests in flight, AIMD-adapted.

    A burst of 429s from requests admitted under the same limit halves it once, not once per
    429 (the ``epoch`` check), as TCP does once per window.
    """

    def __init__(self, ceiling: int, start: int | None = None) -> None:
        if ceiling < 1:
            raise ConfigError(f"a concurrency limit must be at least 1, got {ceiling}")
        self.ceiling = ceiling
        self._limit = float(min(ceiling, max(1, start if start is not None else ceiling)))
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
        config: ClientConfig | None = None,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ConfigError(f"unknown flavour {flavour!r}; expected one of {FLAVOURS}")
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not key.get_secret_value().strip():
            raise ConfigError("an API key is required (an empty key was given)")
        if httpx.URL(base_url).scheme not in ("http", "https"):
            raise ConfigError(f"the base URL must be http(s)://..., got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.flavour: Flavour = flavour
        self.config = config or ClientConfig()
        self._key = key
        self._limits: dict[str, AdaptiveLimit] = {}
        self._stopped: RunStoppingError | None = None
        self._rng = random.Random(self.config.retry.jitter_seed)
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
            timeout=self.config.timeout,
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
            limit = AdaptiveLimit(self.config.ceiling(model), self.config.start.get(model))
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

    async def chat(
        self, request: ChatRequest, *, on_attempt: AttemptCallback | None = None
    ) -> ChatResult:
        """Send ``request`` with retries. Raises a ``ModelAPIError`` carrying ``.attempts``.

        ``on_attempt`` is awaited with each attempt's record as soon as the attempt ends (its
        slot already released), before any back-off and before the next attempt, so a caller
        can land billed attempts before a kill could lose them; the same records are in the
        result's or the error's ``attempts``. If it raises ``StopRetrying`` while a retry is
        due, ``chat`` raises ``RetriesStoppedError`` instead of retrying (after the last
        attempt, when no retry is due, ``StopRetrying`` changes nothing); any other exception
        from it propagates as it is.
        """
        attempts: list[AttemptRecord] = []
        try:
            return await self._send_with_retries(request, on_attempt, attempts)
        except ModelAPIError:
            raise
        except _CallbackError as failed:
            original = failed.original  # the caller's own exception, as it is (its own cause)
            raise original from original.__cause__
        except Exception as exc:  # a bug anywhere above: the caller still gets the attempts
            raise self._internal(exc, attempts, request) from exc

    async def _send_with_retries(
        self,
        request: ChatRequest,
        on_attempt: AttemptCallback | None,
        attempts: list[AttemptRecord],
    ) -> ChatResult:
        body = _encode(build_body(request, self.flavour))
        limit = self._limit_for(request.model)
        deadline = self.config.deadline_seconds(request)
        blanks = 0
        while True:
            sent = await self._attempt(request, body, limit, deadline, attempts)
            record, error, retry, blanks = self._judge(request, sent, len(attempts), blanks)
            attempts.append(record)
            if on_attempt is not None:
                try:
                    await on_attempt(record)
                except StopRetrying as stop:
                    if retry:
                        raise self._stopped_by_caller(stop, record, attempts, request) from stop
                except Exception as exc:
                    raise _CallbackError(exc) from exc
            if error is None:
                assert sent.result is not None
                return replace(sent.result, attempts=tuple(attempts))
            if not retry:
                raise self._final(error, record.error or "", attempts, request)
            delay = self._backoff(record.attempt)
            logger.warning(
                "%s attempt %d failed (%s); retrying in %.2fs",
                request.model, record.attempt, record.error, delay,
            )  # fmt: skip
            await anyio.sleep(delay)

    def _judge(
        self, request: ChatRequest, sent: _Sent, done: int, blanks: int
    ) -> tuple[AttemptRecord, ModelAPIError | None, bool, int]:
        """The attempt's record, its error, whether to retry, and the blank-JSON count so far."""
        number = done + 1
        error = sent.error
        if error is None:
            record = AttemptRecord(number, sent.started, sent.finished, "ok", 200, None, sent.usage)
            return record, None, False, blanks
        retry = isinstance(error, TransientAPIError) and number <= self.config.retry.max_retries
        if sent.result is not None and is_blank_json(request, sent.result):
            blanks += 1
            if blanks > self.config.retry.blank_json_retries:
                retry = False
                error = TransientAPIError(
                    f"JSON mode answered blank content {blanks} times", status_code=200
                )
        text = redact(str(error), self._key.get_secret_value())
        outcome: Outcome = "retried" if retry else "failed"
        record = AttemptRecord(
            number, sent.started, sent.finished, outcome, error.status_code, text, sent.usage
        )
        return record, error, retry, blanks

    async def _attempt(
        self,
        request: ChatRequest,
        body: bytes,
        limit: AdaptiveLimit,
        deadline: float,
        attempts: list[AttemptRecord],
    ) -> _Sent:
        """One admitted send. Never raises but for a stopped run and cancellation: every other
        failure, expected or not, comes back as the attempt's error, its slot released."""
        self._raise_if_stopped(attempts)
        epoch = await limit.acquire()
        sent: _Sent | None = None
        try:
            self._raise_if_stopped(attempts)  # stopped while this request waited for a slot
            sent = await self._send(request, body, deadline)
            return sent
        finally:
            # Exactly once, whatever happened (a cancelled or stopped attempt counts as neither
            # an overload nor a success).
            error = sent.error if sent is not None else None
            limit.release(
                epoch,
                overloaded=error is not None and error.status_code == 429,
                succeeded=sent is not None and error is None,
            )

    async def _send(self, request: ChatRequest, body: bytes, deadline: float) -> _Sent:
        started = _now()
        result: ChatResult | None = None
        raw: bytes | None = None
        error: ModelAPIError | None = None
        try:
            raw = await self._post_within(self._chat_url(request), body, deadline)
            result = parse_chat_response(raw, http_status=200)
            error = answer_problem(request, result)
        except ModelAPIError as exc:
            error = exc
        except Exception as exc:  # a bug, or a failure nobody foresaw: not retried
            error = ClientInternalError(
                f"unexpected {type(exc).__name__} in the model client: {exc}"
            )
            error.__cause__ = exc
        if result is not None:
            usage: Usage | None = result.usage
        else:  # a malformed 200 may still have been generated and billed
            usage = billed_usage(raw) if raw is not None else None
        return _Sent(started, _now(), result, error, usage)

    def _chat_url(self, request: ChatRequest) -> str:
        path = chat_path(request, self.flavour)
        if path == "/chat/completions":
            return path  # relative to the base URL, ``/v1`` or not
        return _root_url(self.base_url) + path

    async def _post_within(self, url: str, body: bytes, deadline: float) -> bytes:
        """The body of a 200 answer, or the project error for anything else. The deadline covers
        sending and the whole answer: keep-alive lines reset the read timeout, not this."""
        with anyio.move_on_after(deadline):
            return await self._post(url, body)
        raise AttemptDeadlineError(
            f"no complete answer within the attempt's deadline of {deadline:g} s"
        )

    async def _post(self, url: str, body: bytes) -> bytes:
        index = self._pick_pool()
        try:
            response = await self._pools[index].post(
                url, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.TimeoutException as exc:
            raise TransientAPIError(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            # Includes a connection closed without (or in the middle of) an answer.
            raise TransientAPIError(f"connection failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self._pool_load[index] -= 1
        if response.status_code != 200:
            raise api_error(response.status_code, response.content)
        return response.content

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): spreads the
        # retries of many coroutines that failed together.
        policy = self.config.retry
        return self._rng.uniform(
            0, min(policy.backoff_cap, policy.backoff_base * 2 ** (attempt - 1))
        )

    def _final(
        self, error: ModelAPIError, text: str, attempts: list[AttemptRecord], request: ChatRequest
    ) -> ModelAPIError:
        error.args = (text,)
        error.attempts = tuple(attempts)
        if isinstance(error, RunStoppingError) and self._stopped is None:
            self._stopped = error
            logger.error("run stopped by %s: %s", type(error).__name__, text)
        else:
            logger.error("%s failed after %d attempt(s): %s", request.model, len(attempts), text)
        return error

    def _stopped_by_caller(
        self,
        stop: StopRetrying,
        record: AttemptRecord,
        attempts: list[AttemptRecord],
        request: ChatRequest,
    ) -> RetriesStoppedError:
        reason = redact(str(stop), self._key.get_secret_value()) or "no reason given"
        error = RetriesStoppedError(
            f"retries stopped by the caller after attempt {record.attempt} ({reason}); "
            f"it failed with: {record.error}",
            status_code=record.http_status,
        )
        error.attempts = tuple(attempts)
        logger.warning("%s: %s", request.model, error)
        return error

    def _internal(
        self, exc: Exception, attempts: list[AttemptRecord], request: ChatRequest
    ) -> ClientInternalError:
        text = redact(
            f"unexpected {type(exc).__name__} in the model client: {exc}",
            self._key.get_secret_value(),
        )
        error = ClientInternalError(text)
        error.attempts = tuple(attempts)
        logger.error("%s: %s", request.model, text)
        return error

    def _raise_if_stopped(self, attempts: list[AttemptRecord]) -> None:
        if self._stopped is not None:
            error = type(self._stopped)(str(self._stopped), status_code=self._stopped.status_code)
            error.attempts = tuple(attempts)
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
        try:
            payload: Any = json.loads(response.content)
        except ValueError as exc:
            raise MalformedResponseError("the models list is not JSON", status_code=200) from exc
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise MalformedResponseError("the models list has no data list", status_code=200)
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


class _CallbackError(Exception):
    """Carries an exception of the caller's ``on_attempt`` past ``chat``'s bug wrapper."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


@dataclass(frozen=True)
class _Sent:
    """What one attempt came to: an answer, or the error that says why it is not one."""

    started: datetime
    finished: datetime
    result: ChatResult | None
    error: ModelAPIError | None
    usage: Usage | None  # billed usage, also of a failed 200 when its usage could be read


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _root_url(base_url: str) -> str:
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def _health_url(base_url: str) -> str:
    root = _root_url(base_url)
    return f"{root}/health"
