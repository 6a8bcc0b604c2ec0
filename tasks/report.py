"""The run summary: what was sent, what it cost, what landed, what failed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors.store import Store
from nightshift.models import DEFAULT_PRO_MODEL, RunStatus
from nightshift.pricing import cost_usd

SUMMARY_COLUMNS = (
    "documents", "work items", "requests", "prompt tokens", "cache-hit tokens (share)", "cost USD",
    "extractions", "grounded", "pending items", "failed items",
)  # fmt: skip
BY_MODEL_COLUMNS = (
    "model", "requests", "attempts", "prompt tokens", "cache-hit tokens", "output tokens",
    "cost USD", "all off-peak",
)  # fmt: skip


@dataclass(frozen=True)
class RunSummary:
    """One review run's numbers; the CLI and the Prefect artifact render the same rows."""

    run_id: str
    status: RunStatus
    backend: str
    totals: dict[str, Any]
    by_model: list[dict[str, Any]]
    status_reason: str | None = None

    @property
    def cache_hit_share(self) -> float:
        """The share of prompt tokens served from the cache (billed at the hit price)."""
        prompt = self.totals["prompt_tokens"]
        return self.totals["cache_hit_tokens"] / prompt if prompt else 0.0

    @property
    def grounded_share(self) -> float:
        extractions = self.totals["extractions"]
        return self.totals["grounded"] / extractions if extractions else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": str(self.status),
                "status_reason": self.status_reason, "backend": self.backend, **self.totals,
                "cache_hit_share": round(self.cache_hit_share, 4),
                "by_model": self.by_model}  # fmt: skip

    def totals_row(self) -> list[str]:
        t = self.totals
        return [
            str(t["documents"]), str(t["work_items"]), str(t["requests"]),
            f"{t['prompt_tokens']:,}", f"{t['cache_hit_tokens']:,} ({self.cache_hit_share:.1%})",
            f"{t['cost_usd']:.4f}",
            str(t["extractions"]), f"{self.grounded_share:.0%}", str(t["pending_items"]),
            str(t["failed_items"]),
        ]  # fmt: skip

    def by_model_rows(self) -> list[list[str]]:
        return [
            [
                row["model"],
                str(row["requests"]),
                str(row["attempts"]),
                f"{row['prompt_tokens'] or 0:,}",
                f"{row['cache_hit_tokens'] or 0:,}",
                f"{row['completion_tokens'] or 0:,}",
                f"{row['cost_usd'] or 0:.4f}",
                str(row["all_off_peak"]),
            ]
            for row in self.by_model
        ]

    def skipped_line(self) -> str | None:
        """Why a run sent less than its source holds: documents reviewed before were skipped."""
        skipped = self.totals.get("skipped_documents", 0)
        if not skipped:
            return None
        if self.totals["documents"] == 0:
            return (
                f"{skipped} documents already reviewed with this profile version, skipped "
                "(--force reviews them again); nothing was sent."
            )
        return f"{skipped} documents already reviewed earlier were skipped."

    def savings_line(self) -> str | None:
        t = self.totals
        if not t["cost_usd"]:
            return None
        return (
            f"Saved ${t['peak_cost_usd'] - t['cost_usd']:.4f} versus peak prices and "
            f"${t['all_pro_cost_usd'] - t['cost_usd']:.4f} versus sending everything to Pro."
        )

    def planned_line(self) -> str | None:
        """What the plan predicted next to what the run settled, cost and cache hits."""
        t = self.totals
        planned = t.get("planned_usd")
        if planned is None or not t["requests"]:
            return None
        settled = t["cost_usd"]
        off = f" ({settled / planned - 1:+.1%})" if planned else ""
        predicted = t.get("planned_cache_hit_share") or 0.0
        actual = t["cache_hit_tokens"] / t["prompt_tokens"] if t["prompt_tokens"] else 0.0
        return (
            f"Planned ${planned:.4f}, settled ${settled:.4f}{off}; cache-hit share planned "
            f"{predicted:.1%}, actual {actual:.1%}."
        )

    def markdown(self) -> str:
        lines = [f"# nightshift review `{self.run_id}`: {self.status}", ""]
        lines += [f"Backend: {self.backend}"]
        if self.status_reason:
            lines += ["", f"Reason: {self.status_reason}"]
        if (skipped := self.skipped_line()) is not None:
            lines += ["", skipped]
        lines += ["", *_markdown_table(SUMMARY_COLUMNS, [self.totals_row()])]
        for line in (self.planned_line(), self.savings_line()):
            if line is not None:
                lines += ["", line]
        lines += ["", *_markdown_table(BY_MODEL_COLUMNS, self.by_model_rows(), label_first=True)]
        return "\n".join(lines)


def _markdown_table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], label_first: bool = False
) -> list[str]:
    """A markdown table, numbers right-aligned (and the first column left when it labels)."""
    align = ["---" if label_first and i == 0 else "---:" for i in range(len(columns))]
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def price_comparisons(store: Store, run_id: str, pro_model: str) -> dict[str, float]:
    """What the same billed tokens would have cost at peak prices, and all on Pro."""
    at_peak = all_pro = 0.0
    for row in store.billed_tokens(run_id):
        hit, miss = row["cache_hit_tokens"], row["cache_miss_tokens"]
        output, started = row["completion_tokens"], row["started_at"]
        at_peak += cost_usd(row["model"], hit, miss, output, started, period_kind="peak")
        all_pro += cost_usd(pro_model, hit, miss, output, started)
    return {"peak_cost_usd": round(at_peak, 6), "all_pro_cost_usd": round(all_pro, 6)}


def summarize_run(
    store: Store,
    run_id: str,
    status: RunStatus,
    backend: str,
    reason: str | None = None,
    pro_model: str = DEFAULT_PRO_MODEL,
    skipped: int = 0,
) -> RunSummary:
    """The run's numbers; ``skipped`` documents of its source were reviewed before. What its
    plan predicted comes from the run's row (``Store.record_plan``)."""
    totals = store.run_totals(run_id)
    totals["cost_usd"] = float(totals["cost_usd"])
    totals.update(price_comparisons(store, run_id, pro_model))
    totals["skipped_documents"] = skipped
    planned_prompt, planned_hits = (
        totals.pop("planned_prompt_tokens"),
        totals.pop("planned_cache_hit_tokens"),
    )
    totals["planned_usd"] = totals.pop("planned_cost_usd")
    totals["planned_cache_hit_share"] = planned_hits / planned_prompt if planned_prompt else None
    return RunSummary(run_id, status, backend, totals, store.cost_by_model(run_id), reason)
