"""Dispatch: send each work item's requests through the cascade and record what became of it.

One run is one continuous pipeline: one client, one event loop, and enough work items started
at once that the in-flight limit stays full across item boundaries (an item that finishes makes
room for the next at once, never at the end of a batch). Rows land through the run's
``AnswerWriter`` (grouped commits on a thread of their own) and grounding runs in a worker
thread, so the loop only sends and receives.

A work item is ``done`` when all its passes landed, ``failed`` when a pass failed for good,
``pending`` when the gate (budget or window) held it back or the run stopped before it. The
jobs are split by module: admission (``gate``), send-or-reuse (``ledger``), the answer cascade
(``cascade``), pricing (``costing``), building rows (``land``) and writing them
(``answer_writer``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime

from connectors.backends import Backend
from connectors.deepseek import ClientConfig, DeepSeekClient, flash_pro_concurrency
from connectors.deepseek_protocol import AttemptCallback, AttemptRecord, ChatRequest, ChatResult
from connectors.store import Store
from nightshift.errors import RunStoppingError
from nightshift.models import RunStatus, WorkItemStatus
from nightshift.profiles import Profile
from nightshift.progress import ProgressEvent, report_progress
from tasks.answer_writer import AnswerWriter
from tasks.cascade import AnswerCascade, gather_all
from tasks.costing import Tariff
from tasks.gate import Admission, Gate, HeldBack
from tasks.ground import GroundingIndex
from tasks.land import Landing, durable
from tasks.ledger import ChatClient, DispatchStats, Ledger, PassFailed
from tasks.plan import WorkItem
from tasks.prompt import DocumentView, PromptSizer
from tasks.review_plan import ReviewPlan

logger = logging.getLogger(__name__)

# Items started per request slot: an item waits on the ledger, the writer or grounding between
# its requests, and another item's request fills its slot meanwhile.
ITEMS_PER_SLOT = 2
INDEX_CACHE_CHARS = 32_000_000  # characters of text whose grounding indexes stay built (LRU)

# A slot every request holds while it is sent (retries included), beside the run's own
# in-flight limit: e.g. an account-wide limit shared by several runs. It gets the request (its
# model) and is entered around the send; it may yield a callback to hear each attempt sent
# inside it (the account-wide limit learns of 429s that way), or None.
RequestSlot = Callable[[ChatRequest], AbstractAsyncContextManager[AttemptCallback | None]]


@dataclass(frozen=True)
class DispatchRun:
    """What one review run is dispatched with."""

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
    # once.
    landing: Landing | None = None
    request_slot: RequestSlot | None = None  # none: only the run's own limit applies


@dataclass(frozen=True)
class DispatchReport:
    status: RunStatus  # completed, deferred (the gate closed) or failed (the run was stopped)
    reason: str | None
    stats: DispatchStats


class SlottedClient:
    """A client whose every request is sent inside ``slot(request)``."""

    def __init__(self, client: ChatClient, slot: RequestSlot) -> None:
        self._client = client
        self._slot = slot

    async def chat(
        self, request: ChatRequest, *, on_attempt: AttemptCallback | None = None
    ) -> ChatResult:
        async with self._slot(request) as hears:
            if hears is None:
                return await self._client.chat(request, on_attempt=on_attempt)
            slot_hears, caller_hears = hears, on_attempt

            async def both_hear(attempt: AttemptRecord) -> None:
                await slot_hears(attempt)  # first: the caller may stop the retries by raising
                if caller_hears is not None:
                    await caller_hears(attempt)

            return await self._client.chat(request, on_attempt=both_hear)


class RecentIndexes:
    """Grounding indexes of the documents the run's answers are checked against, built on
    first use and kept for the most recently used documents up to ``max_chars`` of text (a run
    of 100,000 documents never holds all their indexes). Shared by the grounding threads,
    hence the lock."""

    def __init__(self, max_chars: int) -> None:
        self._max_chars = max_chars
        self._built: OrderedDict[str, GroundingIndex] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.builds = 0

    def of(self, views: Sequence[DocumentView]) -> Mapping[str, GroundingIndex]:
        """The indexes of the documents ``views`` show, by doc id."""
        return _ViewIndexes(self, {view.doc_id: view for view in views})

    def index(self, view: DocumentView) -> GroundingIndex:
        with self._lock:
            index = self._built.get(view.doc_id)
            if index is not None:
                self._built.move_to_end(view.doc_id)
                return index
        index = GroundingIndex(view.text, view.page_starts)  # built outside the lock
        with self._lock:
            if view.doc_id not in self._built:
                self.builds += 1
                self._built[view.doc_id] = index
                self._chars += len(index.text)
                while self._chars > self._max_chars and len(self._built) > 1:
                    _, dropped = self._built.popitem(last=False)
                    self._chars -= len(dropped.text)
            return self._built[view.doc_id]

    @property
    def held(self) -> int:
        return len(self._built)


class _ViewIndexes(Mapping[str, GroundingIndex]):
    def __init__(self, recent: RecentIndexes, views: dict[str, DocumentView]) -> None:
        self._recent = recent
        self._views = views

    def __getitem__(self, doc_id: str) -> GroundingIndex:
        return self._recent.index(self._views[doc_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)


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
        if run.request_slot is not None:
            client = SlottedClient(client, run.request_slot)
        self.ledger = Ledger(client, admission, self.landing, tariff, run.gate.throughput, slots,
                             self.stats)  # fmt: skip
        self.sizer = PromptSizer(run.profile)
        self.indexes = RecentIndexes(INDEX_CACHE_CHARS)
        self.cascade = AnswerCascade(
            self.ledger, self.landing, run.profile, run.backend.models, run.plan.views,
            self.indexes.of, run.backend.scope, self.stats, self.sizer,
        )  # fmt: skip
        self.statuses: dict[str, WorkItemStatus] = {}
        self.stopped: RunStoppingError | None = None
        self._finished = done_before

    async def run_items(self, items: Sequence[WorkItem]) -> dict[str, WorkItemStatus]:
        """Dispatch ``items`` in order, ``ITEMS_PER_SLOT`` per request slot at a time, until
        they run out, the gate closes or the run is stopped; returns each started item's final
        status (an item never started has none)."""
        queue = iter(items)

        async def worker() -> None:
            for item in queue:  # one shared iterator: each item goes to one worker
                if self.stopped is not None or self.run.gate.closed_reason is not None:
                    return
                try:
                    await self._finish_item(item)
                except RunStoppingError as exc:
                    self.stopped = self.stopped or exc
                    return

        workers = max(1, min(len(items), self.run.max_in_flight * ITEMS_PER_SLOT))
        await gather_all(worker() for _ in range(workers))
        if self.stopped is not None:
            raise self.stopped
        return self.statuses

    async def _finish_item(self, item: WorkItem) -> None:
        status, reason = await self._run_item(item)
        self.statuses[item.item_id] = status
        self.landing.work_items([item], status, reason)
        if status is WorkItemStatus.DONE:
            await durable(self.landing.reviews(item, self.run.plan.covering))
        self._finished += 1
        report_progress(ProgressEvent("dispatch", self._finished, len(self.run.plan.items),
                                      item.group))  # fmt: skip

    def _shared_prefix_tokens(self, item: WorkItem) -> int:
        """Tokens before the fields block (instructions and documents), from counted parts."""
        documents = sum(self.sizer.document_tokens(piece) for piece in item.slices)
        return self.sizer.system_tokens() + documents + max(0, len(item.slices) - 1)

    async def _run_item(self, item: WorkItem) -> tuple[WorkItemStatus, str | None]:
        route = item.route
        assert route is not None, "work items are routed when they are planned"
        passes = self.run.profile.passes()
        try:
            first = self.cascade.plan(item, 0, passes[0], route)
            await self.cascade.run_pass(first)
            # The first pass primed the cache with the shared prefix; the rest reuse it.
            shared = self._shared_prefix_tokens(item)
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
    config = replace(run.client_config, concurrency=concurrency)
    return DeepSeekClient(backend.base_url, backend.api_key, flavour=backend.flavour,
                          config=config)  # fmt: skip


def dispatch_run(run: DispatchRun) -> DispatchReport:
    """Send the plan's work items to an end state as one pipeline; what the gate or a stopped
    run held back is left pending for the next run."""
    landing = run.landing or Landing(run.store, run.run_id, run.profile, run.backend.scope,
                                     run.clock)  # fmt: skip
    run = replace(run, landing=landing)
    items = run.plan.items
    covering = run.plan.covering
    landing.remember_run(covering, {i for item_ids in covering.values() for i in item_ids})
    dispatcher: Dispatcher | None = None

    async def send() -> None:
        nonlocal dispatcher
        async with client_for(run) as client:
            dispatcher = Dispatcher(run, client)
            await dispatcher.run_items(items)

    status, reason = RunStatus.COMPLETED, None
    with AnswerWriter(run.store) as writer, landing.writing_through(writer):
        try:
            asyncio.run(send())
        except RunStoppingError as exc:
            status, reason = RunStatus.FAILED, str(exc)
    # The writer has landed everything it was given: what has no row yet was never finished.
    if status is not RunStatus.FAILED and run.gate.closed_reason is not None:
        status, reason = RunStatus.DEFERRED, run.gate.closed_reason
    started = dispatcher.statuses if dispatcher is not None else {}
    unfinished = [item for item in items if item.item_id not in started]
    if unfinished:
        landing.pending(unfinished, reason)
    stats = dispatcher.stats if dispatcher is not None else DispatchStats()
    logger.info(
        "%s sent, %s reused from the ledger, %s escalated, %s failed, %s held back; "
        "rows landed in %s commits",
        stats.sent, stats.reused, stats.escalated, stats.failed, stats.held, writer.groups,
    )  # fmt: skip
    return DispatchReport(status, reason, stats)


def wait_until_ready(backend: Backend, timeout_seconds: float) -> list[str]:
    """A self-hosted endpoint must be up and serving its model before anything is dispatched."""

    async def wait() -> list[str]:
        async with DeepSeekClient(backend.base_url, backend.api_key, flavour=backend.flavour) as c:
            return await c.wait_until_ready(timeout_seconds, model=backend.models.flash)

    served = asyncio.run(wait())
    logger.info("endpoint ready, serving %s", ", ".join(served))
    return served
