"""The run summary: what was sent, what it cost, what landed, what failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.store import Store, sql_text
from nightshift.pricing import cost_usd


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    backend: str
    totals: dict[str, Any]
    by_model: list[dict[str, Any]]
    status_reason: str | None = None

    @property
    def grounded_share(self) -> float:
        extractions = self.totals["extractions"]
        return self.totals["grounded"] / extractions if extractions else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "status_reason": self.status_reason,
                "backend": self.backend, **self.totals, "by_model": self.by_model}  # fmt: skip

    def markdown(self) -> str:
        t = self.totals
        lines = [
            f"# nightshift review `{self.run_id}`: {self.status}",
            "",
            f"Backend: {self.backend}",
        ]
        if self.status_reason:
            lines += ["", f"Reason: {self.status_reason}"]
        lines += [
            "",
            "| documents | work items | requests | prompt tokens | cache-hit tokens | "
            "cost USD | extractions | grounded | pending items | failed items |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {t['documents']} | {t['work_items']} | {t['requests']} | {t['prompt_tokens']:,} | "
            f"{t['cache_hit_tokens']:,} | {t['cost_usd']:.4f} | {t['extractions']} | "
            f"{self.grounded_share:.0%} | {t['pending_items']} | {t['failed_items']} |",
            "",
            f"Savings: ${t['peak_cost_usd'] - t['cost_usd']:.4f} versus peak prices, "
            f"${t['all_pro_cost_usd'] - t['cost_usd']:.4f} versus sending everything to Pro.",
            "",
            "| model | requests | prompt tokens | cache-hit tokens | cost USD | all off-peak |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for row in self.by_model:
            lines.append(
                f"| {row['model']} | {row['requests']} | {row['prompt_tokens'] or 0:,} | "
                f"{row['cache_hit_tokens'] or 0:,} | {row['cost_usd'] or 0:.4f} | "
                f"{row['all_off_peak']} |"
            )
        return "\n".join(lines)


def price_comparisons(store: Store, run_id: str, pro_model: str) -> dict[str, float]:
    """What the same billed tokens would have cost at peak prices, and all on Pro."""
    rows = store.query(
        "SELECT model, cache_hit_tokens, cache_miss_tokens, completion_tokens, started_at "
        "FROM requests WHERE run_id = ? AND cost_usd > 0",
        [run_id],
    )
    at_peak = all_pro = 0.0
    for model, hit, miss, output, started in rows:
        at_peak += cost_usd(model, hit, miss, output, started, period_kind="peak")
        all_pro += cost_usd(pro_model, hit, miss, output, started)
    return {"peak_cost_usd": round(at_peak, 6), "all_pro_cost_usd": round(all_pro, 6)}


def summarize_run(
    store: Store,
    run_id: str,
    status: str,
    backend: str,
    reason: str | None = None,
    pro_model: str = "deepseek-v4-pro",
) -> RunSummary:
    totals = store.query_dicts(sql_text("run_summary.sql"), {"run_id": run_id})[0]
    totals["cost_usd"] = float(totals["cost_usd"])
    totals.update(price_comparisons(store, run_id, pro_model))
    by_model = store.query_dicts(
        "SELECT * EXCLUDE (run_id) FROM cost_by_run_model WHERE run_id = ? ORDER BY model",
        [run_id],
    )
    return RunSummary(run_id, status, backend, totals, by_model, reason)
