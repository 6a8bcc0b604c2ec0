"""The run summary: one set of rows for the CLI table and the Prefect artifact."""

from __future__ import annotations

from nightshift.models import RunStatus
from tasks.report import BY_MODEL_COLUMNS, SUMMARY_COLUMNS, RunSummary

TOTALS = {
    "documents": 8, "work_items": 2, "requests": 2, "prompt_tokens": 26_670,
    "cache_hit_tokens": 192, "cost_usd": 0.0178, "extractions": 138, "grounded": 69,
    "pending_items": 0, "failed_items": 0, "peak_cost_usd": 0.0356, "all_pro_cost_usd": 0.06,
}  # fmt: skip
BY_MODEL = [{"model": "deepseek-v4-flash", "requests": 2, "attempts": 3, "prompt_tokens": 26_670,
             "cache_hit_tokens": 192, "completion_tokens": 18_179, "cost_usd": 0.0178,
             "all_off_peak": True}]  # fmt: skip


def test_the_markdown_shows_the_same_rows_as_the_cli() -> None:
    summary = RunSummary("review-1", RunStatus.COMPLETED, "simulator", TOTALS, BY_MODEL)
    row = summary.totals_row()
    assert len(row) == len(SUMMARY_COLUMNS)
    assert row[:4] == ["8", "2", "2", "26,670"]
    assert row[4] == "192 (0.7%)"  # cache-hit tokens and their share of the prompt
    assert row[7] == "50%"  # grounded share
    assert summary.as_dict()["cache_hit_share"] == 0.0072
    markdown = summary.markdown()
    assert "| " + " | ".join(SUMMARY_COLUMNS) + " |" in markdown
    assert "| " + " | ".join(row) + " |" in markdown
    assert "| " + " | ".join(summary.by_model_rows()[0]) + " |" in markdown
    assert len(summary.by_model_rows()[0]) == len(BY_MODEL_COLUMNS)
    assert summary.savings_line() == (
        "Saved $0.0178 versus peak prices and $0.0422 versus sending everything to Pro."
    )


def test_a_run_that_cost_nothing_claims_no_savings() -> None:
    free = {**TOTALS, "cost_usd": 0.0}
    summary = RunSummary("review-2", RunStatus.COMPLETED, "self-hosted", free, [])
    assert summary.savings_line() is None
    assert "Saved" not in summary.markdown()


def test_a_run_that_sent_nothing_says_what_it_skipped_and_why() -> None:
    nothing = {**TOTALS, "documents": 0, "cost_usd": 0.0, "skipped_documents": 8}
    summary = RunSummary("review-3", RunStatus.COMPLETED, "none", nothing, [])
    expected = ("8 documents already reviewed with this profile version, skipped "
                "(--force reviews them again); nothing was sent.")  # fmt: skip
    assert summary.skipped_line() == expected
    assert expected in summary.markdown()
    assert summary.planned_line() is None


def test_the_plan_is_shown_beside_what_the_run_settled_at() -> None:
    planned = {**TOTALS, "planned_usd": 0.02, "planned_cache_hit_share": 0.1}
    summary = RunSummary("review-4", RunStatus.COMPLETED, "simulator", planned, BY_MODEL)
    settled = TOTALS["cost_usd"]
    share = TOTALS["cache_hit_tokens"] / TOTALS["prompt_tokens"]
    line = (f"Planned $0.0200, settled ${settled:.4f} ({settled / 0.02 - 1:+.1%}); cache-hit "
            f"share planned 10.0%, actual {share:.1%}.")  # fmt: skip
    assert summary.planned_line() == line
    assert line in summary.markdown()
