"""Planning a review: read what to review from the store, then plan it purely.

``load_plan_inputs`` does every read (candidates, their token counts and page offsets, the work
left pending); ``plan_review`` turns those inputs into routed work items with the views each
request shows. A plan holds no document text: a view reads its text from the store when its
item's request is built (``PlanViews``), so a run's memory does not grow with its corpus.
Planning is deterministic, so work left pending by an earlier run (window closed, budget
spent) is planned into the same items with the same request keys: answers already in the
ledger are reused, and those items go first.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.store import Store
from nightshift.models import DocKind, ModelIds
from nightshift.profiles import Profile
from nightshift.tokenizer import load_tokenizer
from tasks.families import with_family_context
from tasks.plan import Budget, PlanDocument, Slice, WorkItem, plan_work, single_item
from tasks.prompt import DocumentView, fixed_prompt_tokens
from tasks.requests import reasoning_room
from tasks.review_context import RepositoryContext, add_context, load_repository_context
from tasks.route import ProfileRouter

logger = logging.getLogger(__name__)

MAX_UNIT_CHARS = 64_000  # a "line" longer than this is cut, so every window unit fits
VIEW_BATCH_ITEMS = 64  # items whose texts are read in one query, from the first one asked for
TEXT_CACHE_CHARS = 64_000_000  # characters of text kept read (most recently used first)


@dataclass
class ReviewPlan:
    items: list[WorkItem]
    views: Mapping[str, list[DocumentView]]  # item id -> views, texts read when asked for
    covering: dict[str, set[str]]  # doc id -> ids of the items that cover it
    documents: int
    resumed_items: int = 0
    budget: Budget | None = None
    rejected: list[tuple[WorkItem, str]] = field(default_factory=list)
    skipped: int = 0  # documents of the source already reviewed with this profile version
    models: ModelIds = field(default_factory=ModelIds)  # what the routes chose among
    # item id -> tokens its request shows beyond its own slices (a later night's context, diffs)
    context_tokens: dict[str, int] = field(default_factory=dict)


class PlanViews(Mapping[str, list[DocumentView]]):
    """The views of each work item's request, built when asked for: the plan keeps slices and
    offsets, and the texts are read then, for the asked item and the ``VIEW_BATCH_ITEMS``
    after it in plan order (dispatch asks in that order) in one query, and kept for the most
    recently used documents up to ``max_chars``. Without a store, the texts are in the rows.
    Views given whole in ``fixed`` (a later night's context and diffs) are returned as given.
    """

    def __init__(
        self,
        items: Sequence[WorkItem],
        rows: Mapping[str, Mapping[str, Any]],
        store: Store | None,
        fixed: Mapping[str, list[DocumentView]] | None = None,
        max_chars: int = TEXT_CACHE_CHARS,
    ) -> None:
        self._items = list(items)
        self._position = {item.item_id: n for n, item in enumerate(self._items)}
        self._rows = rows  # doc id -> page starts (and the text, without a store)
        self._store = store
        self._fixed = dict(fixed or {})
        self._max_chars = max_chars
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.reads = 0  # queries made, for tests and benches

    def __getitem__(self, item_id: str) -> list[DocumentView]:
        fixed = self._fixed.get(item_id)
        if fixed is not None:
            return fixed
        item = self._items[self._position[item_id]]
        texts = self._texts_of(item)
        return [_view(piece, self._rows[piece.doc_id], texts[piece.doc_id])
                for piece in item.slices]  # fmt: skip

    def __iter__(self) -> Iterator[str]:
        return iter(self._position)

    def __len__(self) -> int:
        return len(self._position)

    @property
    def held_chars(self) -> int:
        return self._chars

    def _texts_of(self, item: WorkItem) -> dict[str, str]:
        if self._store is None:
            return {d: str(self._rows[d]["text"]) for d in item.doc_ids}
        with self._lock:
            found = {d: self._texts[d] for d in item.doc_ids if d in self._texts}
            for doc_id in found:
                self._texts.move_to_end(doc_id)
            if len(found) == len(item.doc_ids):
                return found
            first = self._position[item.item_id]
            wanted = {d for later in self._items[first : first + VIEW_BATCH_ITEMS]
                      for d in later.doc_ids if d not in self._texts}  # fmt: skip
            wanted |= set(item.doc_ids) - found.keys()
            read = self._store.load_texts(wanted)
            self.reads += 1
            for doc_id, row in read.items():
                self._texts[doc_id] = row["text"]
                self._chars += len(row["text"])
            found.update((d, read[d]["text"]) for d in item.doc_ids if d not in found)
            while self._chars > self._max_chars and len(self._texts) > len(wanted):
                _, dropped = self._texts.popitem(last=False)
                self._chars -= len(dropped)
            return found


@dataclass(frozen=True)
class PlanInputs:
    """What planning reads from the store, read at once before anything is planned."""

    candidates: list[dict[str, Any]]  # documents to review, by relpath
    # doc id -> what planning needs of its stored text: tokens and page offsets; the text too
    # where windows over lines need it, or in every row when there is no ``store``
    texts: dict[str, dict[str, Any]]
    pending_item_ids: frozenset[str]  # work items an earlier run left pending
    already_reviewed: int = 0  # documents of the source left out as reviewed
    context: RepositoryContext | None = None  # a later night of a repository: what it shows
    store: Store | None = None  # where the views read their texts (None: in ``texts``)


def load_plan_inputs(
    store: Store, source: str, profile: Profile, force: bool, backend_scope: str = ""
) -> PlanInputs:
    """The documents of ``source`` not yet reviewed with this profile version by the backend
    ``backend_scope`` (all of them with ``force``), their texts and the pending work."""
    candidates = store.review_candidates(source, profile.name, profile.version, force,
                                         backend_scope)  # fmt: skip
    candidates = _with_reviewed_family(store, source, profile, force, backend_scope, candidates)
    texts = store.load_text_sizes(row["doc_id"] for row in candidates)
    budget = request_budget(profile)
    windowed_by_line = [row["doc_id"] for row in candidates if row["doc_id"] in texts
                        and _needs_line_offsets(row, texts[row["doc_id"]], budget)]  # fmt: skip
    for doc_id, row in store.load_texts(windowed_by_line).items():
        texts[doc_id]["text"] = row["text"]
    pending = store.pending_work_items(profile.name, profile.version)
    reviewed = 0 if force else store.count_ok_documents(source) - len(candidates)
    context = load_repository_context(store, source, profile, candidates, backend_scope)
    return PlanInputs(candidates, texts, frozenset(row["work_item_id"] for row in pending),
                      reviewed, context, store)  # fmt: skip


def request_budget(profile: Profile) -> Budget:
    """What one request of ``profile`` may hold."""
    return Budget.for_request(
        profile.max_tokens, fixed_prompt_tokens(profile),
        profile.output_tokens_per_document, profile.max_documents_per_request,
        reasoning_tokens=reasoning_room(profile),
    )  # fmt: skip


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
    budget = request_budget(profile)
    planned = [_plan_document(row, texts[doc_id], budget) for doc_id, row in by_id.items()
               if doc_id in texts]  # fmt: skip
    rejected: list[tuple[PlanDocument, str]] = []
    router = ProfileRouter(profile, models)
    items = plan_work(planned, budget, whole_source=profile.task == "findings", rejected=rejected,
                      router=router, packing=profile.packing)  # fmt: skip
    pending = inputs.pending_item_ids
    items.sort(key=lambda item: item.item_id not in pending)  # stable: pending first
    views = PlanViews(items, texts, inputs.store)
    context_tokens: dict[str, int] = {}
    if inputs.context is not None:
        with_context = add_context(items, views, inputs.context, budget, router)
        items, context_tokens = with_context.items, with_context.added_tokens
        views = PlanViews(items, texts, inputs.store, fixed=with_context.views)
    covering: dict[str, set[str]] = {}
    for item in items:
        for doc_id in item.doc_ids:
            covering.setdefault(doc_id, set()).add(item.item_id)
    resumed = sum(1 for item in items if item.item_id in pending)
    unplanned = [(single_item(document), reason) for document, reason in rejected]
    return ReviewPlan(items, views, covering, len(covering), resumed, budget, unplanned,
                      inputs.already_reviewed, models, context_tokens)  # fmt: skip


def _whole_document(row: Mapping[str, Any], text: Mapping[str, Any]) -> PlanDocument:
    kind = DocKind(row["kind"])
    page_starts = text["page_starts"] or ()
    units = len(page_starts) if kind is DocKind.PDF else (row["lines"] or 1)
    return PlanDocument(row["doc_id"], row["relpath"], kind, int(text["tokens"]), units=units)


def _needs_line_offsets(row: Mapping[str, Any], text: Mapping[str, Any], budget: Budget) -> bool:
    """A text or code file too large for one request: windowed on lines, read to find them."""
    document = _whole_document(row, text)
    return document.kind is not DocKind.PDF and document.cost > budget.input_tokens


def _plan_document(row: dict[str, Any], text: dict[str, Any], budget: Budget) -> PlanDocument:
    document = _whole_document(row, text)
    kind, tokens, units = document.kind, document.tokens, document.units
    page_starts = tuple(text["page_starts"] or ())
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


def _view(piece: Slice, row: Mapping[str, Any], text: str) -> DocumentView:
    return DocumentView(
        doc_id=piece.doc_id, name=piece.relpath, kind=piece.kind, text=text,
        page_starts=tuple(row["page_starts"] or ()), char_start=piece.char_start,
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
