"""The DeepSeek client: admission and configuration directly; sending over real sockets.

The wire format's pure functions are tested in ``test_deepseek_protocol``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import FrozenInstanceError, replace

import anyio
import httpx
import pytest

from connectors.deepseek import (
    DEFAULT_CONCURRENCY,
    FLASH_ACCOUNT_CONCURRENCY,
    PRO_ACCOUNT_CONCURRENCY,
    AdaptiveLimit,
    AttemptRecord,
    ChatRequest,
    ClientConfig,
    DeepSeekClient,
    RetryPolicy,
    StopRetrying,
    flash_pro_concurrency,
)
from connectors.deepseek_protocol import Usage, build_body, request_key
from connectors.simulator import SimulatorConfig, SimulatorHandle, running_simulator
from nightshift.errors import (
    AttemptDeadlineError,
    AuthenticationError,
    ClientInternalError,
    ConfigError,
    ContextLengthError,
    InsufficientBalanceError,
    MalformedResponseError,
    RequestRejectedError,
    RetriesStoppedError,
    TransientAPIError,
)
from nightshift.pricing import cost_usd
from tests.connectors.conftest import FAST_RETRY, TEST_API_KEY, fast_config

MakeClient = Callable[..., DeepSeekClient]
PRO = "deepseek-v4-pro"
FLASH = "deepseek-v4-flash"


def req(text: str = "hello", model: str = PRO, **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": text}], **kw)  # type: ignore[arg-type]


# -- admission and configuration ----------------------------------------------------------


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


def test_pro_gets_the_account_limits_share_of_flash() -> None:
    assert PRO_ACCOUNT_CONCURRENCY * 5 == FLASH_ACCOUNT_CONCURRENCY
    assert flash_pro_concurrency(FLASH, PRO, FLASH_ACCOUNT_CONCURRENCY) == {
        FLASH: FLASH_ACCOUNT_CONCURRENCY,
        PRO: PRO_ACCOUNT_CONCURRENCY,
    }
    assert flash_pro_concurrency(FLASH, PRO, 32) == {FLASH: 32, PRO: 6}
    assert flash_pro_concurrency(FLASH, PRO, 3) == {FLASH: 3, PRO: 1}  # never below one
    assert flash_pro_concurrency("served", "served", 8) == {"served": 8}  # one model, both roles
    assert DEFAULT_CONCURRENCY[PRO] == DEFAULT_CONCURRENCY[FLASH] // 5


def test_the_config_is_frozen_checked_and_layered_over_the_defaults() -> None:
    mine = {PRO: 3}
    config = ClientConfig(concurrency=mine, default_concurrency=2)
    mine[PRO] = 99  # the caller's dict changing later does not change the config
    assert (config.ceiling(PRO), config.ceiling(FLASH), config.ceiling("other")) == (
        3,
        DEFAULT_CONCURRENCY[FLASH],
        2,
    )
    with pytest.raises(FrozenInstanceError):
        config.default_concurrency = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.concurrency[PRO] = 5  # type: ignore[index]
    # 15 minutes for the queue, then 2,000 tokens at 20 tokens/s.
    assert ClientConfig().deadline_seconds(req(max_tokens=2000)) == 15 * 60 + 100
    for bad in (
        lambda: RetryPolicy(max_retries=-1),
        lambda: RetryPolicy(backoff_cap=-1.0),
        lambda: ClientConfig(concurrency={PRO: 0}),
        lambda: ClientConfig(request_deadline_seconds=0),
        lambda: DeepSeekClient("ftp://example.org", TEST_API_KEY),
        lambda: DeepSeekClient("http://127.0.0.1:1", "  "),
    ):
        with pytest.raises(ConfigError):
            bad()


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
@pytest.mark.parametrize(
    ("fault", "usage_kept"),
    [
        ("malformed_content", True),
        ("malformed_choices", True),
        ("null_message", True),
        ("malformed_usage", False),
        ("not_json", False),
    ],
)
async def test_malformed_answers_are_retried_with_their_usage(
    simulator: SimulatorHandle, make_client: MakeClient, fault: str, usage_kept: bool
) -> None:
    simulator.set_faults([fault, "ok"])
    async with make_client() as client:
        result = await client.chat(req())
        assert client.in_flight(PRO) == 0
    first, second = result.attempts
    assert (first.outcome, first.http_status, second.outcome) == ("retried", 200, "ok")
    assert "malformed answer" in (first.error or "")
    # A malformed answer was generated and may be billed: its usage is kept when readable.
    assert (first.usage is not None and first.usage.prompt_tokens > 0) == usage_kept
    assert simulator.stats.faults() == [fault, "ok"]


@pytest.mark.anyio
async def test_malformed_answers_are_bounded_and_leave_the_client_usable(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.set_faults(["malformed_content", "not_json", "malformed_choices"])
    async with make_client(retry=replace(FAST_RETRY, max_retries=2)) as client:
        with pytest.raises(MalformedResponseError) as caught:
            await client.chat(req())
        assert client.in_flight(PRO) == 0
        after = await client.chat(req("the next one"))
    assert [a.outcome for a in caught.value.attempts] == ["retried", "retried", "failed"]
    assert caught.value.status_code == 200 and after.finish_reason == "stop"


class _OnceBrokenClient(DeepSeekClient):
    """A client with a bug planted in its first send, standing for any bug nobody foresaw (no
    real component can be asked to have one)."""

    planted = True

    async def _post(self, url: str, body: bytes) -> bytes:
        if self.planted:
            self.planted = False
            raise KeyError(f"planted bug, key {TEST_API_KEY}")
        return await super()._post(url, body)


@pytest.mark.anyio
async def test_an_unexpected_exception_is_wrapped_and_releases_its_slot(
    simulator: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    config = fast_config(concurrency={PRO: 1})
    async with _OnceBrokenClient(simulator.base_url, TEST_API_KEY, config=config) as client:
        with pytest.raises(ClientInternalError, match="unexpected KeyError") as caught:
            await client.chat(req())
        assert client.in_flight(PRO) == 0
        # The one slot came back: the next request is admitted and answered.
        with anyio.fail_after(5):
            assert (await client.chat(req())).finish_reason == "stop"
    assert isinstance(caught.value.__cause__, KeyError)
    assert [a.outcome for a in caught.value.attempts] == ["failed"]  # a bug is not retried
    assert TEST_API_KEY not in str(caught.value) + repr(caught.value.attempts) + caplog.text


class _BrokenBackoffClient(DeepSeekClient):
    """A bug planted between attempts rather than inside one."""

    def _backoff(self, attempt: int) -> float:
        raise ZeroDivisionError("planted bug")


@pytest.mark.anyio
async def test_a_bug_between_attempts_is_wrapped_with_the_attempts_made(
    simulator: SimulatorHandle,
) -> None:
    simulator.set_faults(["500", "ok"])
    async with _BrokenBackoffClient(simulator.base_url, TEST_API_KEY, config=fast_config()) as c:
        with pytest.raises(ClientInternalError, match="ZeroDivisionError") as caught:
            await c.chat(req())
        assert c.in_flight(PRO) == 0
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert [(a.outcome, a.http_status) for a in caught.value.attempts] == [("retried", 500)]


@pytest.mark.anyio
async def test_each_attempt_is_reported_before_the_next_is_sent(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.set_faults(["500", "malformed_content", "ok"])
    reported: list[tuple[AttemptRecord, int]] = []

    async def on_attempt(record: AttemptRecord) -> None:
        await anyio.sleep(0.05)  # a slow ledger write still comes before the next send
        reported.append((record, len(simulator.stats.log)))

    async with make_client() as client:
        result = await client.chat(req(), on_attempt=on_attempt)
    assert [record for record, _ in reported] == list(result.attempts)
    assert [sent for _, sent in reported] == [1, 2, 3]
    assert reported[1][0].usage is not None  # the billed malformed answer, reported at once


@pytest.mark.anyio
async def test_the_caller_can_stop_the_retries(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.set_faults(["503", "503", "ok"])

    async def over_budget(record: AttemptRecord) -> None:
        if record.outcome == "retried":
            raise StopRetrying("the next attempt would pass the budget cap")

    async with make_client() as client:
        with pytest.raises(RetriesStoppedError, match="budget cap") as caught:
            await client.chat(req(), on_attempt=over_budget)
        assert client.in_flight(PRO) == 0
        # With nothing left to retry, StopRetrying changes nothing: the answer is returned.
        simulator.set_faults(["ok"])
        answered = await client.chat(req(), on_attempt=over_budget)
    assert not isinstance(caught.value, TransientAPIError)  # the caller's own retries stop too
    assert isinstance(caught.value.__cause__, StopRetrying)
    assert [(a.outcome, a.http_status) for a in caught.value.attempts] == [("retried", 503)]
    assert caught.value.status_code == 503
    assert simulator.stats.faults() == ["503", "ok"]  # the second 503 was never asked for
    assert answered.finish_reason == "stop"


@pytest.mark.anyio
async def test_any_other_callback_exception_propagates_as_it_is(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.set_faults(["500", "ok"])

    async def ledger_down(record: AttemptRecord) -> None:
        raise OSError("disk full")

    async with make_client() as client:
        with pytest.raises(OSError, match="disk full"):
            await client.chat(req(), on_attempt=ledger_down)
        assert client.in_flight(PRO) == 0
    assert simulator.stats.faults() == ["500"]


@pytest.mark.anyio
async def test_endless_keepalive_lines_end_at_the_deadline(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.config.keepalive_interval = 0.02  # far inside the read timeout of 10 s
    simulator.set_faults(["keepalive_forever", "ok"])
    started = time.monotonic()
    async with make_client(request_deadline_seconds=0.4) as client:
        with anyio.fail_after(10):  # without the deadline this would wait for ever
            result = await client.chat(req())
    first, second = result.attempts
    assert (first.outcome, first.http_status, first.usage, second.outcome) == (
        "retried", None, None, "ok"
    )  # fmt: skip
    assert "deadline of 0.4 s" in (first.error or "")
    assert time.monotonic() - started < 5
    # The server noticed the client leave: its endless answer ended too.
    with anyio.fail_after(5):
        while simulator.stats.in_flight[PRO]:
            await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_the_deadline_grows_with_max_tokens_and_bounds_the_retries(
    simulator: SimulatorHandle, make_client: MakeClient
) -> None:
    simulator.set_faults(["keepalive_forever"] * 2)
    config = {"request_deadline_seconds": 0.1, "deadline_seconds_per_output_token": 0.0002}
    async with make_client(retry=replace(FAST_RETRY, max_retries=1), **config) as client:
        with pytest.raises(AttemptDeadlineError, match=r"deadline of 0\.3 s") as caught:
            await client.chat(req(max_tokens=1000))
        assert client.in_flight(PRO) == 0
    assert isinstance(caught.value, TransientAPIError)
    assert [a.outcome for a in caught.value.attempts] == ["retried", "failed"]


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
    async with make_client(timeout=httpx.Timeout(10.0, read=0.5, pool=None)) as client:
        result = await client.chat(req())
    assert [a.outcome for a in result.attempts] == ["retried", "ok"]
    assert "ReadTimeout" in (result.attempts[0].error or "")


@pytest.mark.anyio
async def test_retries_are_bounded(simulator: SimulatorHandle, make_client: MakeClient) -> None:
    simulator.set_faults(["500"] * 5)
    async with make_client(retry=replace(FAST_RETRY, max_retries=2)) as client:
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
    # The new failure paths: a proxy page that echoes the key, malformed JSON, the deadline,
    # a stop from the caller with the key in its reason, each as a final error and retried.
    faults = ["not_json", "malformed_content", "keepalive_forever", "not_json", "ok"]
    one_try = replace(FAST_RETRY, max_retries=0)
    with running_simulator(SimulatorConfig(fault_sequence=faults)) as sim:
        async with (
            make_client(base_url=sim.base_url, request_deadline_seconds=0.3) as client,
            make_client(
                base_url=sim.base_url, request_deadline_seconds=0.3, retry=one_try
            ) as impatient,
        ):
            retried = await client.chat(req())
            sim.set_faults(["not_json"])
            with pytest.raises(MalformedResponseError) as malformed:
                await impatient.chat(req())
            sim.set_faults(["keepalive_forever"])
            with pytest.raises(AttemptDeadlineError) as late:
                await impatient.chat(req())
            sim.set_faults(["not_json"])
            with pytest.raises(RetriesStoppedError) as stopped:
                await client.chat(req(), on_attempt=_stop_with_the_key)
    texts.append(repr(retried))
    for error in (malformed.value, late.value, stopped.value):
        texts += [str(error), repr(error), repr(error.attempts)]
    assert "[redacted]" in repr(retried.attempts)  # the echoed key was there, and scrubbed
    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert "retrying" in caplog.text  # the logs were captured at all
    for text in texts:
        assert TEST_API_KEY not in text


async def _stop_with_the_key(record: AttemptRecord) -> None:
    if record.outcome == "retried":
        raise StopRetrying(f"stopped, and the reason quotes {TEST_API_KEY}")


@pytest.mark.anyio
async def test_a_truncated_answer_is_continued_from_its_prefix(
    make_client: MakeClient, simulator: SimulatorHandle
) -> None:
    question = req("Tell me about the agreement.", model=FLASH, thinking=False)
    async with make_client() as client:
        whole = await client.chat(question)
        cut = await client.chat(replace(question, max_tokens=3))
        rest = await client.chat(replace(question, prefix=cut.content))
    assert cut.finish_reason == "length" and 0 < len(cut.content) < len(whole.content)
    assert rest.finish_reason == "stop"
    assert cut.content + rest.content == whole.content
    # The continuation reads the prefix too, and most of its prompt is the cached question.
    assert rest.usage.prompt_tokens > whole.usage.prompt_tokens


@pytest.mark.anyio
async def test_deepseek_takes_a_prefix_on_its_beta_endpoint_only(
    simulator: SimulatorHandle,
) -> None:
    body = build_body(req(model=FLASH, prefix="Sim"))
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    async with httpx.AsyncClient(base_url=simulator.base_url, headers=headers) as http:
        plain = await http.post("/chat/completions", json=body)
        beta = await http.post("/beta/chat/completions", json=body)
    assert plain.status_code == 400 and "beta" in plain.json()["error"]["message"]
    assert beta.status_code == 200
