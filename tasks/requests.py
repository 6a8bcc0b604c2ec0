"""One request of a work item: its messages, its route, its ledger key and its expected size.

Pure: building a request sends nothing. Pricing a plan and dispatching it build requests the
same way, so the key a plan prices is the key dispatch sends (and the ledger remembers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from connectors.deepseek_protocol import ChatRequest, request_key
from nightshift.profiles import FieldSpec, Profile
from nightshift.tokenizer import count_tokens
from tasks.plan import WorkItem
from tasks.prompt import DocumentView, PromptSizer, build_messages
from tasks.route import Route

# Room for thinking on top of the answer's own room, by reasoning effort: reasoning tokens count
# toward ``max_tokens``. With the default answer room of 16K these make DeepSeek's own defaults
# in thinking mode (64K, and 128K at ``max``).
REASONING_ROOM = {None: 0, "high": 49_152, "max": 114_688}
MAX_OUTPUT_TOKENS = 393_216  # DeepSeek V4's largest max_tokens


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
    continues: str | None = None  # the key of the truncated answer this request continues


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
    sizer: PromptSizer | None = None,
) -> PlannedRequest:
    """The request for ``fields`` over ``views``. Its ledger key is the hash of everything that
    should cause a new answer: the request itself, the profile's name and version (a new
    version asks again even when its prompt did not change), and ``scope``, the backend that
    answers it (an answer from the simulator or a self-hosted endpoint never passes for
    DeepSeek's). With ``sizer`` its tokens are summed from counted parts (no tokenizing on a
    dispatch's event loop); without, the rendered prompt is counted."""
    messages = build_messages(profile, views, fields)
    expected = expected_output_tokens(item, profile, fields)
    request = ChatRequest(
        model=route.model,
        messages=messages,
        max_tokens=request_max_tokens(route, profile),
        thinking=route.thinking,
        reasoning_effort=route.reasoning_effort,
        json_mode=True,
    )
    if sizer is not None and len(views) == len(item.slices):
        # Sized from counted parts; a later night's context views are rendered and counted.
        prompt_tokens = sizer.system_tokens() + sizer.user_tokens(item.slices, fields)
    else:
        prompt_tokens = sum(count_tokens(m["content"]) for m in messages)
    return PlannedRequest(
        item, pass_index, tuple(fields), route, request, ledger_key(request, profile, scope),
        prompt_tokens, shared_prefix_tokens, expected, escalated_from,
    )  # fmt: skip


def ledger_key(request: ChatRequest, profile: Profile, scope: str) -> str:
    identity = f"{scope}\n{profile.name}@{profile.version}\n{request_key(request)}"
    return hashlib.sha256(identity.encode()).hexdigest()


def request_max_tokens(route: Route, profile: Profile) -> int:
    """The answer's room (the profile's ``max_tokens``) plus room to think at the route's
    effort: a thinking request with only the answer's room would be cut while reasoning."""
    effort = route.reasoning_effort if route.thinking else None
    return min(MAX_OUTPUT_TOKENS, profile.max_tokens + REASONING_ROOM[effort])


def reasoning_room(profile: Profile) -> int:
    """The most room to think that any request of ``profile`` may take, its ladder included."""
    efforts: list[str | None] = [profile.reasoning_effort if profile.thinking else None]
    efforts += [step.split(":")[1] for step in profile.routing.ladder]
    return max(REASONING_ROOM.get(effort, 0) for effort in efforts)


def plan_continuation(
    planned: PlannedRequest, prefix: str, profile: Profile, scope: str
) -> PlannedRequest:
    """The request that continues ``planned``'s answer from ``prefix`` (chat-prefix completion).

    Thinking is off: the reasoning was done and paid for in the cut answer; what is left is
    writing the rest of it. The whole earlier prompt is a cached prefix of this one.
    """
    route = replace(planned.route, thinking=False, reasoning_effort=None,
                    reason=f"continues {planned.key[:12]} cut at max_tokens")  # fmt: skip
    request = replace(planned.request, prefix=prefix, thinking=False, reasoning_effort=None,
                      max_tokens=profile.max_tokens)  # fmt: skip
    return replace(
        planned, route=route, request=request, key=ledger_key(request, profile, scope),
        prompt_tokens=planned.prompt_tokens + count_tokens(prefix),
        predicted_cache_hit_tokens=planned.prompt_tokens, continues=planned.key,
    )  # fmt: skip


def expected_output_tokens(item: WorkItem, profile: Profile, fields: Sequence[FieldSpec]) -> int:
    """The answer's expected size: the profile's estimate per document, for the fields asked."""
    per_item = profile.output_tokens_per_document * len(item.doc_ids)
    return min(profile.max_tokens, per_item * len(fields) // len(profile.fields) + 1)
