"""The gate on its own: budget reservations, waiting for settlements, the off-peak window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from nightshift.offpeak import current_window, next_window
from tasks.gate import WAIT_FOR_SETTLEMENT, Admission, Gate, HeldBack, Throughput

NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # a Sunday: off-peak all day in Beijing


def test_reservations_admit_until_the_cap_then_close_with_a_reason() -> None:
    gate = Gate(budget_usd=1.0)
    assert gate.admit(NOW, 0.4, 1000, 100) is None
    assert gate.admit(NOW, 0.4, 1000, 100) is None
    # Only reservations of requests in flight stand in the way: wait for them to settle.
    assert gate.admit(NOW, 0.4, 1000, 100) == WAIT_FOR_SETTLEMENT
    gate.settle(0.4, 0.05)
    gate.settle(0.4, 0.05)
    assert gate.admit(NOW, 0.4, 1000, 100) is None
    gate.settle(0.4, 0.85)  # spent 0.95 of 1.00
    reason = gate.admit(NOW, 0.4, 1000, 100)
    assert reason is not None and reason.startswith("budget:")
    assert gate.closed_reason == reason
    assert gate.admit(NOW, 0.0, 1, 1) == reason  # closed for good


def test_a_request_that_would_end_after_the_window_is_not_started() -> None:
    window = current_window(NOW) or next_window(NOW)
    late = window.end - timedelta(seconds=30)
    gate = Gate(enforce_window=True, throughput=Throughput(prefill_tps=1_000.0, output_tps=10.0))
    reason = gate.admit(late, 0.0, 50_000, 1_000)  # about 150 s of work, 30 s left
    assert reason is not None and reason.startswith("window:")


def test_allow_peak_lets_work_run_past_the_window() -> None:
    window = current_window(NOW) or next_window(NOW)
    gate = Gate(enforce_window=True, allow_peak=True)
    assert gate.admit(window.end - timedelta(seconds=1), 0.0, 50_000, 10_000) is None


def test_throughput_learns_from_finished_requests() -> None:
    throughput = Throughput(prefill_tps=1_000.0, output_tps=10.0)
    assert throughput.expected_seconds(1_000, 10) == pytest.approx(2.0)
    throughput.observe(1_000, 10, 1.0)  # twice as fast as assumed
    assert throughput.expected_seconds(1_000, 10) == pytest.approx(1.0)


def test_admission_waits_for_settlement_then_holds_back() -> None:
    gate = Gate(budget_usd=1.0)
    admission = Admission(gate, lambda model, prompt, max_tokens, at: 0.6, lambda: NOW)

    async def scenario() -> tuple[float, str]:
        first = await admission.reserve("m", 10, 10, 10)
        waiting = asyncio.create_task(admission.reserve("m", 10, 10, 10))
        await asyncio.sleep(0)
        assert not waiting.done()  # 0.6 + 0.6 > 1.0 while the first is in flight
        await admission.settle(first, 0.5)  # spent 0.5: 0.5 + 0.6 > 1.0
        with pytest.raises(HeldBack) as held:
            await waiting
        return first, str(held.value)

    reserved, reason = asyncio.run(scenario())
    assert reserved == 0.6
    assert reason.startswith("budget:")
