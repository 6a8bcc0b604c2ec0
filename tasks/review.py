"""The review stages between ingest and dispatch: pick documents, plan, price.

Plain functions over the store and the profile; ``flows/review.py`` composes them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.store import Store
from nightshift.models import DocKind
from nightshift.pricing import quote_usd
from nightshift.profiles import Profile
from nightshift.selfhosted_cost import NodeSpec, estimate_run
from nightshift.tokenizer import count_tokens, load_tokenizer
from tasks.dispatch import plan_request
from tasks.ground import GroundingIndex
from tasks.plan import Budget, PlanDocument, Slice, WorkItem, plan_work, single_item
from tasks.prompt import DocumentView, fixed_prompt_tokens, shared_prefix_tokens
from tasks.route import ModelIds, route_item

# DeepSeek caches prompt prefixes in units of 64 tokens; a hit is counted in whole units.
CACHE_UNIT_TOKENS = 64
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


@dataclass
class PlanReport:
    documents: int
    work_items: int
    windows: int
    requests: int
    prompt_tokens: int
    predicted_cache_hit_tokens: int
    expected_output_tokens: int
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)
    off_peak_usd: float = 0.0
    peak_usd: float = 0.0
    selfhosted: dict[str, Any] = field(default_factory=dict)

    @property
    def cache_hit_share(self) -> float:
        return self.predicted_cache_hit_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents, "work_items": self.work_items, "windows": self.windows,
            "requests": self.requests, "prompt_tokens": self.prompt_tokens,
            "predicted_cache_hit_tokens": self.predicted_cache_hit_tokens,
            "cache_hit_share": round(self.cache_hit_share, 4),
            "expected_output_tokens": self.expected_output_tokens, "by_model": self.by_model,
            "off_peak_usd": round(self.off_peak_usd, 6), "peak_usd": round(self.peak_usd, 6),
            "selfhosted": self.selfhosted,
        }  # fmt: skip


def plan_review(
    store: Store, source: str, profile: Profile, force: bool, backend: str = ""
) -> ReviewPlan:
    """Work items for the documents of ``source`` not yet reviewed with this profile version by
    ``backend`` (its scope).

    Planning is deterministic, so work left pending by an earlier run (window closed, budget
    spent) is planned into the same items with the same request keys: answers already in the
    ledger are reused, and those items go first.
    """
    candidates = store.review_candidates(source, profile.name, profile.version, force, backend)
    by_id = {row["doc_id"]: row for row in candidates}
    texts = store.load_texts(by_id)
    budget = Budget.for_request(
        profile.max_tokens, fixed_prompt_tokens(profile),
        profile.output_tokens_per_document, profile.max_documents_per_request,
    )  # fmt: skip
    planned = [_plan_document(row, texts[doc_id], budget) for doc_id, row in by_id.items()
               if doc_id in texts]  # fmt: skip
    rejected: list[tuple[PlanDocument, str]] = []
    items = plan_work(planned, budget, whole_source=profile.task == "findings", rejected=rejected)
    pending = {row["work_item_id"]
               for row in store.pending_work_items(profile.name, profile.version)}  # fmt: skip
    items.sort(key=lambda item: item.item_id not in pending)  # stable: pending first
    views: dict[str, list[DocumentView]] = {}
    covering: dict[str, set[str]] = {}
    for item in items:
        views[item.item_id] = [_view(piece, texts[piece.doc_id]) for piece in item.slices]
        for doc_id in item.doc_ids:
            covering.setdefault(doc_id, set()).add(item.item_id)
    indexes = GroundingIndexes({doc_id: texts[doc_id] for doc_id in covering})
    resumed = sum(1 for item in items if item.item_id in pending)
    unplanned = [(single_item(document), reason) for document, reason in rejected]
    return ReviewPlan(items, views, indexes, covering, len(covering), resumed, budget, unplanned)


def price_plan(plan: ReviewPlan, profile: Profile, models: ModelIds, at: datetime) -> PlanReport:
    """What the run would send and cost, without sending anything."""
    report = PlanReport(len(plan.covering), len(plan.items),
                        sum(1 for i in plan.items if i.is_window), 0, 0, 0, 0)  # fmt: skip
    by_model: dict[str, Counter[str]] = {}
    system_cached = False
    for item in plan.items:
        route = route_item(item, profile, models)
        shared = 0
        for index, fields in enumerate(profile.passes()):
            planned = plan_request(item, plan.views[item.item_id], profile, fields, route, index)
            if index == 0:
                shared = shared_prefix_tokens(planned.request.messages)
                # Every request starts with the same instructions: cached after the first.
                hits = _cached(count_tokens(profile.instructions)) if system_cached else 0
                system_cached = True
            else:
                hits = _cached(shared)
            hits = min(hits, planned.prompt_tokens)
            misses = planned.prompt_tokens - hits
            output = planned.expected_output_tokens
            quote = quote_usd(route.model, hits, misses, output, at)
            counter = by_model.setdefault(route.model, Counter())
            counter.update(requests=1, prompt_tokens=planned.prompt_tokens, cache_hit_tokens=hits,
                           output_tokens=output)  # fmt: skip
            counter["off_peak_usd"] += quote.off_peak_usd
            counter["peak_usd"] += quote.peak_usd
            report.requests += 1
            report.prompt_tokens += planned.prompt_tokens
            report.predicted_cache_hit_tokens += hits
            report.expected_output_tokens += output
            report.off_peak_usd += quote.off_peak_usd
            report.peak_usd += quote.peak_usd
    report.by_model = {model: dict(counter) for model, counter in by_model.items()}
    report.selfhosted = selfhosted_comparison(report)
    return report


def selfhosted_comparison(report: PlanReport, node: NodeSpec | None = None) -> dict[str, Any]:
    """The same tokens on one spot H200 node serving V4-Flash, with the assumptions stated."""
    node = node or NodeSpec()
    estimate = estimate_run(report.prompt_tokens, report.expected_output_tokens, node=node,
                            cached_fraction=report.cache_hit_share)  # fmt: skip
    return {
        "usd": round(estimate.usd, 4),
        "billed_node_hours": round(estimate.billed_node_hours, 3),
        "wall_clock_hours": round(estimate.wall_clock_hours, 3),
        "assumptions": (
            f"1 spot p5en.48xlarge at ${node.usd_per_hour:.2f}/h, {node.replicas} V4-Flash "
            f"replicas of 4 H200; per replica {node.throughput.prefill_tokens_per_s:,.0f} prompt "
            f"tokens/s prefill and {node.throughput.decode_tokens_per_s:,.0f} tokens/s decode "
            f"(SGLang's published H200 benchmark, 8K-token prompts); "
            f"{node.utilization:.0%} utilisation; {node.startup_hours:g} h billed start-up"
        ),
    }


def _cached(tokens: int) -> int:
    return tokens // CACHE_UNIT_TOKENS * CACHE_UNIT_TOKENS


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
    token_starts, index = [], 0
    for char in char_starts:
        while index < len(offsets) and offsets[index][0] < char:
            index += 1
        token_starts.append(index)
    return tuple(char_starts), tuple(token_starts)


def _view(piece: Slice, text: dict[str, Any]) -> DocumentView:
    return DocumentView(
        doc_id=piece.doc_id, name=piece.relpath, kind=piece.kind, text=text["text"],
        page_starts=tuple(text["page_starts"] or ()), char_start=piece.char_start,
        char_end=piece.char_end, first_unit=piece.unit_start, window=piece.window,
    )  # fmt: skip
