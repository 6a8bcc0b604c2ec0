"""The answer cascade: continue, validate, then split, climb the ladder or give up.

An answer cut at ``max_tokens`` is continued from where it stopped (chat-prefix completion); one
still cut is asked again for half the fields at a time (bounded); an answer that fails a
checkable signal (invalid JSON after repair, truncation, ungrounded quotes, fields left
unanswered) climbs the profile's reasoning ladder; what cannot be answered fails the pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from connectors.deepseek_protocol import ChatResult
from nightshift.errors import RunStoppingError
from nightshift.models import ModelIds
from nightshift.profiles import FieldSpec, Profile, Signal
from tasks.gate import HeldBack
from tasks.ground import GroundingIndex
from tasks.land import Landing
from tasks.ledger import DispatchStats, Ledger, PassFailed
from tasks.plan import WorkItem
from tasks.prompt import DocumentView, PromptSizer
from tasks.requests import PlannedRequest, plan_continuation, plan_request
from tasks.route import Route, escalate
from tasks.validate import AnswerCheck, FieldState, check_answer

MAX_SPLIT_DEPTH = 3  # a truncated answer's fields are halved at most this often
MAX_CONTINUATIONS = 2  # a cut answer is continued from its prefix at most this often


@dataclass
class AnswerCascade:
    ledger: Ledger
    landing: Landing
    profile: Profile
    models: ModelIds
    views: Mapping[str, Sequence[DocumentView]]  # work item id -> the views it shows
    # The grounding indexes of the documents some views show, by doc id
    indexes_of: Callable[[Sequence[DocumentView]], Mapping[str, GroundingIndex]]
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
        planned, result = await self._answer_whole(planned)
        # Grounding is CPU work: off the loop, so the requests in flight are served meanwhile.
        check = await asyncio.to_thread(
            check_answer, result.content, result.finish_reason, views,
            [f.name for f in planned.fields], self.indexes_of(views),
        )  # fmt: skip
        landed = self.landing.extractions(planned, check)
        self.landing.field_states(planned, check)
        self.stats.extractions += len(landed)
        self.stats.grounded += sum(e.grounded for e in landed)
        signals = failed_signals(check) & set(self.profile.routing.escalate_on)
        if not signals:
            return
        if check.truncated and len(planned.fields) > 1 and depth < MAX_SPLIT_DEPTH:
            # Still cut after continuing (or cut while thinking): half the fields at a time.
            middle = len(planned.fields) // 2
            halves = (planned.fields[:middle], planned.fields[middle:])
            split = [
                self.plan(planned.item, planned.pass_index, half, planned.route,
                          shared=planned.predicted_cache_hit_tokens)
                for half in halves
            ]  # fmt: skip
            await gather_all(self.run_pass(p, depth + 1) for p in split)
            return
        why = escalation_reason(check, signals)
        harder = escalate(planned.route, self.profile, self.models, why)
        if harder is None or (
            self.profile.routing.ungrounded == "keep_out" and signals == {"ungrounded"}
        ):
            if check.invalid_json or check.truncated:
                raise PassFailed(f"{planned.route.model}: {why}")
            return  # what landed stays: ungrounded extractions with grounded = false
        redo = planned.fields
        if not signals & {"invalid_json", "truncated"}:
            again = (check.ungrounded_fields if "ungrounded" in signals else set()) | (
                missing_fields(check) if "missing" in signals else set()
            )
            redo = tuple(f for f in planned.fields if f.name in again)
        self.stats.escalated += 1
        escalated = self.plan(planned.item, planned.pass_index, redo, harder,
                              escalated_from=planned.key)  # fmt: skip
        await self.run_pass(escalated, depth)

    async def _answer_whole(self, planned: PlannedRequest) -> tuple[PlannedRequest, ChatResult]:
        """The answer to ``planned``, continued from where ``max_tokens`` cut it (chat-prefix
        completion) at most ``MAX_CONTINUATIONS`` times. Each continuation is a request of its
        own in the ledger, so a rerun reuses it; returns the last request and the whole answer.
        """
        result = await self.ledger.answer(planned)
        content = result.content
        for _ in range(MAX_CONTINUATIONS):
            if result.finish_reason != "length" or not result.content:
                break  # whole, or cut while thinking: nothing to continue from
            planned = plan_continuation(planned, content, self.profile, self.scope)
            self.stats.continued += 1
            result = await self.ledger.answer(planned)
            content += result.content
        return planned, replace(result, content=content)


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


def failed_signals(check: AnswerCheck) -> set[Signal]:
    """The checkable ways an answer fell short (see ``RoutingPolicy.escalate_on``)."""
    signals: set[Signal] = set()
    if check.invalid_json:
        signals.add("invalid_json")
    if check.truncated:
        signals.add("truncated")
    if check.ungrounded_fields:
        signals.add("ungrounded")
    if missing_fields(check):
        signals.add("missing")
    return signals


def missing_fields(check: AnswerCheck) -> set[str]:
    """Fields asked of a document that the answer neither answered nor declared absent."""
    return {o.field for o in check.outcomes if o.state is FieldState.MISSING}


def escalation_reason(check: AnswerCheck, signals: set[Signal]) -> str:
    if "invalid_json" in signals:
        return "invalid JSON after repair"
    if "truncated" in signals:
        return "output truncated after continuing it"
    reasons = []
    if "ungrounded" in signals:
        reasons.append("ungrounded quotes for " + ", ".join(sorted(check.ungrounded_fields)))
    if "missing" in signals:
        reasons.append("no answer for " + ", ".join(sorted(missing_fields(check))))
    return "; ".join(reasons)
