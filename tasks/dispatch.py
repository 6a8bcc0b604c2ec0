"""Dispatch: send each work item's requests, validate, escalate, and land what comes back.

The fan-out happens here with asyncio (Prefect task runs are per batch, never per request).
Every attempt is written to the ledger as soon as its request ends, with the answer, so a run
killed at any moment loses nothing it paid for: a rerun finds the key's answer in the ledger
and does not send it again. A work item is ``done`` when all its passes landed, ``failed``
when a pass failed for good, ``pending`` when the gate (budget or window) held it back.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connectors.deepseek_protocol import (
    AttemptRecord,
    ChatRequest,
    ChatResult,
    Usage,
    request_key,
)
from connectors.store import Store
from connectors.tables import ExtractionRow, RequestRow, ReviewRow, WorkItemRow
from nightshift.errors import ModelAPIError, RunStoppingError
from nightshift.offpeak import is_off_peak
from nightshift.profiles import FieldSpec, Profile
from nightshift.tokenizer import count_tokens
from tasks.gate import WAIT_FOR_SETTLEMENT, Gate
from tasks.ground import GroundingIndex
from tasks.plan import WorkItem
from tasks.prompt import DocumentView, build_messages, shared_prefix_tokens
from tasks.route import ModelIds, Route, escalate, route_item
from tasks.validate import AnswerCheck, Extraction, check_answer

MAX_SPLIT_DEPTH = 3  # a truncated answer's fields are halved at most this often


class ChatClient(Protocol):
    async def chat(self, request: ChatRequest) -> ChatResult: ...


Pricer = Callable[..., float]  # (model, hit, miss, output, at, period_kind=...) -> USD
WorstCase = Callable[[str, int, int, datetime], float]  # model, prompt, max_tokens, at -> USD


@dataclass(frozen=True)
class PlannedRequest:
    item: WorkItem
    pass_index: int
    fields: tuple[FieldSpec, ...]
    route: Route
    request: ChatRequest
    key: str
    prompt_tokens: int
    predicted_cache_hit_tokens: int
    expected_output_tokens: int
    escalated_from: str | None = None


class HeldBack(Exception):
    """The gate did not admit a request; its work item stays pending."""


class PassFailed(Exception):
    """A pass could not be answered (after retries, repair and escalation)."""


def plan_request(
    item: WorkItem,
    views: Sequence[DocumentView],
    profile: Profile,
    fields: Sequence[FieldSpec],
    route: Route,
    pass_index: int,
    shared_prefix_tokens: int = 0,
    escalated_from: str | None = None,
    scope: str = "",
) -> PlannedRequest:
    """The request for ``fields`` over ``views``. Its ledger key is the hash of everything that
    determines the answer and of ``scope``, the backend that answers it: an answer from the
    simulator or from a self-hosted endpoint is never reused as DeepSeek's."""
    messages = build_messages(profile, views, fields)
    request = ChatRequest(
        model=route.model,
        messages=messages,
        max_tokens=profile.max_tokens,
        thinking=route.thinking,
        reasoning_effort=route.reasoning_effort,
        json_mode=True,
    )
    prompt_tokens = sum(count_tokens(m["content"]) for m in messages)
    expected_output = min(
        profile.max_tokens,
        profile.output_tokens_per_document * len(item.doc_ids) * len(fields) // len(profile.fields)
        + 1,
    )
    key = request_key(request)
    if scope:
        key = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
    return PlannedRequest(
        item, pass_index, tuple(fields), route, request, key, prompt_tokens,
        shared_prefix_tokens, expected_output, escalated_from,
    )  # fmt: skip


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
class Dispatcher:
    store: Store
    client: ChatClient
    profile: Profile
    models: ModelIds
    run_id: str
    views: dict[str, list[DocumentView]]  # work item id -> the document views it shows
    indexes: Mapping[str, GroundingIndex]  # doc id -> grounding index
    pricer: Pricer
    worst_case: WorstCase
    gate: Gate
    clock: Callable[[], datetime]
    max_in_flight: int = 32
    on_item_done: Callable[[WorkItem, str], None] | None = None
    scope: str = ""  # the backend answering, part of every ledger key
    stats: DispatchStats = field(default_factory=DispatchStats)
    _landed: set[tuple[str, str, int | None, int | None]] = field(default_factory=set)
    _slots: asyncio.Semaphore | None = None
    _settled: asyncio.Condition | None = None

    def _plan(self, item: WorkItem, fields: Sequence[FieldSpec], route: Route, pass_index: int,
              shared: int = 0, escalated_from: str | None = None) -> PlannedRequest:  # fmt: skip
        return plan_request(item, self.views[item.item_id], self.profile, fields, route,
                            pass_index, shared, escalated_from, self.scope)  # fmt: skip

    async def run(self, items: Sequence[WorkItem], covering: dict[str, set[str]]) -> dict[str, str]:
        """Dispatch ``items``; ``covering`` maps each doc id to the ids of items that cover it.
        Returns each item's final status."""
        self._slots = asyncio.Semaphore(self.max_in_flight)
        self._settled = asyncio.Condition()
        statuses: dict[str, str] = {}

        async def one(item: WorkItem) -> None:
            status, reason = await self._run_item(item)
            statuses[item.item_id] = status
            self._record_item(item, status, reason)
            if status == "done":
                self._record_reviews(item, covering)
            if self.on_item_done is not None:
                self.on_item_done(item, status)

        await gather_all(one(item) for item in items)
        return statuses

    async def _run_item(self, item: WorkItem) -> tuple[str, str | None]:
        views = self.views[item.item_id]
        route = route_item(item, self.profile, self.models)
        passes = self.profile.passes()
        try:
            first = self._plan(item, passes[0], route, 0)
            await self._run_pass(first, views, depth=0)
            # The first pass primed the cache with the shared prefix; the rest reuse it.
            shared = shared_prefix_tokens(first.request.messages)
            rest = [
                self._plan(item, fields, route, index, shared)
                for index, fields in enumerate(passes[1:], start=1)
            ]
            await gather_all(self._run_pass(p, views, depth=0) for p in rest)
        except HeldBack as held:
            self.stats.held += 1
            return "pending", str(held)
        except PassFailed as failed:
            return "failed", str(failed)
        return "done", None

    async def _run_pass(
        self, planned: PlannedRequest, views: Sequence[DocumentView], depth: int
    ) -> None:
        result = await self._send_or_reuse(planned)
        check = check_answer(
            result.content, result.finish_reason, views,
            [f.name for f in planned.fields], self.indexes,
        )  # fmt: skip
        self._land(planned, check)
        if not check.needs_escalation:
            return
        if check.truncated and len(planned.fields) > 1 and depth < MAX_SPLIT_DEPTH:
            # The answer did not fit max_tokens: ask for half the fields at a time.
            middle = len(planned.fields) // 2
            halves = (planned.fields[:middle], planned.fields[middle:])
            split = [
                self._plan(planned.item, half, planned.route, planned.pass_index,
                           planned.predicted_cache_hit_tokens)
                for half in halves
            ]  # fmt: skip
            await gather_all(self._run_pass(p, views, depth + 1) for p in split)
            return
        why = _escalation_reason(check)
        pro = escalate(planned.route, self.profile, self.models, why)
        if pro is None or (
            self.profile.routing.ungrounded == "keep_out" and _only_ungrounded(check)
        ):
            if check.invalid_json or check.truncated:
                raise PassFailed(f"{planned.route.model}: {why}")
            return  # ungrounded extractions landed with grounded = false
        redo = planned.fields
        if not (check.invalid_json or check.truncated):
            redo = tuple(f for f in planned.fields if f.name in check.ungrounded_fields)
        self.stats.escalated += 1
        escalated = self._plan(planned.item, redo, pro, planned.pass_index,
                               escalated_from=planned.key)  # fmt: skip
        await self._run_pass(escalated, views, depth)

    async def _send_or_reuse(self, planned: PlannedRequest) -> ChatResult:
        stored = self.store.successful_responses([planned.key]).get(planned.key)
        if stored is not None:
            self.stats.reused += 1
            return ChatResult(stored["response"] or "", None, stored["finish_reason"], Usage(),
                              stored["model"])  # fmt: skip
        assert self._slots is not None and self._settled is not None
        async with self._slots:
            worst = await self._admit(planned)
            try:
                result = await self.client.chat(planned.request)
            except ModelAPIError as exc:
                attempts: Sequence[AttemptRecord] = getattr(exc, "attempts", ())
                await self._settle(worst, self._record_attempts(planned, attempts, None))
                self.stats.failed += 1
                if isinstance(exc, RunStoppingError):
                    raise
                raise PassFailed(f"{planned.route.model}: {exc}") from exc
            await self._settle(worst, self._record_attempts(planned, result.attempts, result))
            self.stats.sent += 1
            last = result.attempts[-1]
            seconds = (last.finished_at - last.started_at).total_seconds()
            self.gate.throughput.observe(
                planned.prompt_tokens, result.usage.completion_tokens, seconds
            )
            return result

    async def _admit(self, planned: PlannedRequest) -> float:
        """Reserve the request's worst case, waiting while only in-flight reservations (which
        settle lower) stand in the way; raise HeldBack when the gate says no."""
        assert self._settled is not None
        async with self._settled:
            while True:
                now = self.clock()
                worst = self.worst_case(planned.route.model, planned.prompt_tokens,
                                        self.profile.max_tokens, now)  # fmt: skip
                tokens = (planned.prompt_tokens, planned.expected_output_tokens)
                decision = self.gate.admit(now, worst, *tokens)
                if decision is None:
                    return worst
                if decision != WAIT_FOR_SETTLEMENT:
                    raise HeldBack(decision)
                await self._settled.wait()

    async def _settle(self, worst: float, actual: float) -> None:
        assert self._settled is not None
        async with self._settled:
            self.gate.settle(worst, actual)
            self._settled.notify_all()

    def _record_attempts(
        self, planned: PlannedRequest, attempts: Sequence[AttemptRecord], result: ChatResult | None
    ) -> float:
        rows, total = [], 0.0
        for attempt in attempts:
            usage = attempt.usage
            ok = attempt.outcome == "ok" and result is not None
            started_off = is_off_peak(attempt.started_at)
            finished_off = is_off_peak(attempt.finished_at)
            cost = 0.0
            if usage is not None:  # an answer was billed, even one that was retried
                # Which instant DeepSeek bills by is not documented: a request that did not
                # both start and finish off-peak is priced at peak.
                kind = "off_peak" if started_off and finished_off else "peak"
                cost = self.pricer(planned.route.model, usage.prompt_cache_hit_tokens,
                                   usage.prompt_cache_miss_tokens, usage.completion_tokens,
                                   attempt.started_at, period_kind=kind)  # fmt: skip
            total += cost
            rows.append(RequestRow(
                request_key=planned.key, attempt=attempt.attempt, run_id=self.run_id,
                work_item_id=planned.item.item_id, pass_index=planned.pass_index,
                doc_ids=list(planned.item.doc_ids), fields=[f.name for f in planned.fields],
                model=planned.route.model, reasoning_effort=planned.route.reasoning_effort,
                thinking=planned.route.thinking, route_reason=planned.route.reason,
                escalated_from=planned.escalated_from, started_at=attempt.started_at,
                finished_at=attempt.finished_at, status=attempt.outcome,
                http_status=attempt.http_status, error=attempt.error,
                finish_reason=result.finish_reason if ok and result else None,
                prompt_tokens=usage.prompt_tokens if usage else None,
                cache_hit_tokens=usage.prompt_cache_hit_tokens if usage else None,
                cache_miss_tokens=usage.prompt_cache_miss_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
                reasoning_tokens=usage.reasoning_tokens if usage else None,
                predicted_cache_hit_tokens=planned.predicted_cache_hit_tokens,
                cost_usd=cost, started_off_peak=started_off,
                finished_off_peak=finished_off, off_peak=started_off and finished_off,
                response=result.content if ok and result else None, backend=self.scope,
            ))  # fmt: skip
        self.store.append(rows)
        return total

    def _land(self, planned: PlannedRequest, check: AnswerCheck) -> None:
        now = self.clock()
        rows = []
        for extraction in check.extractions:
            key = (extraction.doc_id, extraction.field, extraction.char_start, extraction.char_end)
            if extraction.grounded and key in self._landed:
                continue  # the overlap of two windows found the same clause twice
            self._landed.add(key)
            rows.append(self._extraction_row(planned, extraction, now))
            self.stats.extractions += 1
            self.stats.grounded += extraction.grounded
        self.store.append(rows)

    def _extraction_row(
        self, planned: PlannedRequest, e: Extraction, now: datetime
    ) -> ExtractionRow:
        return ExtractionRow(
            run_id=self.run_id, doc_id=e.doc_id, request_key=planned.key,
            work_item_id=planned.item.item_id, profile=self.profile.name,
            profile_version=self.profile.version, field=e.field,
            value=json.dumps(e.value, ensure_ascii=False), quote=e.quote,
            char_start=e.char_start, char_end=e.char_end, page=e.page, file=e.file,
            line=e.line, grounded=e.grounded, match=e.match, window=e.window,
            model=planned.route.model, backend=self.scope, created_at=now,
        )  # fmt: skip

    def _record_item(self, item: WorkItem, status: str, reason: str | None) -> None:
        row = work_item_row(item, self.run_id, self.profile, status, reason, self.clock())
        self.store.append([row])

    def _record_reviews(self, item: WorkItem, covering: dict[str, set[str]]) -> None:
        """A document is reviewed once every item covering it is done, in this run or an
        earlier one (its windows may span batches and nights)."""
        now = self.clock()
        needed = {i for doc_id in item.doc_ids for i in covering.get(doc_id, {item.item_id})}
        rows = self.store.rows_for_keys(
            "work_item_id", needed,
            "SELECT work_item_id, status, profile, profile_version FROM current_work_items "
            "JOIN _keys USING (work_item_id)",
        )  # fmt: skip
        mine = (self.profile.name, self.profile.version, "done")
        done = {r["work_item_id"] for r in rows
                if (r["profile"], r["profile_version"], r["status"]) == mine}  # fmt: skip
        reviews = [
            ReviewRow(doc_id, self.profile.name, self.profile.version, self.run_id, now,
                      self.scope)
            for doc_id in item.doc_ids
            if covering.get(doc_id, {item.item_id}) <= done
        ]  # fmt: skip
        self.store.append(reviews)


async def gather_all(coroutines: Iterable[Awaitable[object]]) -> None:
    """Await every coroutine to its end, then raise the most serious failure among them.

    A sibling is never abandoned mid-request: a request already sent is paid for, so it must
    finish and reach the ledger before a failure of another ends the item or the batch.
    """
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    for kind in (RunStoppingError, HeldBack, PassFailed, BaseException):
        for failure in failures:
            if isinstance(failure, kind):
                raise failure


def work_item_row(
    item: WorkItem, run_id: str, profile: Profile, status: str, reason: str | None, now: datetime
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
        spec=json.dumps(spec), input_tokens=item.input_tokens, status=status,
        status_reason=reason, updated_at=now,
    )  # fmt: skip


def _escalation_reason(check: AnswerCheck) -> str:
    if check.invalid_json:
        return "invalid JSON after repair"
    if check.truncated:
        return "output truncated"
    return "ungrounded quotes for " + ", ".join(sorted(check.ungrounded_fields))


def _only_ungrounded(check: AnswerCheck) -> bool:
    return not (check.invalid_json or check.truncated) and bool(check.ungrounded_fields)
