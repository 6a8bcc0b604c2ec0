"""The wire protocol as pure functions: bodies, request keys, answers, usage, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.deepseek_protocol import (
    ChatRequest,
    Usage,
    api_error,
    billed_usage,
    build_body,
    chat_path,
    parse_chat_response,
    parse_usage,
    request_key,
)
from nightshift.errors import (
    AuthenticationError,
    ConfigError,
    ContextLengthError,
    InsufficientBalanceError,
    MalformedResponseError,
    RequestRejectedError,
    TransientAPIError,
)

PRO = "deepseek-v4-pro"
FLASH = "deepseek-v4-flash"
USAGE = {
    "prompt_tokens": 100,
    "prompt_cache_hit_tokens": 64,
    "prompt_cache_miss_tokens": 36,
    "completion_tokens": 9,
    "completion_tokens_details": {"reasoning_tokens": 4},
}


def req(text: str = "hello", model: str = PRO, **kw: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": text}], **kw)


def answer(**changes: Any) -> dict[str, Any]:
    """A well-formed chat completion, with top-level fields replaced by ``changes``."""
    body: dict[str, Any] = {
        "model": PRO,
        "choices": [
            {"message": {"content": "{}", "reasoning_content": "hm"}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }
    body.update(changes)
    return body


def test_deepseek_body_switches_thinking_effort_and_json() -> None:
    r = ChatRequest(
        PRO,
        [{"role": "user", "content": "x"}],
        max_tokens=100,
        thinking=True,
        reasoning_effort="max",
        json_mode=True,
        temperature=0.0,
        user_id="run-1",
    )
    body = build_body(r)
    assert body["thinking"] == {"type": "enabled"}
    assert body["reasoning_effort"] == "max"
    assert body["response_format"] == {"type": "json_object"}
    assert body["user_id"] == "run-1"
    assert body["temperature"] == 0.0
    assert "chat_template_kwargs" not in body
    plain = build_body(req(thinking=False))
    assert plain["thinking"] == {"type": "disabled"}
    assert "response_format" not in plain and "reasoning_effort" not in plain


def test_vllm_body_uses_chat_template_kwargs() -> None:
    body = build_body(req(thinking=True, reasoning_effort="high"), "vllm")
    assert body["chat_template_kwargs"] == {"thinking": True, "reasoning_effort": "high"}
    assert "thinking" not in body and "reasoning_effort" not in body
    assert build_body(req(thinking=False), "vllm")["chat_template_kwargs"] == {"thinking": False}


def test_request_key_covers_the_answer_but_not_the_user() -> None:
    key = request_key(req(user_id="a"))
    assert len(key) == 64 and key == request_key(req(user_id="b"))
    assert key != request_key(req("other"))
    assert key != request_key(req(max_tokens=9))
    assert key != request_key(req(json_mode=True))
    assert key != request_key(req(model=FLASH))


def test_bad_requests_fail_at_construction() -> None:
    with pytest.raises(ConfigError):
        req(reasoning_effort="low")
    with pytest.raises(ConfigError):
        ChatRequest(PRO, [])
    with pytest.raises(ConfigError, match="must be strings"):
        ChatRequest(PRO, [{"role": "user", "content": b"bytes"}])  # type: ignore[dict-item]


def test_parse_tolerates_keepalive_lines_and_reads_usage() -> None:
    result = parse_chat_response("\n\n \n" + json.dumps(answer()))
    assert (result.content, result.reasoning_content, result.finish_reason) == ("{}", "hm", "stop")
    assert result.usage.prompt_cache_hit_tokens == 64 and result.usage.reasoning_tokens == 4
    assert result.model == PRO


def test_null_content_and_null_details_are_empty_not_errors() -> None:
    choice = {"message": {"content": None, "reasoning_content": None}, "finish_reason": "length"}
    usage = {"prompt_tokens": 5, "prompt_tokens_details": None, "completion_tokens_details": None}
    result = parse_chat_response(json.dumps(answer(choices=[choice], usage=usage)))
    assert (result.content, result.reasoning_content) == ("", None)
    assert result.usage == Usage(prompt_tokens=5, prompt_cache_miss_tokens=5)


def test_vllm_usage_without_cache_fields_is_all_miss() -> None:
    usage = parse_usage({"prompt_tokens": 50, "completion_tokens": 3})
    assert (usage.prompt_cache_hit_tokens, usage.prompt_cache_miss_tokens) == (0, 50)
    cached = parse_usage({"prompt_tokens": 50, "prompt_tokens_details": {"cached_tokens": 32}})
    assert (cached.prompt_cache_hit_tokens, cached.prompt_cache_miss_tokens) == (32, 18)
    assert parse_usage({"prompt_tokens": 50.0}).prompt_tokens == 50  # a whole float is a count


def test_an_error_inside_a_200_is_transient() -> None:
    with pytest.raises(TransientAPIError, match="queue gave up"):
        parse_chat_response('\n\n{"error": {"message": "queue gave up"}}')


def _message(**fields: Any) -> list[dict[str, Any]]:
    return [{"message": {"content": "{}", **fields}, "finish_reason": "stop"}]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("<html>502 Bad Gateway</html>", "not JSON"),
        ("", "not JSON"),
        ("\n\n\n", "not JSON"),
        (b"\xff\xfe{", "not JSON"),
        ("[1, 2]", "JSON list, not an object"),
        ("null", "JSON NoneType"),
        ("[" * 100_000, "not JSON|nests too deeply"),
        (answer(choices=None), "choices is a NoneType"),
        ({"model": PRO, "usage": USAGE}, "choices is a NoneType"),
        (answer(choices={"0": {}}), "choices is a dict"),
        (answer(choices=[]), "choices is empty"),
        (answer(choices=["text"]), r"choices\[0\] is a str"),
        (answer(choices=[{"message": None}]), r"message is a NoneType"),
        (answer(choices=[{"message": "hi"}]), r"message is a str"),
        (answer(choices=_message(content=12345)), "content is a int"),
        (answer(choices=_message(content=["a"])), "content is a list"),
        (answer(choices=_message(content={"text": "a"})), "content is a dict"),
        (answer(choices=_message(reasoning_content=7)), "reasoning_content is a int"),
        (answer(choices=_message(reasoning=False)), "reasoning is a bool"),
        (answer(choices=[{"message": {"content": ""}, "finish_reason": 3}]), "finish_reason"),
        (answer(usage=[1, 2]), "usage is a list"),
        (answer(usage={"prompt_tokens": "100"}), "prompt_tokens is '100'"),
        (answer(usage={"prompt_tokens": -1}), "prompt_tokens is -1"),
        (answer(usage={"prompt_tokens": True}), "prompt_tokens is True"),
        (answer(usage={"prompt_tokens": 1.5}), "prompt_tokens is 1.5"),
        (answer(usage={"completion_tokens_details": 4}), "completion_tokens_details is a int"),
        (answer(usage={"completion_tokens_details": {"reasoning_tokens": "4"}}), "reasoning"),
        (answer(usage={"prompt_tokens_details": {"cached_tokens": [1]}}), "cached_tokens"),
    ],
)
def test_every_malformed_answer_is_a_malformed_response_error(body: Any, says: str) -> None:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    with pytest.raises(MalformedResponseError, match=says) as caught:
        parse_chat_response(raw)
    assert isinstance(caught.value, TransientAPIError)  # retried like any transient failure
    assert caught.value.status_code == 200


def test_billed_usage_is_read_from_a_malformed_answer_when_it_can_be() -> None:
    broken_content = json.dumps(answer(choices=_message(content=1)))
    assert billed_usage(broken_content) == parse_usage(USAGE)
    assert billed_usage(json.dumps(answer(choices=None))) == parse_usage(USAGE)
    assert billed_usage(json.dumps(answer(usage={"prompt_tokens": "x"}))) is None
    assert billed_usage(json.dumps({"choices": None})) is None  # no usage is not zero usage
    assert billed_usage("<html>") is None


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (400, "This model's maximum context length is 1048576 tokens.", ContextLengthError),
        (400, "Invalid format", RequestRejectedError),
        (422, "Invalid parameters", RequestRejectedError),
        (401, "Authentication Fails", AuthenticationError),
        (402, "Insufficient Balance", InsufficientBalanceError),
        (429, "Rate limit", TransientAPIError),
        (503, "Server overloaded", TransientAPIError),
        (404, "not found", RequestRejectedError),
    ],
)
def test_status_codes_map_onto_the_error_tree(status: int, message: str, expected: type) -> None:
    error = api_error(status, json.dumps({"error": {"message": message}}))
    assert type(error) is expected
    assert message in str(error) and error.status_code == status


def test_an_error_body_that_is_not_json_is_quoted() -> None:
    error = api_error(502, b"<html>bad gateway</html>")
    assert type(error) is TransientAPIError and "bad gateway" in str(error)


def test_a_prefix_is_continued_on_deepseeks_beta_endpoint_and_by_vllm() -> None:
    request = req(prefix='{"extractions": [')
    deepseek = build_body(request, "deepseek")
    assert deepseek["messages"][-1] == {
        "role": "assistant", "content": '{"extractions": [', "prefix": True,
    }  # fmt: skip
    assert chat_path(request, "deepseek") == "/beta/chat/completions"
    vllm = build_body(request, "vllm")
    assert vllm["messages"][-1] == {"role": "assistant", "content": '{"extractions": ['}
    assert vllm["continue_final_message"] is True and vllm["add_generation_prompt"] is False
    assert chat_path(request, "vllm") == chat_path(req(), "deepseek") == "/chat/completions"
    # A continuation is another question: it has its own ledger key.
    assert request_key(request) != request_key(req())
