"""The stages as Prefect tasks: one call each, saying only what Prefect needs.

Task runs are per stage and per batch of work items (tens per run), never per document or per
HTTP request. Inputs include the open database, so result caching is off (``NONE``): the
ledger is the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from connectors.backends import Backend
from connectors.sources import Source
from connectors.store import Store
from nightshift.models import ModelIds, RunStatus
from nightshift.profiles import Profile
from tasks.dispatch import DispatchRun
from tasks.ingest import IngestOptions, IngestSummary
from tasks.ledger import DispatchStats
from tasks.plan import WorkItem
from tasks.price import PlanReport
from tasks.report import RunSummary
from tasks.report_html import report_markdown, write_report
from tasks.review_plan import ReviewPlan
from tasks.stages import PLAIN_STAGES, Stages


@task(name="ingest", cache_policy=NONE)
def ingest_task(source: Source, store: Store, options: IngestOptions, run_id: str) -> IngestSummary:
    return PLAIN_STAGES.ingest(source, store, options, run_id)


@task(name="plan", cache_policy=NONE)
def plan_task(
    store: Store, source: str, profile: Profile, force: bool, scope: str, models: ModelIds
) -> ReviewPlan:
    return PLAIN_STAGES.plan(store, source, profile, force, scope, models)


@task(name="price", cache_policy=NONE)
def price_task(plan: ReviewPlan, profile: Profile, at: datetime) -> PlanReport:
    return PLAIN_STAGES.price(plan, profile, at)


@task(name="wait-until-ready", cache_policy=NONE)
def wait_until_ready_task(backend: Backend, timeout_seconds: float) -> list[str]:
    return PLAIN_STAGES.wait_until_ready(backend, timeout_seconds)


@task(name="dispatch-batch", cache_policy=NONE, task_run_name="dispatch from item {done_before}")
def dispatch_task(run: DispatchRun, batch: Sequence[WorkItem], done_before: int) -> DispatchStats:
    return PLAIN_STAGES.dispatch(run, batch, done_before)


@task(name="report", cache_policy=NONE)
def report_task(
    store: Store,
    run_id: str,
    status: RunStatus,
    backend: str,
    reason: str | None,
    pro_model: str,
    skipped: int,
) -> RunSummary:
    summary = PLAIN_STAGES.report(store, run_id, status, backend, reason, pro_model, skipped)
    create_markdown_artifact(
        summary.markdown(), key="review-summary", description=f"nightshift review {run_id}"
    )
    return summary


@task(name="report-html", cache_policy=NONE)
def report_html_task(db: Path, out: Path, run_id: str) -> Path:
    """The run's HTML report, written beside the database; the flow run's artifact names the
    file and repeats the headline (Prefect's UI renders markdown, not a whole HTML page)."""
    report = write_report(db, out, run_id, datetime.now(UTC))
    create_markdown_artifact(
        report_markdown(report, out), key="review-report",
        description=f"nightshift review {run_id}: the HTML report",
    )  # fmt: skip
    return out


PREFECT_STAGES = Stages(
    ingest=ingest_task,
    plan=plan_task,
    price=price_task,
    wait_until_ready=wait_until_ready_task,
    dispatch=dispatch_task,
    report=report_task,
)
