"""The stages as Prefect tasks: one call each, saying only what Prefect needs.

Task runs are per stage (a handful per run), never per document or per HTTP request: the whole
dispatch of a run is one task run that streams its work items. Inputs include the open database,
so result caching is off (``NONE``): the ledger is the cache. Prefect walks every parameter of
every task run, so no task receives the plan itself: the dispatch task gets the run's id, and
the price task the plan ``quote``d (passed through unwalked).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.utilities.annotations import quote

from connectors.backends import Backend
from connectors.sources import Source
from connectors.store import Store
from nightshift.models import ModelIds, RunStatus
from nightshift.profiles import Profile
from nightshift.progress import ProgressEvent, progress_hook
from tasks.dispatch import DispatchReport, DispatchRun
from tasks.ingest import IngestOptions, IngestSummary
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


def price_tracked(plan: ReviewPlan, profile: Profile, at: datetime) -> PlanReport:
    return price_task(quote(plan), profile, at)  # type: ignore[call-overload]  # Prefect unquotes it


@task(name="wait-until-ready", cache_policy=NONE)
def wait_until_ready_task(backend: Backend, timeout_seconds: float) -> list[str]:
    return PLAIN_STAGES.wait_until_ready(backend, timeout_seconds)


# The runs being dispatched in this process, by run id, for the dispatch task to find.
_DISPATCHING: dict[str, DispatchRun] = {}
PROGRESS_LOG_SECONDS = 30.0  # the dispatch task logs its progress at most this often


@task(name="dispatch", cache_policy=NONE, task_run_name="dispatch {items} work items")
def dispatch_task(run_id: str, items: int) -> DispatchReport:
    """The run's whole dispatch, its progress in the task run's log."""
    logger = get_run_logger()
    outer = progress_hook.get()
    last = time.monotonic()

    def on_progress(event: ProgressEvent) -> None:
        nonlocal last
        if outer is not None:
            outer(event)
        if time.monotonic() - last >= PROGRESS_LOG_SECONDS or event.done == event.total:
            last = time.monotonic()
            logger.info("%s of %s work items finished", event.done, event.total)

    token = progress_hook.set(on_progress)
    try:
        return PLAIN_STAGES.dispatch(_DISPATCHING[run_id])
    finally:
        progress_hook.reset(token)


def dispatch_tracked(run: DispatchRun) -> DispatchReport:
    _DISPATCHING[run.run_id] = run
    try:
        return dispatch_task(run.run_id, len(run.plan.items))
    finally:
        del _DISPATCHING[run.run_id]


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
    price=price_tracked,
    wait_until_ready=wait_until_ready_task,
    dispatch=dispatch_tracked,
    report=report_task,
)
