"""Send or reuse: a request whose key already has an answer in the ledger is never sent again.

Otherwise the request is admitted by the gate (its worst case reserved), sent, and every
attempt is written to the ledger with its cost as soon as that attempt ends, before a retry is
sent and before an answer is used: a run killed at any moment loses nothing it paid for except
the answers of requests in flight at that moment.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from connectors.deepseek_protocol import (
    AttemptCallback,
    AttemptRecord,
    ChatRequest,
    ChatResult,
    StopRetrying,
    Usage,
)
from nightshift.errors import ModelAPIError, RetriesStoppedError, RunStoppingError
from tasks.costing import Tariff, attempt_cost
from tasks.gate import Admission, HeldBack, Throughput
from tasks.land import Landing, durable
from tasks.requests import PlannedRequest


class ChatClient(Protocol):
    async def chat(
        self, request: ChatRequest, *, on_attempt: AttemptCallback | None = None
    ) -> ChatResult: ...


class PassFailed(Exception):
    """A pass could not be answered (after retries, repair and escalation)."""


@dataclass
class DispatchStats:
    sent: int = 0
    reused: int = 0
    failed: int = 0
    escalated: int = 0
    continued: int = 0
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
        stored = await durable(self.landing.stored_answer(planned.key))
        if stored is not None:
            self.stats.reused += 1
            return ChatResult(stored["response"] or "", None, stored["finish_reason"], Usage(),
                              stored["model"])  # fmt: skip
        async with self.slots:
            return await self._send(planned)

    async def _send(self, planned: PlannedRequest) -> ChatResult:
        """Send with the client's retries. Each attempt that did not answer is landed with its
        cost the moment it ends, and a retry goes only when the gate admits its worst case too:
        the budget covers every billed attempt, not just the first."""
        reserved = await self._reserve(planned)

        async def on_attempt(attempt: AttemptRecord) -> None:
            nonlocal reserved
            if attempt.outcome == "ok":
                return  # landed below, with the answer
            cost = attempt_cost(self.tariff, planned.route.model, attempt)
            await durable(self.landing.attempts(planned, [(attempt, cost)], None))
            await self.admission.settle(reserved, cost.usd)
            reserved = 0.0
            if attempt.outcome == "retried":
                try:
                    reserved = await self._reserve(planned)
                except HeldBack as held:
                    raise StopRetrying(str(held)) from held

        try:
            result = await self.client.chat(planned.request, on_attempt=on_attempt)
        except RetriesStoppedError as exc:
            raise HeldBack(str(exc)) from exc  # its item counts as held where it is caught
        except ModelAPIError as exc:
            await self.admission.settle(reserved, 0.0)
            self.stats.failed += 1
            if isinstance(exc, RunStoppingError):
                raise
            raise PassFailed(f"{planned.route.model}: {exc}") from exc
        last = result.attempts[-1]
        cost = attempt_cost(self.tariff, planned.route.model, last)
        # Durable before the slot is freed: a kill loses at most the requests in flight.
        await durable(self.landing.attempts(planned, [(last, cost)], result))
        await self.admission.settle(reserved, cost.usd)
        self.stats.sent += 1
        seconds = (last.finished_at - last.started_at).total_seconds()
        self.throughput.observe(planned.prompt_tokens, result.usage.completion_tokens, seconds)
        return result

    async def _reserve(self, planned: PlannedRequest) -> float:
        return await self.admission.reserve(
            planned.route.model, planned.prompt_tokens, planned.request.max_tokens,
            planned.expected_output_tokens,
        )  # fmt: skip
