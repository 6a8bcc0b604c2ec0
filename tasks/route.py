"""Routing: Flash or Pro, and a reasoning effort, by rules a person can read.

Flash is the default. Pro is chosen for high-fidelity work over a very long context and for
multi-file analysis of a large codebase; a Flash answer that fails validation or grounding
after one repair is escalated to Pro. The reason is recorded with every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from nightshift.models import ModelIds
from nightshift.profiles import Profile

if TYPE_CHECKING:
    from tasks.plan import WorkItem

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
    """The route of ``item``, decided once when it is planned (``WorkItem.route``)."""
    policy = profile.routing
    documents = len(item.doc_ids)
    if profile.fidelity == "high" and item.input_tokens > policy.pro_above_input_tokens:
        return _route(
            profile, models, "pro",
            f"high-fidelity {profile.name} review over {item.input_tokens:,} input tokens "
            f"(> {policy.pro_above_input_tokens:,})",
        )  # fmt: skip
    if policy.pro_min_documents and documents >= policy.pro_min_documents:
        return _route(
            profile, models, "pro",
            f"multi-file analysis across {documents} files (>= {policy.pro_min_documents})",
        )  # fmt: skip
    return _route(
        profile, models, "flash",
        f"default: {documents} document(s), {item.input_tokens:,} input tokens, "
        f"{profile.fidelity} fidelity",
    )  # fmt: skip


def escalate(route: Route, profile: Profile, models: ModelIds, why: str) -> Route | None:
    """The Pro route for an answer that failed on Flash, or None when there is none."""
    if route.family == "pro" or not profile.routing.escalate or models.pro == models.flash:
        return None  # nothing stronger to go to (a self-hosted endpoint serves one model)
    return _route(profile, models, "pro", f"escalated from {route.model}: {why}")
