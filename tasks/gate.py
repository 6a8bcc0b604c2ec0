"""What may start now: the run's budget and the off-peak window.

Before a request is sent, its worst-case cost (all input at the miss price, ``max_tokens`` of
output) is reserved; after, the reservation settles to the real cost. When the next
reservation would pass the cap, dispatch stops and the rest stays pending. Likewise a request
that is not expected to finish inside the current off-peak window is not started, unless the
run may continue at peak prices (``allow_peak``, or a ``deadline`` that has come close).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from nightshift.offpeak import OffPeakCalendar, current_window, fits_in_window, next_window

# Until requests of this run have been observed, assume the API's throughput: prompt tokens
# per second of prefill and output tokens per second of generation, per request.
DEFAULT_PREFILL_TOKENS_PER_SECOND = 20_000.0
DEFAULT_OUTPUT_TOKENS_PER_SECOND = 40.0


@dataclass
class Throughput:
    """Seconds a request is expected to take, from its tokens, learned from finished ones."""

    prefill_tps: float = DEFAULT_PREFILL_TOKENS_PER_SECOND
    output_tps: float = DEFAULT_OUTPUT_TOKENS_PER_SECOND
    observed: int = 0

    def expected_seconds(self, prompt_tokens: int, output_tokens: int) -> float:
        return prompt_tokens / self.prefill_tps + output_tokens / self.output_tps

    def observe(self, prompt_tokens: int, output_tokens: int, seconds: float) -> None:
        """Scale both rates so that this request's tokens explain its time (moving average)."""
        if seconds <= 0:
            return
        predicted = self.expected_seconds(prompt_tokens, output_tokens)
        if predicted <= 0:
            return
        factor = predicted / seconds
        weight = 0.3 if self.observed else 1.0
        scale = (1 - weight) + weight * factor
        self.prefill_tps *= scale
        self.output_tps *= scale
        self.observed += 1


# What ``Gate.admit`` says when the request may fit once in-flight requests settle.
WAIT_FOR_SETTLEMENT = "wait for in-flight requests to settle"


@dataclass
class Gate:
    budget_usd: float | None = None
    enforce_window: bool = False
    allow_peak: bool = False
    deadline: datetime | None = None
    calendar: OffPeakCalendar | None = None
    throughput: Throughput = field(default_factory=Throughput)
    reserved_usd: float = 0.0
    spent_usd: float = 0.0
    closed_reason: str | None = None

    def admit(
        self,
        now: datetime,
        worst_case_usd: float,
        prompt_tokens: int,
        expected_output_tokens: int,
    ) -> str | None:
        """Reserve and return None when the request may start; ``WAIT_FOR_SETTLEMENT`` when it
        may once requests in flight settle; else the reason it may not (the gate closes)."""
        if self.closed_reason is not None:
            return self.closed_reason
        if self.budget_usd is not None:
            committed = self.spent_usd + self.reserved_usd
            if committed + worst_case_usd > self.budget_usd + 1e-12:
                if self.reserved_usd > 0 and self.spent_usd + worst_case_usd <= self.budget_usd:
                    # Only reservations of requests in flight stand in the way, and they
                    # settle to their real (lower) cost: wait for them rather than stop.
                    return WAIT_FOR_SETTLEMENT
                self.closed_reason = (
                    f"budget: ${committed:.4f} spent or reserved; the next request may cost up "
                    f"to ${worst_case_usd:.4f}, over the ${self.budget_usd:.4f} cap"
                )
                return self.closed_reason
        if self.enforce_window and not self._peak_allowed(now):
            seconds = self.throughput.expected_seconds(prompt_tokens, expected_output_tokens)
            if not fits_in_window(now, seconds, self.calendar):
                window = current_window(now, self.calendar)
                where = f"window ends {window.end.isoformat()}" if window else "peak time now"
                self.closed_reason = (
                    f"window: a request expected to take {seconds:.0f} s would not finish "
                    f"off-peak ({where})"
                )
                return self.closed_reason
        self.reserved_usd += worst_case_usd
        return None

    def settle(self, worst_case_usd: float, actual_usd: float) -> None:
        self.reserved_usd = max(0.0, self.reserved_usd - worst_case_usd)
        self.spent_usd += actual_usd

    def _peak_allowed(self, now: datetime) -> bool:
        if self.allow_peak:
            return True
        # Waiting for the next window would miss the deadline: pay peak prices now.
        if self.deadline is None:
            return False
        return next_window(now, self.calendar).start >= self.deadline


class HeldBack(Exception):
    """The gate did not admit a request; its work item stays pending."""


WorstCase = Callable[[str, int, int, datetime], float]  # model, prompt, max_tokens, at -> USD


class Admission:
    """The gate, shared by concurrent requests: each reserves its worst case before it is sent
    and settles to its real cost after; a request that would fit once requests in flight
    settle waits for them instead of closing the gate."""

    def __init__(self, gate: Gate, worst_case: WorstCase, clock: Callable[[], datetime]) -> None:
        self.gate = gate
        self.worst_case = worst_case
        self.clock = clock
        self._settled = asyncio.Condition()

    async def reserve(
        self, model: str, prompt_tokens: int, max_tokens: int, expected_output_tokens: int
    ) -> float:
        """Reserve and return the request's worst case; raise ``HeldBack`` when the gate says no."""
        async with self._settled:
            while True:
                now = self.clock()
                worst = self.worst_case(model, prompt_tokens, max_tokens, now)
                decision = self.gate.admit(now, worst, prompt_tokens, expected_output_tokens)
                if decision is None:
                    return worst
                if decision != WAIT_FOR_SETTLEMENT:
                    raise HeldBack(decision)
                await self._settled.wait()

    async def settle(self, reserved: float, actual: float) -> None:
        async with self._settled:
            self.gate.settle(reserved, actual)
            self._settled.notify_all()
