"""Send or reuse: a request whose key already has an answer in the ledger is never sent again.

Otherwise the request is admitted by the gate (its worst case reserved), sent, and every
attempt is written to the ledger with its cost as soon as the request ends, before the answer
is used: a run killed at any moment after that loses nothing it paid for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from connectors.deepseek_protocol import AttemptRecord, ChatRequest, ChatResult, Usage
from nightshift.errors import ModelAPIError, RunStoppingError
from tasks.costing import Tariff, attempt_cost
from tasks.gate import Admission, Throughput
from tasks.land import Landing
from tasks.requests import PlannedRequest


class ChatClient(Protocol):
    async def chat(self, request: ChatRequest) -> ChatResult: ...


class PassFailed(Exception):
    """A pass could not be answered (after retries, repair and escalation)."""


@dataclass
class DispatchStats:
    sent: int = 0
    reused: int = 0
    failed: int = 0
    escalated: int = 0
    held: int = 0
    extractions: int = 0
    grounded: int = 0


@dataclass
class Ledger:
    client: ChatClient
    admission: Admission
    landing: Landing
    tariff: Tariff
    throughput: Throughput
    slots: asyncio.Semaphore  # requests in flight at once
    stats: DispatchStats = field(default_factory=DispatchStats)

    async def answer(self, planned: PlannedRequest) -> ChatResult:
        """The answer to ``planned``: from the ledger when it has one, else from the backend."""
        stored = self.landing.store.successful_responses([planned.key]).get(planned.key)
        if stored is not None:
            self.stats.reused += 1
            return ChatResult(stored["response"] or "", None, stored["finish_reason"], Usage(),
                              stored["model"])  # fmt: skip
        async with self.slots:
            reserved = await self.admission.reserve(
                planned.route.model, planned.prompt_tokens, planned.request.max_tokens,
                planned.expected_output_tokens,
            )  # fmt: skip
            try:
                result = await self.client.chat(planned.request)
            except ModelAPIError as exc:
                attempts: Sequence[AttemptRecord] = getattr(exc, "attempts", ())
                await self.admission.settle(reserved, self._record(planned, attempts, None))
                self.stats.failed += 1
                if isinstance(exc, RunStoppingError):
                    raise
                raise PassFailed(f"{planned.route.model}: {exc}") from exc
            await self.admission.settle(reserved, self._record(planned, result.attempts, result))
        self.stats.sent += 1
        last = result.attempts[-1]
        seconds = (last.finished_at - last.started_at).total_seconds()
        self.throughput.observe(planned.prompt_tokens, result.usage.completion_tokens, seconds)
        return result

    def _record(
        self,
        planned: PlannedRequest,
        attempts: Sequence[AttemptRecord],
        result: ChatResult | None,
    ) -> float:
        """Land every attempt with its cost; returns the request's total cost."""
        priced = [(a, attempt_cost(self.tariff, planned.route.model, a)) for a in attempts]
        self.landing.attempts(planned, priced, result)
        return sum(cost.usd for _attempt, cost in priced)
