"""``review-corpus``: a corpus to verified, source-grounded extractions in DuckDB.

Ingest, plan, then (unless only planning) dispatch in batches inside the off-peak window and
the budget, and report. Runs with no server at all (Prefect's ephemeral mode) or as the
deployments in ``prefect.yaml``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.context import get_run_context

from connectors.sources import Source, open_source
from connectors.store import Store, utc_now
from connectors.tables import RunRow
from flows.ingest import ingest_options
from nightshift.backends import BackendName, open_backend, scope_for
from nightshift.errors import RunStoppingError
from nightshift.offpeak import utc_instant
from nightshift.profiles import Profile, load_profile
from nightshift.settings import DEFAULT_PRO_MODEL, Settings
from tasks.dispatch import work_item_row
from tasks.gate import Gate
from tasks.plan import WorkItem
from tasks.prefect_tasks import (
    DispatchRun,
    dispatch_batch,
    ingest_documents,
    plan_documents,
    price_work,
    report_run,
    wait_until_ready,
)
from tasks.review import PlanReport
from tasks.route import ModelIds

BATCH_ITEMS = 50  # work items per Prefect task run


@dataclass(frozen=True)
class ReviewOptions:
    source: str
    profile: str = "legal"
    db: str | None = None
    budget_usd: float | None = None
    plan_only: bool = False
    force: bool = False
    backend: BackendName = "deepseek"
    off_peak_only: bool = False
    allow_peak: bool = False
    deadline: datetime | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    simulator: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReviewResult:
    run_id: str
    status: str
    backend: str
    summary: dict[str, Any]
    plan: PlanReport | None = None

    def as_dict(self) -> dict[str, Any]:
        plan = self.plan.as_dict() if self.plan is not None else None
        return {"run_id": self.run_id, "status": self.status, "backend": self.backend,
                "summary": self.summary, "plan": plan}  # fmt: skip


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
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    simulator: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Review SOURCE (a folder, a file or s3://bucket/prefix) with PROFILE into the DuckDB DB."""
    options = ReviewOptions(
        source=source, profile=profile, db=db, budget_usd=budget_usd, plan_only=plan_only,
        force=force, backend=backend, off_peak_only=off_peak_only, allow_peak=allow_peak,
        deadline=deadline, include=tuple(include or ()), exclude=tuple(exclude or ()),
        simulator=dict(simulator or {}),
    )  # fmt: skip
    return run_review(options, Settings()).as_dict()


def run_review(
    options: ReviewOptions, settings: Settings, clock: Callable[[], datetime] = utc_now
) -> ReviewResult:
    profile = load_profile(options.profile)
    db_path = Path(options.db) if options.db else settings.db_path
    run_id = f"review-{_flow_run_id() or uuid.uuid4().hex[:12]}"
    source = open_source(options.source, options.include, options.exclude,
                         s3_endpoint_url=settings.s3_endpoint_url)  # fmt: skip
    deadline = utc_instant(options.deadline, "deadline") if options.deadline else None
    with Store(db_path) as store:
        store.mark_interrupted_runs()
        store.start_run(RunRow(
            run_id, _flow_run_id(), "review", profile.name, profile.version, source.uri,
            "plan" if options.plan_only else options.backend, clock(),
            budget_usd=options.budget_usd,
        ))  # fmt: skip
        try:
            return _review(store, run_id, source, profile, options, settings, deadline, clock)
        except BaseException as exc:
            # Whatever stopped the run (storage, the database, a bug), the row says so; the
            # ledger already holds every answer paid for.
            store.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}", None)
            raise


def _review(
    store: Store,
    run_id: str,
    source: Source,
    profile: Profile,
    options: ReviewOptions,
    settings: Settings,
    deadline: datetime | None,
    clock: Callable[[], datetime],
) -> ReviewResult:
    logger = get_run_logger()
    ingest_documents(source, store, ingest_options(settings), run_id)
    plan = plan_documents(store, source.uri, profile, options.force,
                          scope_for(options.backend, settings))  # fmt: skip
    store.append([
        work_item_row(item, run_id, profile, "failed", f"cannot be planned: {reason}", clock())
        for item, reason in plan.rejected
    ])  # fmt: skip
    if options.plan_only:
        models = ModelIds(settings.flash_model, settings.pro_model)
        report = price_work(plan, profile, models, clock())
        store.finish_run(run_id, "planned", None, report.as_dict())
        return ReviewResult(run_id, "planned", "none (plan only)", report.as_dict(), report)
    if not plan.items:  # nothing new: no backend needed, nothing sent
        return _finish(store, run_id, "completed", None, "none (nothing to review)")
    with open_backend(options.backend, settings, options.simulator) as backend:
        logger.info("Backend: %s", backend.label)
        if backend.name == "selfhosted":
            wait_until_ready(backend, settings.selfhosted_ready_seconds)
        gate = Gate(options.budget_usd, options.off_peak_only, options.allow_peak, deadline)
        run = DispatchRun(plan, store, profile, backend, settings, run_id, gate, clock)
        status, reason = dispatch_all(run)
        return _finish(store, run_id, status, reason, backend.label, settings.pro_model)


def dispatch_all(run: DispatchRun) -> tuple[str, str | None]:
    """Dispatch the plan batch by batch; what the gate or a stopped run holds back is pending."""
    items, gate = run.plan.items, run.gate
    status, reason = "completed", None
    for start in range(0, len(items), BATCH_ITEMS):
        batch = items[start : start + BATCH_ITEMS]
        if gate.closed_reason is not None or status == "failed":
            _leave_pending(run, batch, gate.closed_reason or reason)
            continue
        label = f"items {start + 1}-{start + len(batch)} of {len(items)}"
        try:
            dispatch_batch(label, batch, run, start)
        except RunStoppingError as exc:
            status, reason = "failed", str(exc)
            _leave_pending(run, batch, reason, only_unrecorded=True)
    if status != "failed" and gate.closed_reason is not None:
        status, reason = "deferred", gate.closed_reason
    return status, reason


def _finish(
    store: Store,
    run_id: str,
    status: str,
    reason: str | None,
    backend_label: str,
    pro_model: str = DEFAULT_PRO_MODEL,
) -> ReviewResult:
    summary = report_run(store, run_id, status, backend_label, reason, pro_model)
    if status == "completed" and summary.totals["failed_items"]:
        status = "completed_with_failures"
    store.finish_run(run_id, status, reason, summary.as_dict())
    return ReviewResult(run_id, status, backend_label, summary.as_dict())


def _leave_pending(
    run: DispatchRun, batch: list[WorkItem], reason: str | None, only_unrecorded: bool = False
) -> None:
    """Record work that was not started as pending, so the next run takes it first."""
    recorded: set[str] = set()
    if only_unrecorded:
        sql = "SELECT work_item_id FROM work_items WHERE run_id = ?"
        recorded = {row[0] for row in run.store.query(sql, [run.run_id])}
    now = run.clock()
    rows = [
        work_item_row(item, run.run_id, run.profile, "pending", reason, now)
        for item in batch
        if item.item_id not in recorded
    ]
    run.store.append(rows)


def _flow_run_id() -> str | None:
    try:
        context = get_run_context()
    except Exception:
        return None
    flow_run = getattr(context, "flow_run", None)
    return str(flow_run.id) if flow_run is not None else None
