"""Planning a review: read what to review from the store, then plan it purely.

``load_plan_inputs`` does every read (candidates, their texts, the work left pending);
``plan_review`` turns those inputs into routed work items with the views each request shows.
Planning is deterministic, so work left pending by an earlier run (window closed, budget
spent) is planned into the same items with the same request keys: answers already in the
ledger are reused, and those items go first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.store import Store
from nightshift.models import DocKind, ModelIds
from nightshift.profiles import Profile
from nightshift.tokenizer import load_tokenizer
from tasks.families import with_family_context
from tasks.ground import GroundingIndex
from tasks.plan import Budget, PlanDocument, Slice, WorkItem, plan_work, single_item
from tasks.prompt import DocumentView, fixed_prompt_tokens
from tasks.requests import reasoning_room
from tasks.review_context import RepositoryContext, add_context, load_repository_context
from tasks.route import ProfileRouter

logger = logging.getLogger(__name__)

MAX_UNIT_CHARS = 64_000  # a "line" longer than this is cut, so every window unit fits


@dataclass
class ReviewPlan:
    items: list[WorkItem]
    views: dict[str, list[DocumentView]]  # item id -> views
    indexes: Mapping[str, GroundingIndex]  # doc id -> grounding index, built on first use
    covering: dict[str, set[str]]  # doc id -> ids of the items that cover it
    documents: int
    resumed_items: int = 0
    budget: Budget | None = None
    rejected: list[tuple[WorkItem, str]] = field(default_factory=list)
    skipped: int = 0  # documents of the source already reviewed with this profile version
    models: ModelIds = field(default_factory=ModelIds)  # what the routes chose among
    # item id -> tokens its request shows beyond its own slices (a later night's context, diffs)
    context_tokens: dict[str, int] = field(default_factory=dict)


class GroundingIndexes(Mapping[str, GroundingIndex]):
    """Grounding indexes of a run's documents, each built the first time an answer about it is
    checked: a plan-only run never builds one, and a deferred run only those it needed."""

    def __init__(self, texts: dict[str, dict[str, Any]]) -> None:
        self._texts = texts
        self._built: dict[str, GroundingIndex] = {}

    def __getitem__(self, doc_id: str) -> GroundingIndex:
        if doc_id not in self._built:
            text = self._texts[doc_id]
            self._built[doc_id] = GroundingIndex(text["text"], tuple(text["page_starts"] or ()))
        return self._built[doc_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


@dataclass(frozen=True)
class PlanInputs:
    """What planning reads from the store, read at once before anything is planned."""

    candidates: list[dict[str, Any]]  # documents to review, by relpath
    texts: dict[str, dict[str, Any]]  # doc id -> stored text row
    pending_item_ids: frozenset[str]  # work items an earlier run left pending
    already_reviewed: int = 0  # documents of the source left out as reviewed
    context: RepositoryContext | None = None  # a later night of a repository: what it shows


def load_plan_inputs(
    store: Store, source: str, profile: Profile, force: bool, backend_scope: str = ""
) -> PlanInputs:
    """The documents of ``source`` not yet reviewed with this profile version by the backend
    ``backend_scope`` (all of them with ``force``), their texts and the pending work."""
    candidates = store.review_candidates(source, profile.name, profile.version, force,
                                         backend_scope)  # fmt: skip
    candidates = _with_reviewed_family(store, source, profile, force, backend_scope, candidates)
    texts = store.load_texts(row["doc_id"] for row in candidates)
    pending = store.pending_work_items(profile.name, profile.version)
    reviewed = 0 if force else store.count_ok_documents(source) - len(candidates)
    context = load_repository_context(store, source, profile, candidates, backend_scope)
    return PlanInputs(candidates, texts, frozenset(row["work_item_id"] for row in pending),
                      reviewed, context)  # fmt: skip


def _with_reviewed_family(
    store: Store,
    source: str,
    profile: Profile,
    force: bool,
    backend_scope: str,
    candidates: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """A new amendment or exhibit is reviewed with the members of its contract family already
    reviewed (``tasks/families.py``), so the model reads it as amending its master."""
    if profile.task != "extraction" or force or not candidates:
        return candidates
    everything = store.review_candidates(source, profile.name, profile.version, True,
                                         backend_scope)  # fmt: skip
    return with_family_context(candidates, everything)


def plan_review(inputs: PlanInputs, profile: Profile, models: ModelIds) -> ReviewPlan:
    """Routed work items for ``inputs``, pending ones first; see the module doc."""
    by_id = {row["doc_id"]: row for row in inputs.candidates}
    texts = inputs.texts
    budget = Budget.for_request(
        profile.max_tokens, fixed_prompt_tokens(profile),
        profile.output_tokens_per_document, profile.max_documents_per_request,
        reasoning_tokens=reasoning_room(profile),
    )  # fmt: skip
    planned = [_plan_document(row, texts[doc_id], budget) for doc_id, row in by_id.items()
               if doc_id in texts]  # fmt: skip
    rejected: list[tuple[PlanDocument, str]] = []
    router = ProfileRouter(profile, models)
    items = plan_work(planned, budget, whole_source=profile.task == "findings", rejected=rejected,
                      router=router, packing=profile.packing)  # fmt: skip
    pending = inputs.pending_item_ids
    items.sort(key=lambda item: item.item_id not in pending)  # stable: pending first
    views: dict[str, list[DocumentView]] = {
        item.item_id: [_view(piece, texts[piece.doc_id]) for piece in item.slices] for item in items
    }
    context_tokens: dict[str, int] = {}
    if inputs.context is not None:
        with_context = add_context(items, views, inputs.context, budget, router)
        items, views, context_tokens = (
            with_context.items,
            with_context.views,
            with_context.added_tokens,
        )
    covering: dict[str, set[str]] = {}
    for item in items:
        for doc_id in item.doc_ids:
            covering.setdefault(doc_id, set()).add(item.item_id)
    indexes = GroundingIndexes({doc_id: texts[doc_id] for doc_id in covering})
    resumed = sum(1 for item in items if item.item_id in pending)
    unplanned = [(single_item(document), reason) for document, reason in rejected]
    return ReviewPlan(items, views, indexes, covering, len(covering), resumed, budget, unplanned,
                      inputs.already_reviewed, models, context_tokens)  # fmt: skip


def _plan_document(row: dict[str, Any], text: dict[str, Any], budget: Budget) -> PlanDocument:
    kind = DocKind(row["kind"])
    tokens = int(text["tokens"])
    page_starts = tuple(text["page_starts"] or ())
    units = len(page_starts) if kind is DocKind.PDF else (row["lines"] or 1)
    document = PlanDocument(row["doc_id"], row["relpath"], kind, tokens, units=units)
    if document.cost <= budget.input_tokens:
        return document
    if kind is DocKind.PDF:
        return PlanDocument(row["doc_id"], row["relpath"], kind, tokens,
                            tuple(text["page_token_starts"]), page_starts, units)  # fmt: skip
    char_starts, token_starts = line_offsets(text["text"])
    return PlanDocument(row["doc_id"], row["relpath"], kind, tokens, token_starts, char_starts,
                        len(char_starts))  # fmt: skip


def line_offsets(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Character and token offsets of every line start, for windows over a long text file."""
    char_starts = [0]
    for position, char in enumerate(text):
        if char == "\n" and position + 1 < len(text):
            char_starts.append(position + 1)
        elif position - char_starts[-1] >= MAX_UNIT_CHARS:
            # A minified file or a text without line breaks: break inside the line.
            char_starts.append(position)
    offsets = load_tokenizer().encode(text, add_special_tokens=False).offsets
    token_starts: list[int] = []
    index = 0
    for line_start in char_starts:
        while index < len(offsets) and offsets[index][0] < line_start:
            index += 1
        token_starts.append(index)
    return tuple(char_starts), tuple(token_starts)


def _view(piece: Slice, text: dict[str, Any]) -> DocumentView:
    return DocumentView(
        doc_id=piece.doc_id, name=piece.relpath, kind=piece.kind, text=text["text"],
        page_starts=tuple(text["page_starts"] or ()), char_start=piece.char_start,
        char_end=piece.char_end, first_unit=piece.unit_start, window=piece.window,
    )  # fmt: skip


def plan_source(
    store: Store,
    source: str,
    profile: Profile,
    force: bool,
    backend_scope: str,
    models: ModelIds,
) -> ReviewPlan:
    """Read the plan's inputs from ``store``, then plan them (the plan stage)."""
    plan = plan_review(load_plan_inputs(store, source, profile, force, backend_scope), profile,
                       models)  # fmt: skip
    logger.info(
        "planned %s work items over %s documents (%s resumed from earlier runs)",
        len(plan.items), plan.documents, plan.resumed_items,
    )  # fmt: skip
    return plan
