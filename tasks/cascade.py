"""The answer cascade: validate an answer, then split, escalate or give up.

A truncated answer over several fields is asked again for half the fields at a time (bounded);
an answer that fails a checkable signal (invalid JSON after repair, truncation, ungrounded
quotes) is escalated to Pro when the profile allows; what cannot be answered fails the pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from nightshift.errors import RunStoppingError
from nightshift.models import ModelIds
from nightshift.profiles import FieldSpec, Profile
from tasks.gate import HeldBack
from tasks.ground import GroundingIndex
from tasks.land import Landing
from tasks.ledger import DispatchStats, Ledger, PassFailed
from tasks.plan import WorkItem
from tasks.prompt import DocumentView, PromptSizer
from tasks.requests import PlannedRequest, plan_request
from tasks.route import Route, escalate
from tasks.validate import AnswerCheck, check_answer

MAX_SPLIT_DEPTH = 3  # a truncated answer's fields are halved at most this often


@dataclass
class AnswerCascade:
    ledger: Ledger
    landing: Landing
    profile: Profile
    models: ModelIds
    views: Mapping[str, Sequence[DocumentView]]  # work item id -> the views it shows
    indexes: Mapping[str, GroundingIndex]  # doc id -> grounding index
    scope: str  # the backend answering, part of every ledger key
    stats: DispatchStats
    sizer: PromptSizer | None = None  # sizes requests from counted parts when given

    def plan(
        self,
        item: WorkItem,
        pass_index: int,
        fields: Sequence[FieldSpec],
        route: Route,
        *,
        shared: int = 0,
        escalated_from: str | None = None,
    ) -> PlannedRequest:
        return plan_request(item, self.views[item.item_id], self.profile, fields, route,
                            pass_index, shared, escalated_from, self.scope,
                            self.sizer)  # fmt: skip

    async def run_pass(self, planned: PlannedRequest, depth: int = 0) -> None:
        views = self.views[planned.item.item_id]
        result = await self.ledger.answer(planned)
        # Grounding is CPU work: off the loop, so the requests in flight are served meanwhile.
        check = await asyncio.to_thread(
            check_answer, result.content, result.finish_reason, views,
            [f.name for f in planned.fields], self.indexes,
        )  # fmt: skip
        landed = self.landing.extractions(planned, check)
        self.landing.field_states(planned, check)
        self.stats.extractions += len(landed)
        self.stats.grounded += sum(e.grounded for e in landed)
        if not check.needs_escalation:
            return
        if check.truncated and len(planned.fields) > 1 and depth < MAX_SPLIT_DEPTH:
            # The answer did not fit max_tokens: ask for half the fields at a time.
            middle = len(planned.fields) // 2
            halves = (planned.fields[:middle], planned.fields[middle:])
            split = [
                self.plan(planned.item, planned.pass_index, half, planned.route,
                          shared=planned.predicted_cache_hit_tokens)
                for half in halves
            ]  # fmt: skip
            await gather_all(self.run_pass(p, depth + 1) for p in split)
            return
        why = escalation_reason(check)
        pro = escalate(planned.route, self.profile, self.models, why)
        if pro is None or (
            self.profile.routing.ungrounded == "keep_out" and only_ungrounded(check)
        ):
            if check.invalid_json or check.truncated:
                raise PassFailed(f"{planned.route.model}: {why}")
            return  # ungrounded extractions landed with grounded = false
        redo = planned.fields
        if not (check.invalid_json or check.truncated):
            redo = tuple(f for f in planned.fields if f.name in check.ungrounded_fields)
        self.stats.escalated += 1
        escalated = self.plan(planned.item, planned.pass_index, redo, pro,
                              escalated_from=planned.key)  # fmt: skip
        await self.run_pass(escalated, depth)


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


def escalation_reason(check: AnswerCheck) -> str:
    if check.invalid_json:
        return "invalid JSON after repair"
    if check.truncated:
        return "output truncated"
    return "ungrounded quotes for " + ", ".join(sorted(check.ungrounded_fields))


def only_ungrounded(check: AnswerCheck) -> bool:
    return not (check.invalid_json or check.truncated) and bool(check.ungrounded_fields)
