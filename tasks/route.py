"""Routing: Flash or Pro, and a reasoning effort, by rules a person can read.

Flash is the default. Pro is chosen for high-fidelity work over a very long context and for
multi-file analysis of a large codebase. An answer that fails a checkable signal climbs the
profile's reasoning ladder (Flash at max effort, then Pro, by default). The reason is recorded
with every request.

What is routed is a document, a family (a contract with its amendments) or a part of a
repository, on its own size, before anything is packed (``ProfileRouter``); a pack then holds
one route only and stays inside ``pack_room``, so packing never moves a document to Pro.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nightshift.models import ModelIds
from nightshift.profiles import LADDER_ORDER, LadderStep, Profile
from tasks.plan import PackRoom, WorkItem

Family = Literal["flash", "pro"]


@dataclass(frozen=True)
class Route:
    family: Family
    model: str
    thinking: bool
    reasoning_effort: Literal["high", "max"] | None
    reason: str


def _route(profile: Profile, models: ModelIds, family: Family, reason: str) -> Route:
    effort = None if profile.reasoning_effort == "none" else profile.reasoning_effort
    thinking = profile.thinking and effort is not None
    return Route(family, models.of(family), thinking, effort if thinking else None, reason)


def route_item(item: WorkItem, profile: Profile, models: ModelIds) -> Route:
    """The route a work item of this size would get (``route_size`` over its documents)."""
    return route_size(item.input_tokens, len(item.doc_ids), profile, models)


def route_size(input_tokens: int, documents: int, profile: Profile, models: ModelIds) -> Route:
    """The route of ``documents`` documents of ``input_tokens`` tokens sent together."""
    policy = profile.routing
    if profile.fidelity == "high" and input_tokens > policy.pro_above_input_tokens:
        return _route(
            profile, models, "pro",
            f"high-fidelity {profile.name} review over {input_tokens:,} input tokens "
            f"(> {policy.pro_above_input_tokens:,})",
        )  # fmt: skip
    if policy.pro_min_documents and documents >= policy.pro_min_documents:
        return _route(
            profile, models, "pro",
            f"multi-file analysis across {documents} files (>= {policy.pro_min_documents})",
        )  # fmt: skip
    return _route(
        profile, models, "flash",
        f"default: {documents} document(s), {input_tokens:,} input tokens, "
        f"{profile.fidelity} fidelity",
    )  # fmt: skip


@dataclass(frozen=True)
class ProfileRouter:
    """The profile's routing rules, for the planner (``tasks.plan.Router``)."""

    profile: Profile
    models: ModelIds

    def route(self, input_tokens: int, documents: int) -> Route:
        return route_size(input_tokens, documents, self.profile, self.models)

    def pack_room(self, route: Route) -> PackRoom:
        """How large a pack of ``route`` may grow and still get ``route``: a Flash pack stays
        at or under the Pro thresholds; Pro has nothing above it."""
        if route.family == "pro":
            return PackRoom()
        policy = self.profile.routing
        tokens = policy.pro_above_input_tokens if self.profile.fidelity == "high" else None
        documents = policy.pro_min_documents - 1 if policy.pro_min_documents else None
        return PackRoom(tokens, documents)


def rung(route: Route) -> LadderStep:
    """Where ``route`` stands on the ladder (thinking off counts as the lowest effort)."""
    effort = "max" if route.reasoning_effort == "max" else "high"
    step: LadderStep = f"{route.family}:{effort}"  # type: ignore[assignment]
    return step


def escalate(route: Route, profile: Profile, models: ModelIds, why: str) -> Route | None:
    """The next rung of the profile's ladder above ``route``, or None when there is none.

    A Pro rung is skipped where Pro and Flash are one model (a self-hosted endpoint).
    """
    current = LADDER_ORDER.index(rung(route))
    for step in profile.routing.ladder:
        family, effort = step.split(":")
        if LADDER_ORDER.index(step) <= current or (family == "pro" and models.pro == models.flash):
            continue
        model = models.of(family)
        reason = f"ladder {rung(route)} -> {step} after {route.model}: {why}"
        return Route(family, model, True, effort, reason)  # type: ignore[arg-type]
    return None
