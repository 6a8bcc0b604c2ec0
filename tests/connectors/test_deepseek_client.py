"""The DeepSeek client: pure protocol functions directly; sending over real sockets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import anyio
import pytest

from connectors.deepseek import AdaptiveLimit, ChatRequest, DeepSeekClient
from connectors.deepseek_protocol import (
    Usage,
    api_error,
    build_body,
    parse_chat_response,
    parse_usage,
    request_key,
)
from connectors.simulator import SimulatorConfig, SimulatorHandle, running_simulator
from nightshift.errors import (
    AuthenticationError,
    ConfigError,
    ContextLengthError,
    InsufficientBalanceError,
    RequestRejectedError,
    TransientAPIError,
)
from nightshift.pricing import cost_usd
from tests.connectors.conftest import TEST_API_KEY

MakeClient = Callable[..., DeepSeekClient]
PRO = "deepseek-v4-pro"
FLASH = "deepseek-v4-flash"


def req(text: str = "hello", model: str = PRO, **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": text}], **kw)  # type: ignore[arg-type]


# -- pure functions ------------------------------------------------------------------------


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


def test_parse_tolerates_keepalive_lines_and_reads_usage() -> None:
    body = {
        "model": PRO,
        "choices": [
            {
                "message": {"content": "{}", "reasoning_content": "hm"},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "prompt_cache_hit_tokens": 64,
            "prompt_cache_miss_tokens": 36,
            "completion_tokens": 9,
            "completion_tokens_details": {"reasoning_tokens": 4},
        },
    }
    result = parse_chat_response("\n\n \n" + json.dumps(body))
    assert (result.content, result.reasoning_content, result.finish_reason) == ("{}", "hm", "stop")
    assert result.usage.prompt_cache_hit_tokens == 64 and result.usage.reasoning_tokens == 4


def test_vllm_usage_without_cache_fields_is_all_miss() -> None:
    usage = parse_usage({"prompt_tokens": 50, "completion_tokens": 3})
    assert (usage.prompt_cache_hit_tokens, usage.prompt_cache_miss_tokens) == (0, 50)
    cached = parse_usage({"prompt_tokens": 50, "prompt_tokens_details": {"cached_tokens": 32}})
    assert (cached.prompt_cache_hit_tokens, cached.prompt_cache_miss_tokens) == (32, 18)


def test_an_error_inside_a_200_is_transient() -> None:
    with pytest.raises(TransientAPIError, match="queue gave up"):
        parse_chat_response('\n\n{"error": {"message": "queue gave up"}}')


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


@pytest.mark.anyio
async def test_adaptive_limit_halves_once_per_window_and_creeps_back() -> None:
    limit = AdaptiveLimit(16)
    epochs = [await limit.acquire() for _ in range(16)]
    for epoch in epochs[:8]:  # a burst of 429s from one window halves once
        limit.release(epoch, overloaded=True)
    assert limit.limit == 8
    for epoch in epochs[8:]:
        limit.release(epoch, succeeded=True)
    for _ in range(8):  # about one more slot per window of successes
        limit.release(await limit.acquire(), succeeded=True)
    assert limit.limit == 9
    for _ in range(10):
        limit.release(await limit.acquire(), overloaded=True)
    assert limit.limit == 1  # never below one


# -- over sockets: one test per fault ------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["429", "500", "503", "insufficient_system_resource"])
async def test_server_faults_are_retried(
    simulator: SimulatorHandle, make_client: MakeClient, fault: str
) -> None:
    simulator.set_faults([fault, fault, "ok"])
    async with make_client() as client:
        result = await client.chat(req())
    assert [a.outcome for a in result.attempts] == ["retried", "retried", "ok"]
    expected = 200 if fault == "insufficient_system_resource" else int(fault)
    assert [a.http_status for a in result.attempts] == [expected, expected, 200]
    assert result.finish_reason == "stop"
    assert len(simulator.stats.log) == 3


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["disconnect", "disconnect_mid"])
async def test_dropped_connections_are_retried(
    simulator: SimulatorHandle, make_client: MakeClient, fault: str
) -> None:
    simulator.set_faults([fault, "ok"])
    async with make_client() as client:
        result = await client.chat(req())
    first, second = result.attempts
    assert (first.outcome, first.http_status, second.outcome) == ("retried", None, "ok")
    assert "RemoteProtocolError" in (first.error or "")


@pytest.mark.anyio
async def test_keepalive_lines_before_the_body_are_tolerated(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.config.keepalive_lines = 5
    simulator.set_faults(["keepalive"])
    async with make_client() as client:
        result = await client.chat(req(json_mode=True))
    assert len(result.attempts) == 1 and result.content == "{}"


@pytest.mark.anyio
async def test_blank_json_is_retried_then_given_up(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.set_faults(["blank_json", "ok"])
    async with make_client() as client:
        result = await client.chat(req(json_mode=True))
        assert [a.outcome for a in result.attempts] == ["retried", "ok"]
        assert result.attempts[0].usage is not None  # a blank answer is still billed
        simulator.set_faults(["blank_json"] * 3)
        with pytest.raises(TransientAPIError, match="blank") as caught:
            await client.chat(req("again", json_mode=True))
    assert [a.outcome for a in caught.value.attempts] == ["retried", "retried", "failed"]


@pytest.mark.anyio
async def test_length_is_returned_to_the_caller(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.set_faults(["length"])
    async with make_client() as client:
        result = await client.chat(req(json_mode=True))
    assert result.finish_reason == "length" and len(result.attempts) == 1


@pytest.mark.anyio
async def test_timeouts_are_retried(simulator: SimulatorHandle, make_client: MakeClient) -> None:
    simulator.config.slow_seconds = 1.5
    simulator.set_faults(["slow", "ok"])
    async with make_client(read_timeout=0.5) as client:
        result = await client.chat(req())
    assert [a.outcome for a in result.attempts] == ["retried", "ok"]
    assert "ReadTimeout" in (result.attempts[0].error or "")


@pytest.mark.anyio
async def test_retries_are_bounded(simulator: SimulatorHandle, make_client: MakeClient) -> None:
    simulator.set_faults(["500"] * 5)
    async with make_client(max_retries=2) as client:
        with pytest.raises(TransientAPIError) as caught:
            await client.chat(req())
    assert caught.value.status_code == 500
    assert [a.outcome for a in caught.value.attempts] == ["retried", "retried", "failed"]
    assert len(simulator.stats.log) == 3


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["400", "422"])
async def test_rejected_requests_are_not_retried(
    simulator: SimulatorHandle, make_client: MakeClient, fault: str
) -> None:
    simulator.set_faults([fault])
    async with make_client() as client:
        with pytest.raises(RequestRejectedError, match="simulator fault") as caught:
            await client.chat(req())
    assert caught.value.status_code == int(fault)
    assert len(caught.value.attempts) == 1 and caught.value.attempts[0].outcome == "failed"
    assert len(simulator.stats.log) == 1


@pytest.mark.anyio
async def test_real_validation_errors_surface_the_server_message(make_client: MakeClient) -> None:
    async with make_client() as client:
        with pytest.raises(RequestRejectedError, match="Model Not Exist"):
            await client.chat(req(model="deepseek-v9"))


@pytest.mark.anyio
async def test_context_length_error(simulator: SimulatorHandle, make_client: MakeClient) -> None:
    simulator.config.context_tokens = 300  # the real 1,048,576 needs a 4 MB prompt
    async with make_client() as client:
        with pytest.raises(ContextLengthError, match="maximum context length is 300") as caught:
            await client.chat(req("word " * 200, max_tokens=200))
    assert caught.value.status_code == 400 and len(caught.value.attempts) == 1


@pytest.mark.anyio
async def test_401_stops_the_run(make_client: MakeClient) -> None:
    with running_simulator(SimulatorConfig(expected_api_key="sk-the-right-one")) as sim:
        async with make_client(base_url=sim.base_url) as client:
            with pytest.raises(AuthenticationError, match="check the API key"):
                await client.chat(req())
            with pytest.raises(AuthenticationError):
                await client.chat(req("another"))
            assert len(sim.stats.log) == 0  # 401 comes before the chat handler
            assert sim.stats.requests == 1  # the second call was refused without sending
            assert isinstance(client.stopped, AuthenticationError)


@pytest.mark.anyio
async def test_402_stops_every_pending_request(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.set_faults(["402"])
    simulator.config.seconds_per_output_token = 0.001
    outcomes: list[str] = []

    async def one(i: int) -> None:
        try:
            await client.chat(req(f"q{i}"))
            outcomes.append("ok")
        except InsufficientBalanceError:
            outcomes.append("402")

    async with make_client(concurrency={PRO: 1}) as client, anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(one, i)
    assert outcomes.count("402") == 10
    assert len(simulator.stats.log) == 1


@pytest.mark.anyio
async def test_concurrency_limit_is_never_exceeded(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.config.seconds_per_output_token = 0.0003
    async with make_client(concurrency={PRO: 4}) as client, anyio.create_task_group() as tg:
        for i in range(24):
            tg.start_soon(client.chat, req(f"q{i}"))
    assert simulator.stats.max_in_flight[PRO] == 4


@pytest.mark.anyio
async def test_429_lowers_the_admitted_concurrency(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.config.seconds_per_output_token = 0.0003
    simulator.set_faults(["429"] * 8)
    async with make_client(concurrency={PRO: 16}) as client:
        async with anyio.create_task_group() as tg:
            for i in range(16):
                tg.start_soon(client.chat, req(f"q{i}"))
        assert client.concurrency(PRO) < 16
    assert len(simulator.stats.answered()) == 16


@pytest.mark.anyio
async def test_500_requests_with_faults_each_answered_exactly_once(make_client: MakeClient) -> None:
    rates = {"429": 0.04, "500": 0.03, "503": 0.03}
    with running_simulator(SimulatorConfig(fault_rates=rates, seed=11)) as sim:
        results = {}

        async def one(i: int) -> None:
            results[i] = await client.chat(req(f"question {i}", model=FLASH))

        client = make_client(base_url=sim.base_url, concurrency={FLASH: 64})
        async with client, anyio.create_task_group() as tg:
            for i in range(500):
                tg.start_soon(one, i)
        answered = sim.stats.answered()
        faults = [f for f in sim.stats.faults() if f != "ok"]
        assert len(results) == 500
        assert len(answered) == 500 and set(answered.values()) == {1}
        assert answered.keys() == {
            request_key(req(f"question {i}", model=FLASH)) for i in range(500)
        }
        assert 25 <= len(faults) <= 90  # about 10% of ~550 sends
        assert sim.stats.max_in_flight[FLASH] <= 64
        retried = sum(len(r.attempts) - 1 for r in results.values())
        assert retried == len(faults)


@pytest.mark.anyio
async def test_a_shared_prefix_hits_the_cache(make_client: MakeClient) -> None:
    document = " ".join(f"Clause {i} of the agreement binds both parties." for i in range(200))
    system = {"role": "system", "content": "You extract clauses."}

    def ask(question: str) -> ChatRequest:
        user = {"role": "user", "content": f"{document}\n\n{question}"}
        return ChatRequest(FLASH, [system, user], thinking=False)

    async with make_client() as client:
        first = await client.chat(ask("Which law governs?"))
        second = await client.chat(ask("What is the term?"))
    assert first.usage.prompt_cache_hit_tokens == 0
    assert second.usage.prompt_cache_hit_tokens > 0
    assert second.usage.prompt_cache_hit_tokens % 64 == 0
    assert second.usage.prompt_cache_miss_tokens < first.usage.prompt_cache_miss_tokens
    # And so it costs less, at the prices in force when it was sent.
    at = second.attempts[-1].started_at

    def cost(usage: Usage) -> float:
        return cost_usd(FLASH, usage.prompt_cache_hit_tokens, usage.prompt_cache_miss_tokens,
                        usage.completion_tokens, at)  # fmt: skip

    assert cost(second.usage) < cost(first.usage) * 0.9


@pytest.mark.anyio
async def test_vllm_flavour(make_client: MakeClient) -> None:
    config = SimulatorConfig(flavour="vllm", models=("served-flash",))
    with running_simulator(config) as sim:
        async with make_client(base_url=f"{sim.base_url}/v1", flavour="vllm") as client:
            assert await client.wait_until_ready(5, model="served-flash") == ["served-flash"]
            thinking = await client.chat(req(model="served-flash", thinking=True))
            plain = await client.chat(req("b", model="served-flash", thinking=False))
            with pytest.raises(TransientAPIError, match="not ready"):
                await client.wait_until_ready(0.2, model="other", poll_interval=0.05)
    assert thinking.reasoning_content and plain.reasoning_content is None
    assert thinking.usage.prompt_cache_hit_tokens == 0
    assert thinking.usage.prompt_cache_miss_tokens == thinking.usage.prompt_tokens > 0


@pytest.mark.anyio
async def test_the_key_never_leaks(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with running_simulator(SimulatorConfig(expected_api_key="sk-other-key")) as sim:
        client = make_client(base_url=sim.base_url)
        texts.append(repr(client))
        with pytest.raises(AuthenticationError) as caught:
            await client.chat(req())
        texts += [str(caught.value), repr(caught.value), repr(caught.value.attempts)]
        await client.aclose()
    with running_simulator(
        SimulatorConfig(fault_sequence=["429", "500", "disconnect", "ok"])
    ) as sim:
        async with make_client(base_url=sim.base_url) as client:
            result = await client.chat(req())
        texts.append(repr(result))
    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert "retrying" in caplog.text  # the logs were captured at all
    for text in texts:
        assert TEST_API_KEY not in text
