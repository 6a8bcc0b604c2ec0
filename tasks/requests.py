"""One request of a work item: its messages, its route, its ledger key and its expected size.

Pure: building a request sends nothing. Pricing a plan and dispatching it build requests the
same way, so the key a plan prices is the key dispatch sends (and the ledger remembers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from connectors.deepseek_protocol import ChatRequest, request_key
from nightshift.profiles import FieldSpec, Profile
from nightshift.tokenizer import count_tokens
from tasks.plan import WorkItem
from tasks.prompt import DocumentView, PromptSizer, build_messages
from tasks.route import Route


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
    request = ChatRequest(
        model=route.model,
        messages=messages,
        max_tokens=profile.max_tokens,
        thinking=route.thinking,
        reasoning_effort=route.reasoning_effort,
        json_mode=True,
    )
    if sizer is not None:
        prompt_tokens = sizer.system_tokens() + sizer.user_tokens(item.slices, fields)
    else:
        prompt_tokens = sum(count_tokens(m["content"]) for m in messages)
    identity = f"{scope}\n{profile.name}@{profile.version}\n{request_key(request)}"
    key = hashlib.sha256(identity.encode()).hexdigest()
    return PlannedRequest(
        item, pass_index, tuple(fields), route, request, key, prompt_tokens,
        shared_prefix_tokens, expected_output_tokens(item, profile, fields), escalated_from,
    )  # fmt: skip


def expected_output_tokens(item: WorkItem, profile: Profile, fields: Sequence[FieldSpec]) -> int:
    """The answer's expected size: the profile's estimate per document, for the fields asked."""
    per_item = profile.output_tokens_per_document * len(item.doc_ids)
    return min(profile.max_tokens, per_item * len(fields) // len(profile.fields) + 1)
