"""The DeepSeek chat-completions protocol as pure functions: build a body, parse an answer.

Nothing here does I/O, so every rule of the wire format is tested directly; ``deepseek.py``
only sends. Two flavours speak the same OpenAI-format protocol with small differences:

- ``deepseek`` (api.deepseek.com): thinking is switched by ``"thinking": {"type": ...}`` and is
  on unless disabled; usage carries ``prompt_cache_hit_tokens`` / ``prompt_cache_miss_tokens``.
- ``vllm`` (self-hosted vLLM or SGLang): thinking and effort go through
  ``chat_template_kwargs`` (vLLM's DeepSeek recipes: ``{"thinking": true}``); the cache fields may
  be absent (OpenAI's ``prompt_tokens_details.cached_tokens`` is used when present), and newer vLLM
  names the reasoning field ``reasoning`` instead of ``reasoning_content``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from nightshift.errors import (
    AuthenticationError,
    ConfigError,
    ContextLengthError,
    InsufficientBalanceError,
    MalformedResponseError,
    ModelAPIError,
    RequestRejectedError,
    TransientAPIError,
)

Flavour = Literal["deepseek", "vllm"]
ReasoningEffort = Literal["high", "max"]
Outcome = Literal["ok", "retried", "failed"]

FLAVOURS: tuple[Flavour, ...] = ("deepseek", "vllm")
REASONING_EFFORTS: tuple[str, ...] = ("high", "max")
DEFAULT_MAX_TOKENS = 8192

# DeepSeek reports an interrupted generation as a finish reason on a 200 answer, not as an HTTP
# error (API reference, "Create Chat Completion": finish_reason ``insufficient_system_resource``).
# The partial content is not an answer, so the client retries it like a 503.
FINISH_INSUFFICIENT_RESOURCE = "insufficient_system_resource"


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion, as the pipeline asks for it. ``user_id`` never changes the answer."""

    model: str
    messages: tuple[Mapping[str, str], ...]
    max_tokens: int = DEFAULT_MAX_TOKENS
    thinking: bool = True
    reasoning_effort: ReasoningEffort | None = None
    json_mode: bool = False
    temperature: float | None = None
    user_id: str | None = None
    # Chat-prefix completion: the start of the assistant's answer, which the model continues
    # (a truncated answer's content). Sent as a last assistant message; see ``chat_path``.
    prefix: str | None = None

    def __post_init__(self) -> None:
        # Accept any sequence of messages but store a tuple, so the value stays immutable.
        object.__setattr__(self, "messages", tuple(dict(m) for m in self.messages))
        for message in self.messages:
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in message.items()):
                raise ConfigError(f"message fields must be strings, got {message!r:.200}")
        if not self.model:
            raise ConfigError("ChatRequest needs a model id")
        if not self.messages:
            raise ConfigError("ChatRequest needs at least one message")
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.reasoning_effort is not None and self.reasoning_effort not in REASONING_EFFORTS:
            raise ConfigError(
                f"reasoning_effort must be None, 'high' or 'max', got {self.reasoning_effort!r}"
            )


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    prompt_cache_hit_tokens: int = 0
    prompt_cache_miss_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class AttemptRecord:
    """One HTTP attempt of a request, for the ledger. ``error`` never contains the API key."""

    attempt: int
    started_at: datetime
    finished_at: datetime
    outcome: Outcome
    http_status: int | None = None
    error: str | None = None
    usage: Usage | None = None


AttemptCallback = Callable[[AttemptRecord], Awaitable[None]]
"""Awaited by ``DeepSeekClient.chat`` as soon as each attempt ends, before any back-off."""


class StopRetrying(Exception):
    """Raised by an ``AttemptCallback`` to stop the retries of a request (e.g. the next attempt
    would pass the budget's cap). ``chat`` then raises ``RetriesStoppedError`` from it."""


@dataclass(frozen=True)
class ChatResult:
    content: str
    reasoning_content: str | None
    finish_reason: str | None
    usage: Usage
    model: str
    http_status: int = 200
    attempts: tuple[AttemptRecord, ...] = field(default=())


def _determining_fields(request: ChatRequest) -> dict[str, Any]:
    return {
        "model": request.model,
        "messages": [dict(m) for m in request.messages],
        "max_tokens": request.max_tokens,
        "thinking": request.thinking,
        "reasoning_effort": request.reasoning_effort,
        "json_mode": request.json_mode,
        "temperature": request.temperature,
        "prefix": request.prefix,
    }


def request_key(request: ChatRequest) -> str:
    """sha256 of sorted-keys JSON of everything that determines the answer (not ``user_id``)."""
    canonical = json.dumps(
        _determining_fields(request), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def build_body(request: ChatRequest, flavour: Flavour = "deepseek") -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``."""
    messages: list[dict[str, Any]] = [dict(m) for m in request.messages]
    body: dict[str, Any] = {"model": request.model, "messages": messages,
                            "max_tokens": request.max_tokens, "stream": False}  # fmt: skip
    if request.prefix is not None:
        messages.append({"role": "assistant", "content": request.prefix})
        if flavour == "deepseek":
            messages[-1]["prefix"] = True  # DeepSeek's beta "chat prefix completion"
        else:
            # vLLM continues a final assistant message instead of starting a new one.
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
    if flavour == "deepseek":
        # Always explicit: DeepSeek's default is thinking ON, which a reader of the body might
        # not expect.
        body["thinking"] = {"type": "enabled" if request.thinking else "disabled"}
        if request.reasoning_effort is not None:
            body["reasoning_effort"] = request.reasoning_effort
        if request.user_id is not None:
            body["user_id"] = request.user_id
    elif flavour == "vllm":
        kwargs: dict[str, Any] = {"thinking": request.thinking}
        if request.reasoning_effort is not None:
            kwargs["reasoning_effort"] = request.reasoning_effort
        body["chat_template_kwargs"] = kwargs
        if request.user_id is not None:
            body["user"] = request.user_id  # the OpenAI field, which vLLM accepts
    else:
        raise ConfigError(f"unknown flavour {flavour!r}; expected one of {FLAVOURS}")
    if request.json_mode:
        body["response_format"] = {"type": "json_object"}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


def chat_path(request: ChatRequest, flavour: Flavour = "deepseek") -> str:
    """The path of the chat endpoint, relative to the base URL without its ``/v1``.

    DeepSeek serves chat-prefix completion on its beta endpoint only
    (``https://api.deepseek.com/beta``); vLLM continues a prefix on the usual one.
    """
    if request.prefix is not None and flavour == "deepseek":
        return "/beta/chat/completions"
    return "/chat/completions"


_EXCERPT_CHARS = 200  # of a malformed body, in the error text (which the client redacts)


def _malformed(what: str) -> MalformedResponseError:
    return MalformedResponseError(f"malformed answer: {what}", status_code=200)


def _count(raw: Mapping[str, Any], name: str) -> int:
    """A token count: absent or null is 0; anything but a non-negative whole number is an error,
    because a wrong count would under-charge the budget without anyone noticing."""
    value = raw.get(name)
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _malformed(f"usage.{name} is {value!r}, not a token count")
    return value


def _details(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _malformed(f"usage.{name} is a {type(value).__name__}, not an object")
    return value


def parse_usage(raw: Any) -> Usage:
    """Usage of either flavour; missing cache fields mean no hits and all misses.

    Raises ``MalformedResponseError`` for fields of the wrong type.
    """
    if raw is None:
        return Usage()
    if not isinstance(raw, dict):
        raise _malformed(f"usage is a {type(raw).__name__}, not an object")
    prompt = _count(raw, "prompt_tokens")
    if "prompt_cache_hit_tokens" in raw:
        hits = _count(raw, "prompt_cache_hit_tokens")
    else:
        hits = _count(_details(raw, "prompt_tokens_details"), "cached_tokens")
    misses = (
        _count(raw, "prompt_cache_miss_tokens")
        if "prompt_cache_miss_tokens" in raw
        else prompt - hits
    )
    return Usage(
        prompt_tokens=prompt,
        prompt_cache_hit_tokens=hits,
        prompt_cache_miss_tokens=max(misses, 0),
        completion_tokens=_count(raw, "completion_tokens"),
        reasoning_tokens=_count(_details(raw, "completion_tokens_details"), "reasoning_tokens"),
    )


def _load_json(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # DeepSeek writes blank lines while a request waits in its queue (keep-alive); they come
    # before the JSON body of a non-streaming answer.
    return json.loads(text.strip())


def _load_object(text: str | bytes) -> dict[str, Any]:
    try:
        payload = _load_json(text)
    except ValueError as exc:  # JSONDecodeError, and a body nested deeper than json can parse
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        excerpt = raw.strip()[:_EXCERPT_CHARS] or "(empty body)"
        raise _malformed(f"the body is not JSON ({exc}): {excerpt}") from exc
    except RecursionError as exc:
        raise _malformed("the body nests too deeply to parse") from exc
    if not isinstance(payload, dict):
        raise _malformed(f"the body is a JSON {type(payload).__name__}, not an object")
    return payload


def _optional_text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _malformed(f"{name} is a {type(value).__name__}, not a string")


def parse_chat_response(text: str | bytes, *, http_status: int = 200) -> ChatResult:
    """Parse a 200 answer. Raises ``MalformedResponseError`` for a body that is not a chat
    completion, and ``TransientAPIError`` for an error written inside the 200.

    Every shape check is here, so that no malformed answer reaches the caller as an
    ``AttributeError`` or ``TypeError``. Blank JSON content and ``finish_reason: length`` are
    returned as they are: whether blank content is a failure depends on the request (JSON mode),
    which the client knows.
    """
    payload = _load_object(text)
    if "error" in payload:
        # An error written after the 200 status line, e.g. once the queue gave up on the request.
        raise TransientAPIError(
            f"error inside a {http_status} answer: {error_message(payload)}",
            status_code=http_status,
        )
    usage = parse_usage(payload.get("usage"))
    choices = payload.get("choices")
    if not isinstance(choices, list):
        raise _malformed(f"choices is a {type(choices).__name__}, not a list")
    if not choices:
        raise _malformed("choices is empty")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise _malformed(f"choices[0] is a {type(choice).__name__}, not an object")
    message = choice.get("message")
    if not isinstance(message, dict):
        raise _malformed(f"choices[0].message is a {type(message).__name__}, not an object")
    reasoning = _optional_text(message.get("reasoning_content"), "reasoning_content")
    if reasoning is None:
        reasoning = _optional_text(message.get("reasoning"), "reasoning")
    model = payload.get("model")
    return ChatResult(
        content=_optional_text(message.get("content"), "content") or "",
        reasoning_content=reasoning,
        finish_reason=_optional_text(choice.get("finish_reason"), "finish_reason"),
        usage=usage,
        model=model if isinstance(model, str) else "",
        http_status=http_status,
    )


def billed_usage(text: str | bytes) -> Usage | None:
    """The usage of a 200 answer that failed to parse, when that part can be read; else None.

    A malformed answer may still have been generated and billed; its attempt keeps the usage.
    Never raises.
    """
    try:
        raw = _load_object(text).get("usage")
        return None if raw is None else parse_usage(raw)
    except MalformedResponseError:
        return None


def error_message(payload: Any) -> str:
    """The human message of an OpenAI/DeepSeek error body ``{"error": {"message": ...}}``."""
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            message = err.get("message") or err.get("detail")
            if message:
                return str(message)
        elif isinstance(err, str):
            return err
    return ""


def api_error(status: int, body: str | bytes) -> ModelAPIError:
    """The project exception for a non-200 answer (returned, not raised: the caller decides)."""
    try:
        message = error_message(_load_json(body))
    except (ValueError, RecursionError):
        message = ""
    if not message:
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        message = raw.strip()[:500] or "(empty body)"
    if status in (400, 422):
        if "context length" in message.lower():
            return ContextLengthError(
                f"context length exceeded ({status}): {message}", status_code=status
            )
        return RequestRejectedError(f"request rejected ({status}): {message}", status_code=status)
    if status == 401:
        return AuthenticationError(
            f"authentication failed (401): {message}; check the API key", status_code=status
        )
    if status == 402:
        return InsufficientBalanceError(
            f"insufficient balance (402): {message}; top up the account", status_code=status
        )
    if status in (408, 409, 429) or status >= 500:
        return TransientAPIError(f"HTTP {status}: {message}", status_code=status)
    # Any other 4xx (404 for an unknown path or model on vLLM, 413...) will not heal by waiting.
    return RequestRejectedError(f"request rejected ({status}): {message}", status_code=status)


def redact(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` replaced; servers sometimes echo the key."""
    if secret and secret in text:
        text = text.replace(secret, "[redacted]")
    return text


def is_blank_json(request: ChatRequest, result: ChatResult) -> bool:
    """JSON mode answered whitespace only (DeepSeek's JSON Output guide warns it can happen)."""
    return request.json_mode and not result.content.strip() and result.finish_reason != "length"


def answer_problem(request: ChatRequest, result: ChatResult) -> TransientAPIError | None:
    """Why a 200 answer is not an answer (to be retried), or None when it is one."""
    if result.finish_reason == FINISH_INSUFFICIENT_RESOURCE:
        return TransientAPIError(
            "generation interrupted: insufficient_system_resource", status_code=200
        )
    if is_blank_json(request, result):
        return TransientAPIError("JSON mode answered blank content", status_code=200)
    return None
