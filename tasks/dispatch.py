"""Dispatch: send each work item's requests through the cascade and record what became of it.

The fan-out happens here with asyncio (Prefect task runs are per batch, never per request).
A work item is ``done`` when all its passes landed, ``failed`` when a pass failed for good,
``pending`` when the gate (budget or window) held it back. The jobs are split by module:
admission (``gate``), send-or-reuse (``ledger``), the answer cascade (``cascade``), pricing
(``costing``) and writing rows (``land``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from connectors.backends import Backend
from connectors.deepseek import ClientConfig, DeepSeekClient, flash_pro_concurrency
from connectors.store import Store
from nightshift.models import WorkItemStatus
from nightshift.profiles import Profile
from nightshift.progress import ProgressEvent, report_progress
from tasks.cascade import AnswerCascade, gather_all
from tasks.costing import Tariff
from tasks.gate import Admission, Gate, HeldBack
from tasks.land import Landing
from tasks.ledger import ChatClient, DispatchStats, Ledger, PassFailed
from tasks.plan import WorkItem
from tasks.prompt import shared_prefix_tokens
from tasks.review_plan import ReviewPlan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchRun:
    """What every batch of one review run is dispatched with."""

    plan: ReviewPlan
    store: Store
    profile: Profile
    backend: Backend
    run_id: str
    gate: Gate
    clock: Callable[[], datetime]
    max_in_flight: int = 32
    client_config: ClientConfig = field(default_factory=ClientConfig)
    # One landing for the whole run: the same clause found by two windows of a document lands
    # once even when the windows are dispatched in different batches.
    landing: Landing | None = None
    # Each model's admitted concurrency as the last batch's client left it (adapted on 429):
    # the next batch's client starts there.
    learned_concurrency: dict[str, int] = field(default_factory=dict)


class Dispatcher:
    """Runs work items to an end state over one client; see the module doc."""

    def __init__(self, run: DispatchRun, client: ChatClient, done_before: int = 0) -> None:
        self.run = run
        self.stats = DispatchStats()
        self.landing = run.landing or Landing(run.store, run.run_id, run.profile,
                                              run.backend.scope, run.clock)  # fmt: skip
        tariff = Tariff.for_backend(run.backend.name)
        admission = Admission(run.gate, tariff.worst_case, run.clock)
        slots = asyncio.Semaphore(run.max_in_flight)
        self.ledger = Ledger(client, admission, self.landing, tariff, run.gate.throughput, slots,
                             self.stats)  # fmt: skip
        self.cascade = AnswerCascade(
            self.ledger, self.landing, run.profile, run.backend.models, run.plan.views,
            run.plan.indexes, run.backend.scope, self.stats,
        )  # fmt: skip
        self._finished = done_before

    async def run_items(self, items: Sequence[WorkItem]) -> dict[str, WorkItemStatus]:
        """Dispatch ``items``; returns each item's final status."""
        statuses: dict[str, WorkItemStatus] = {}

        async def one(item: WorkItem) -> None:
            status, reason = await self._run_item(item)
            statuses[item.item_id] = status
            self.landing.work_items([item], status, reason)
            if status is WorkItemStatus.DONE:
                self.landing.reviews(item, self.run.plan.covering)
            self._finished += 1
            report_progress(ProgressEvent("dispatch", self._finished, len(self.run.plan.items),
                                          item.group))  # fmt: skip

        await gather_all(one(item) for item in items)
        return statuses

    async def _run_item(self, item: WorkItem) -> tuple[WorkItemStatus, str | None]:
        route = item.route
        assert route is not None, "work items are routed when they are planned"
        passes = self.run.profile.passes()
        try:
            first = self.cascade.plan(item, 0, passes[0], route)
            await self.cascade.run_pass(first)
            # The first pass primed the cache with the shared prefix; the rest reuse it.
            shared = shared_prefix_tokens(first.request.messages)
            rest = [
                self.cascade.plan(item, index, fields, route, shared=shared)
                for index, fields in enumerate(passes[1:], start=1)
            ]
            await gather_all(self.cascade.run_pass(p) for p in rest)
        except HeldBack as held:
            self.stats.held += 1
            return WorkItemStatus.PENDING, str(held)
        except PassFailed as failed:
            return WorkItemStatus.FAILED, str(failed)
        return WorkItemStatus.DONE, None


def client_for(run: DispatchRun) -> DeepSeekClient:
    """The run's one client: ``max_in_flight`` for Flash and Pro's share of the account limits
    for Pro (a self-hosted endpoint serves one model)."""
    backend = run.backend
    concurrency = flash_pro_concurrency(backend.models.flash, backend.models.pro,
                                        run.max_in_flight)  # fmt: skip
    config = replace(run.client_config, concurrency=concurrency,
                     start=dict(run.learned_concurrency))  # fmt: skip
    return DeepSeekClient(backend.base_url, backend.api_key, flavour=backend.flavour,
                          config=config)  # fmt: skip


def dispatch_batch(run: DispatchRun, batch: Sequence[WorkItem], done_before: int) -> DispatchStats:
    """Send one batch of work items to an end state (done, failed or pending)."""

    async def send() -> DispatchStats:
        async with client_for(run) as client:
            dispatcher = Dispatcher(run, client, done_before)
            try:
                await dispatcher.run_items(batch)
            finally:
                for model in {run.backend.models.flash, run.backend.models.pro}:
                    run.learned_concurrency[model] = client.concurrency(model)
            return dispatcher.stats

    stats = asyncio.run(send())
    logger.info(
        "%s sent, %s reused from the ledger, %s escalated, %s failed, %s held back",
        stats.sent, stats.reused, stats.escalated, stats.failed, stats.held,
    )  # fmt: skip
    return stats


def wait_until_ready(backend: Backend, timeout_seconds: float) -> list[str]:
    """A self-hosted endpoint must be up and serving its model before anything is dispatched."""

    async def wait() -> list[str]:
        async with DeepSeekClient(backend.base_url, backend.api_key, flavour=backend.flavour) as c:
            return await c.wait_until_ready(timeout_seconds, model=backend.models.flash)

    served = asyncio.run(wait())
    logger.info("endpoint ready, serving %s", ", ".join(served))
    return served
