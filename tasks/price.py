"""Pricing a plan: what a run would send and cost, without sending anything, and the same
tokens on a self-hosted node for comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nightshift.offpeak import OFF_PEAK, is_off_peak
from nightshift.pricing import cost_usd, default_price_book, quote_usd
from nightshift.profiles import Profile
from nightshift.selfhosted_cost import NodeSpec, estimate_run
from tasks.prompt import PromptSizer
from tasks.requests import expected_output_tokens
from tasks.review_plan import ReviewPlan

# DeepSeek V4's context cache (api-docs.deepseek.com/guides/kv_cache, "Cache Persistence and
# Hit Rules"): a cached prefix is a whole unit, stored at the end of each request's input, and a
# prefix common to two requests is stored once the second is seen; a request hits only a unit
# it matches in full (no 64-token granularity any more). So a prefix that every request shares
# (the system message) is billed at the hit price from the third request on a model, and the
# documents that the passes over one work item share from its third pass.
REQUESTS_BEFORE_A_SHARED_PREFIX_HITS = 2
BY_MODEL_KEYS = (
    "requests", "prompt_tokens", "cache_hit_tokens", "output_tokens", "off_peak_usd", "peak_usd",
)  # fmt: skip


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
    # The least these requests could cost: every input token once at Flash's off-peak miss
    # price, the system message once at miss then at hit, the expected output at Flash's price.
    floor_off_peak_usd: float = 0.0
    floor_model: str = ""
    # The same tokens priced on every model of the period in force (same hits and misses).
    alternatives: list[dict[str, Any]] = field(default_factory=list)

    @property
    def floor_ratio(self) -> float:
        return self.off_peak_usd / self.floor_off_peak_usd if self.floor_off_peak_usd else 0.0

    def usd_at(self, at: datetime) -> float:
        """The plan's cost in the price period in force at ``at`` (off-peak or peak)."""
        return self.off_peak_usd if is_off_peak(at) else self.peak_usd

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
            "floor_off_peak_usd": round(self.floor_off_peak_usd, 6),
            "floor_model": self.floor_model, "floor_ratio": round(self.floor_ratio, 4),
            "alternatives": self.alternatives,
        }  # fmt: skip


PLAN_COLUMNS = (
    "model", "requests", "prompt tokens", "predicted cache-hit", "output (est.)",
    "USD off-peak", "USD peak",
)  # fmt: skip


def plan_rows(report: PlanReport) -> list[list[str]]:
    """The plan's rows by model and a total row, as the CLI shows them."""
    rows = [
        [
            model,
            f"{row['requests']:.0f}",
            f"{row['prompt_tokens']:,.0f}",
            f"{row['cache_hit_tokens']:,.0f}",
            f"{row['output_tokens']:,.0f}",
            f"{row['off_peak_usd']:.4f}",
            f"{row['peak_usd']:.4f}",
        ]
        for model, row in sorted(report.by_model.items())
    ]
    r = report
    rows.append([
        "total", str(r.requests), f"{r.prompt_tokens:,}", f"{r.predicted_cache_hit_tokens:,}",
        f"{r.expected_output_tokens:,}", f"{r.off_peak_usd:.4f}", f"{r.peak_usd:.4f}",
    ])  # fmt: skip
    return rows


ALTERNATIVE_COLUMNS = ("model", "family", "USD off-peak", "USD peak")


def alternative_rows(report: PlanReport) -> list[list[str]]:
    """The plan's tokens priced on each model of the period in force, as the CLI shows them."""
    return [
        [row["model"], row["family"], f"{row['off_peak_usd']:.4f}", f"{row['peak_usd']:.4f}"]
        for row in report.alternatives
    ]


MIN_ANSWERS_TO_CALIBRATE = 1  # one night of answers beats a guess


def calibrated(profile: Profile, per_document_field: float, answers: int) -> Profile:
    """``profile`` with its expected answer size learned from the ledger: output tokens
    (reasoning included) per document and field that earlier answers from the same backend
    took. Pricing only: packing keeps the profile's own figure, so plans stay stable."""
    if answers < MIN_ANSWERS_TO_CALIBRATE or per_document_field <= 0:
        return profile
    per_document = max(1, round(per_document_field * len(profile.fields)))
    return profile.model_copy(update={"output_tokens_per_document": per_document})


def price_plan(plan: ReviewPlan, profile: Profile, at: datetime) -> PlanReport:
    """What the run would send and cost, without sending anything.

    Sizes come from the token counts the plan already holds plus the markup, counted once per
    distinct string (``PromptSizer``); no request is rendered or tokenized here.
    """
    report = PlanReport(len(plan.covering), len(plan.items),
                        sum(1 for i in plan.items if i.is_window), 0, 0, 0, 0)  # fmt: skip
    sizer = PromptSizer(profile)
    system = sizer.system_tokens()
    passes = profile.passes()
    by_model: dict[str, dict[str, float]] = {}
    requests_seen: dict[str, int] = {}  # per model: the cache is per model
    for item in plan.items:
        route = item.route
        assert route is not None, "work items are routed when they are planned"
        documents = sum(sizer.document_tokens(piece) for piece in item.slices)
        documents += max(0, len(item.slices) - 1)  # the line between two documents
        documents += plan.context_tokens.get(item.item_id, 0)  # a later night's context, diffs
        for index, fields in enumerate(passes):
            prompt = system + documents + sizer.fields_tokens(fields)
            seen = requests_seen.get(route.model, 0)
            requests_seen[route.model] = seen + 1
            hits = 0
            if seen >= REQUESTS_BEFORE_A_SHARED_PREFIX_HITS:
                hits = system
            if index >= REQUESTS_BEFORE_A_SHARED_PREFIX_HITS:
                hits = system + documents
            misses = prompt - hits
            output = expected_output_tokens(item, profile, fields)
            quote = quote_usd(route.model, hits, misses, output, at)
            row = by_model.setdefault(route.model, dict.fromkeys(BY_MODEL_KEYS, 0.0))
            for key, value in (("requests", 1), ("prompt_tokens", prompt),
                               ("cache_hit_tokens", hits), ("output_tokens", output),
                               ("off_peak_usd", quote.off_peak_usd),
                               ("peak_usd", quote.peak_usd)):  # fmt: skip
                row[key] += value
    report.by_model = by_model
    for row in by_model.values():
        report.requests += int(row["requests"])
        report.prompt_tokens += int(row["prompt_tokens"])
        report.predicted_cache_hit_tokens += int(row["cache_hit_tokens"])
        report.expected_output_tokens += int(row["output_tokens"])
        report.off_peak_usd += row["off_peak_usd"]
        report.peak_usd += row["peak_usd"]
    report.floor_model = plan.models.flash
    report.floor_off_peak_usd = floor_usd(report, system, plan.models.flash, at)
    report.alternatives = alternatives(report, at)
    report.selfhosted = selfhosted_comparison(report)
    return report


def floor_usd(report: PlanReport, system_tokens: int, flash_model: str, at: datetime) -> float:
    """The least the plan's tokens could cost (see ``PlanReport.floor_off_peak_usd``)."""
    if not report.requests:
        return 0.0
    hits = system_tokens * (report.requests - 1)
    misses = report.prompt_tokens - hits
    return cost_usd(flash_model, hits, misses, report.expected_output_tokens, at,
                    period_kind=OFF_PEAK)  # fmt: skip


def alternatives(report: PlanReport, at: datetime) -> list[dict[str, Any]]:
    """The plan's tokens on each model the price book prices at ``at``, cheapest first."""
    book = default_price_book()
    hits = report.predicted_cache_hit_tokens
    misses = report.prompt_tokens - hits
    rows = []
    for model in book.period_at(at).listed:
        quote = quote_usd(model, hits, misses, report.expected_output_tokens, at, book=book)
        rows.append({"model": model, "family": book.models[model].family,
                     "off_peak_usd": round(quote.off_peak_usd, 6),
                     "peak_usd": round(quote.peak_usd, 6)})  # fmt: skip
    return sorted(rows, key=lambda row: (row["off_peak_usd"], row["model"]))


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
