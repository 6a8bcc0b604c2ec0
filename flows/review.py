"""``review-corpus``: a corpus to verified, source-grounded extractions in DuckDB.

The process is ``flows.pipelines.review_pipeline``; this flow runs it with each stage as a
Prefect task, as the deployments in ``prefect.yaml`` and ``nightshift review --prefect`` do.

The flow's parameters are ``ReviewOptions``' fields, flat, because Prefect merges a run's
``--param name=value`` into a deployment's parameters key by key (a nested object would be
replaced whole); a test keeps the two identical.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.pipelines import ReviewResult, review_pipeline
from nightshift.options import BackendName, ReviewOptions
from nightshift.settings import OcrMode, Settings
from tasks.prefect_tasks import PREFECT_STAGES, report_html_task
from tasks.report_html import report_path


@flow(name="review-corpus", log_prints=True)
def review_corpus(
    source: str,
    profile: str = "legal",
    db: str | None = None,
    budget_usd: float | None = None,
    plan_only: bool = False,
    force: bool = False,
    backend: BackendName = "deepseek",
    off_peak_only: bool = False,
    allow_peak: bool = False,
    deadline: datetime | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    ocr: OcrMode = "never",
    simulator: dict[str, Any] | None = None,
    shard_index: int = 0,
    shard_count: int = 1,
) -> ReviewResult:
    """Review ``source`` with ``profile`` into the DuckDB file ``db`` (see ``ReviewOptions``)."""
    options = ReviewOptions(
        source=source, profile=profile, db=db, budget_usd=budget_usd, plan_only=plan_only,
        force=force, backend=backend, off_peak_only=off_peak_only, allow_peak=allow_peak,
        deadline=deadline, include=include, exclude=exclude, simulator=simulator or {},
        shard_index=shard_index, shard_count=shard_count,
        ocr=ocr,
    )  # fmt: skip
    return run_options(options)


def run_options(options: ReviewOptions) -> ReviewResult:
    settings = Settings()
    result = review_pipeline(options, settings, PREFECT_STAGES, flow_run_id=flow_run.get_id())
    if result.plan is None:  # a plan writes nothing, so it has no report
        db = Path(options.db) if options.db else settings.db_path
        report_html_task(db, report_path(db, result.run_id), result.run_id)
    return result
