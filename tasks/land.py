"""Landing: the one place that turns the review's values into table rows and writes them.

Stages return values (attempts, checked answers, item outcomes); ``Landing`` builds their rows
(``connectors/tables.py``) and appends them through the store, so a column is filled in one
place only. During dispatch the rows go through the run's ``AnswerWriter`` instead (committed in
groups off the event loop); every write returns a future that resolves once its rows are durable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from connectors.deepseek_protocol import AttemptRecord, ChatResult
from connectors.store import Store
from connectors.tables import (
    ExtractionRow,
    FieldStateRow,
    RequestRow,
    ReviewRow,
    Row,
    WorkItemRow,
)
from nightshift.models import WorkItemStatus
from nightshift.profiles import Profile
from tasks.answer_writer import AnswerWriter
from tasks.costing import AttemptCost
from tasks.plan import WorkItem
from tasks.requests import PlannedRequest
from tasks.typed_values import typed_value, value_columns
from tasks.validate import AnswerCheck, Extraction

T = TypeVar("T")


async def durable(written: Future[T]) -> T:
    """Wait on the loop until a write of ``Landing`` has committed (its result, for a read)."""
    return await asyncio.wrap_future(written)


def work_item_row(
    item: WorkItem,
    run_id: str,
    profile: Profile,
    status: WorkItemStatus,
    reason: str | None,
    now: datetime,
) -> WorkItemRow:
    spec = [
        {"doc_id": s.doc_id, "relpath": s.relpath, "kind": str(s.kind), "tokens": s.tokens,
         "unit_start": s.unit_start, "unit_end": s.unit_end, "char_start": s.char_start,
         "char_end": s.char_end, "window": s.window}
        for s in item.slices
    ]  # fmt: skip
    return WorkItemRow(
        work_item_id=item.item_id, run_id=run_id, profile=profile.name,
        profile_version=profile.version, grp=item.group, doc_ids=list(item.doc_ids),
        spec=json.dumps(spec), input_tokens=item.input_tokens, status=str(status),
        status_reason=reason, updated_at=now,
    )  # fmt: skip


def request_row(
    planned: PlannedRequest,
    attempt: AttemptRecord,
    cost: AttemptCost,
    result: ChatResult | None,
    run_id: str,
    scope: str,
) -> RequestRow:
    """The ledger row of one attempt; ``result`` is the answer when this attempt gave it."""
    usage = attempt.usage
    answered = result if attempt.outcome == "ok" else None
    return RequestRow(
        request_key=planned.key, attempt=attempt.attempt, run_id=run_id,
        work_item_id=planned.item.item_id, pass_index=planned.pass_index,
        doc_ids=list(planned.item.doc_ids), fields=[f.name for f in planned.fields],
        model=planned.route.model, reasoning_effort=planned.route.reasoning_effort,
        thinking=planned.route.thinking, route_reason=planned.route.reason,
        escalated_from=planned.escalated_from, started_at=attempt.started_at,
        finished_at=attempt.finished_at, status=attempt.outcome,
        http_status=attempt.http_status, error=attempt.error,
        finish_reason=answered.finish_reason if answered else None,
        prompt_tokens=usage.prompt_tokens if usage else None,
        cache_hit_tokens=usage.prompt_cache_hit_tokens if usage else None,
        cache_miss_tokens=usage.prompt_cache_miss_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        reasoning_tokens=usage.reasoning_tokens if usage else None,
        predicted_cache_hit_tokens=planned.predicted_cache_hit_tokens,
        cost_usd=cost.usd, started_off_peak=cost.started_off_peak,
        finished_off_peak=cost.finished_off_peak, off_peak=cost.off_peak,
        response=answered.content if answered else None, backend=scope,
        continues=planned.continues,
    )  # fmt: skip


@dataclass
class Landing:
    """Writes one review run's rows: the ledger, extractions, work items and reviews."""

    store: Store
    run_id: str
    profile: Profile
    scope: str  # the backend answering
    clock: Callable[[], datetime]
    # (doc, field, start, end) of grounded extractions landed in this run: the overlap of two
    # windows finds the same clause twice, and it lands once.
    _landed: set[tuple[str, str, int | None, int | None]] = field(default_factory=set)
    # Pages whose text came from OCR, by document, read once per document per run.
    _ocr_pages: dict[str, set[int]] = field(default_factory=dict)
    writer: AnswerWriter | None = None  # set while a dispatch writes through one
    # What ``remember_run`` read at once so that no answer waits on a read of its own: keys
    # with a successful answer (earlier runs, then this one), the run's items done in earlier
    # runs, this run's item outcomes. None before ``remember_run``: read the store per call.
    _answered: set[str] | None = None
    _done_before: set[str] | None = None
    _outcomes: dict[str, WorkItemStatus] = field(default_factory=dict)
    _ocr_read: bool = False  # every document of the run has its OCR pages in ``_ocr_pages``

    def remember_run(self, doc_ids: Iterable[str], item_ids: Iterable[str]) -> None:
        """Read the bookkeeping of a whole dispatch up front (three bulk reads), before any
        write of it is queued: the ledger's answered keys, which of ``item_ids`` earlier runs
        finished, the OCR pages of ``doc_ids``. Afterwards the ledger check and the review
        check of an answer are set look-ups, and a key is read only when it has an answer."""
        self._answered = self.store.successful_request_keys()
        self._done_before = self.store.done_work_items(item_ids, self.profile.name,
                                                       self.profile.version)  # fmt: skip
        self._ocr_pages.update(self.store.ocr_pages(doc_ids))  # only documents with OCR pages
        self._ocr_read = True

    @contextmanager
    def writing_through(self, writer: AnswerWriter) -> Iterator[None]:
        """Send every write through ``writer`` inside the block."""
        self.writer = writer
        try:
            yield
        finally:
            self.writer = None

    def _append(self, rows: Sequence[Row]) -> Future[None]:
        if self.writer is not None:
            return self.writer.append(rows)
        self.store.append(rows)
        return _done(None)

    def _call(self, read: Callable[[Store], T]) -> Future[T]:
        if self.writer is not None:
            return self.writer.call(read)
        return _done(read(self.store))

    def stored_answer(self, key: str) -> Future[dict[str, Any] | None]:
        """The ledger's successful answer to ``key``, if it has one (read after every row
        queued before)."""
        if self._answered is not None and key not in self._answered:
            return _done(None)
        return self._call(lambda store: store.successful_responses([key]).get(key))

    def attempts(
        self,
        planned: PlannedRequest,
        attempts: Sequence[tuple[AttemptRecord, AttemptCost]],
        result: ChatResult | None,
    ) -> Future[None]:
        answered = result is not None and any(a.outcome == "ok" for a, _ in attempts)
        if self._answered is not None and answered:
            self._answered.add(planned.key)  # read back through the writer, after its row
        return self._append([
            request_row(planned, attempt, cost, result, self.run_id, self.scope)
            for attempt, cost in attempts
        ])  # fmt: skip

    def extractions(self, planned: PlannedRequest, check: AnswerCheck) -> list[Extraction]:
        """Land the answer's extractions; returns those landed (window duplicates dropped)."""
        now = self.clock()
        landed, rows = [], []
        unread = set() if self._ocr_read else {e.doc_id for e in check.extractions}
        unread -= self._ocr_pages.keys()
        if unread:
            found = self.store.ocr_pages(unread)
            self._ocr_pages.update({doc_id: found.get(doc_id, set()) for doc_id in unread})
        for extraction in check.extractions:
            key = (extraction.doc_id, extraction.field, extraction.char_start, extraction.char_end)
            if extraction.grounded and key in self._landed:
                continue
            self._landed.add(key)
            landed.append(extraction)
            rows.append(self._extraction_row(planned, extraction, now))
        self._append(rows)
        return landed

    def field_states(self, planned: PlannedRequest, check: AnswerCheck) -> None:
        """Land the state of every asked field of every document the request showed."""
        now = self.clock()
        window = {s.doc_id: s.window for s in planned.item.slices}
        self._append([
            FieldStateRow(self.run_id, o.doc_id, self.profile.name, self.profile.version,
                          o.field, str(o.state), planned.key, window.get(o.doc_id), self.scope,
                          now)
            for o in check.outcomes
        ])  # fmt: skip

    def _extraction_row(
        self, planned: PlannedRequest, e: Extraction, now: datetime
    ) -> ExtractionRow:
        spec = self.profile.field(e.field)
        return ExtractionRow(
            run_id=self.run_id, doc_id=e.doc_id, request_key=planned.key,
            work_item_id=planned.item.item_id, profile=self.profile.name,
            profile_version=self.profile.version, field=e.field,
            value=json.dumps(e.value, ensure_ascii=False), quote=e.quote,
            char_start=e.char_start, char_end=e.char_end, page=e.page, file=e.file,
            line=e.line, grounded=e.grounded, match=e.match, window=e.window,
            model=planned.route.model, created_at=now, backend=self.scope,
            match_score=e.score if e.grounded else None,
            ocr=e.grounded and e.page in self._ocr_pages.get(e.doc_id, set()),
            **value_columns(typed_value(spec.type if spec else "text", e.value)),
        )  # fmt: skip

    def work_items(
        self, items: Iterable[WorkItem], status: WorkItemStatus, reason: str | None
    ) -> Future[None]:
        now = self.clock()
        items = list(items)
        self._outcomes.update((item.item_id, status) for item in items)
        return self._append(
            [work_item_row(item, self.run_id, self.profile, status, reason, now) for item in items]
        )

    def pending(self, items: Sequence[WorkItem], reason: str | None) -> None:
        """Record work that was not finished as pending, so the next run takes it first;
        items this run already recorded keep their state."""
        recorded = self._call(lambda store: store.work_items_of_run(self.run_id)).result()
        self.work_items(
            (item for item in items if item.item_id not in recorded),
            WorkItemStatus.PENDING,
            reason,
        )

    def reviews(self, item: WorkItem, covering: dict[str, set[str]]) -> Future[None]:
        """A document is reviewed once every item covering it is done, in this run or an
        earlier one (its windows may span nights): read and written after the item's own row."""
        needed = {i for doc_id in item.doc_ids for i in covering.get(doc_id, {item.item_id})}
        now = self.clock()
        if self._done_before is not None:
            done = {i for i in needed if self._is_done(i)}
            # Queued after the item's own row: resolved, both are durable.
            return self._append([
                ReviewRow(doc_id, self.profile.name, self.profile.version, self.run_id, now,
                          self.scope)
                for doc_id in item.doc_ids
                if covering.get(doc_id, {item.item_id}) <= done
            ])  # fmt: skip

        def land(store: Store) -> None:
            done = store.done_work_items(needed, self.profile.name, self.profile.version)
            store.append([
                ReviewRow(doc_id, self.profile.name, self.profile.version, self.run_id, now,
                          self.scope)
                for doc_id in item.doc_ids
                if covering.get(doc_id, {item.item_id}) <= done
            ])  # fmt: skip

        return self._call(land)

    def _is_done(self, item_id: str) -> bool:
        """Done as far as ``current_work_items`` would say: this run's outcome, else an
        earlier run's."""
        outcome = self._outcomes.get(item_id)
        if outcome is not None:
            return outcome is WorkItemStatus.DONE
        return self._done_before is not None and item_id in self._done_before


def _done(result: T) -> Future[T]:
    done: Future[T] = Future()
    done.set_result(result)
    return done
