"""Pricing a plan: what a run would send and cost, without sending anything, and the same
tokens on a self-hosted node for comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nightshift.pricing import quote_usd
from nightshift.profiles import Profile
from nightshift.selfhosted_cost import NodeSpec, estimate_run
from nightshift.tokenizer import count_tokens
from tasks.prompt import shared_prefix_tokens
from tasks.requests import plan_request
from tasks.review_plan import ReviewPlan

# DeepSeek caches prompt prefixes in units of 64 tokens; a hit is counted in whole units.
CACHE_UNIT_TOKENS = 64
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


def price_plan(plan: ReviewPlan, profile: Profile, at: datetime) -> PlanReport:
    """What the run would send and cost, without sending anything."""
    report = PlanReport(len(plan.covering), len(plan.items),
                        sum(1 for i in plan.items if i.is_window), 0, 0, 0, 0)  # fmt: skip
    by_model: dict[str, dict[str, float]] = {}
    system_cached = False
    for item in plan.items:
        route = item.route
        assert route is not None, "work items are routed when they are planned"
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
            row = by_model.setdefault(route.model, dict.fromkeys(BY_MODEL_KEYS, 0.0))
            row["requests"] += 1
            row["prompt_tokens"] += planned.prompt_tokens
            row["cache_hit_tokens"] += hits
            row["output_tokens"] += output
            row["off_peak_usd"] += quote.off_peak_usd
            row["peak_usd"] += quote.peak_usd
            report.requests += 1
            report.prompt_tokens += planned.prompt_tokens
            report.predicted_cache_hit_tokens += hits
            report.expected_output_tokens += output
            report.off_peak_usd += quote.off_peak_usd
            report.peak_usd += quote.peak_usd
    report.by_model = by_model
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
