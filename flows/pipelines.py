"""The nightly processes, composed once: ingest, plan, dispatch, land, report.

``ingest_pipeline`` and ``review_pipeline`` take their stages as a value: the flows in
``flows/ingest.py`` and ``flows/review.py`` run them with each stage as a Prefect task, and the
CLI runs the same pipelines with plain calls when no Prefect API is configured (no server is
started, and Prefect is not even imported).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from connectors.backends import Backend, models_for, open_backend, scope_for
from connectors.deepseek import ClientConfig, RetryPolicy
from connectors.sources import Source, open_source
from connectors.store import Store, utc_now
from connectors.tables import RunRow
from nightshift.models import RunStatus, WorkItemStatus
from nightshift.offpeak import utc_instant
from nightshift.options import ReviewOptions
from nightshift.profiles import Profile, load_profile
from nightshift.settings import OcrMode, Settings
from tasks.dispatch import DispatchRun, RequestSlot
from tasks.families import land_families
from tasks.findings import track_findings
from tasks.gate import Gate
from tasks.ingest import IngestOptions, IngestSummary
from tasks.land import Landing
from tasks.ocr import OcrConfig
from tasks.pdf_pool import PdfLimits
from tasks.price import PlanReport, calibrated
from tasks.report import RunSummary
from tasks.review_plan import ReviewPlan
from tasks.shard import ShardedSource
from tasks.stages import PLAIN_STAGES, Stages


@dataclass(frozen=True)
class IngestReport:
    run_id: str
    summary: IngestSummary
    rows: list[dict[str, Any]]  # files, pages, tokens, bytes by kind and status, this run
    seconds: float

    @property
    def files(self) -> int:
        return sum(row["files"] for row in self.rows)


def ingest_options(settings: Settings, ocr: OcrMode = "never") -> IngestOptions:
    passwords: tuple[str, ...] = ("",)
    if settings.pdf_password is not None:
        passwords = ("", settings.pdf_password.get_secret_value())
    return IngestOptions(
        max_file_bytes=settings.max_file_bytes,
        pdf_engine=settings.pdf_engine,
        pdf_passwords=passwords,
        pdf_limits=PdfLimits(
            seconds_per_page=settings.pdf_seconds_per_page,
            min_seconds=settings.pdf_min_seconds,
            page_seconds=settings.pdf_page_seconds,
            memory_mb=settings.pdf_memory_mb,
            max_pages=settings.pdf_max_pages,
        ),
        workers=settings.workers,
        fetch_workers=settings.fetch_workers,
        ocr=OcrConfig(
            mode=ocr,
            languages=settings.ocr_languages,
            dpi=settings.ocr_dpi,
            max_pixels=settings.ocr_max_pixels,
            page_seconds=settings.ocr_page_seconds,
        ),
    )


def ingest_pipeline(
    uri: str,
    settings: Settings,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    stages: Stages = PLAIN_STAGES,
    flow_run_id: str | None = None,
    ocr: OcrMode = "never",
) -> IngestReport:
    started = time.monotonic()
    run_id = f"ingest-{flow_run_id or uuid.uuid4().hex[:12]}"
    source = open_source(uri, include, exclude, s3_endpoint_url=settings.s3_endpoint_url)
    with Store(settings.db_path) as store:
        store.start_run(RunRow(run_id, flow_run_id, "ingest", None, None, source.uri, None,
                               utc_now()))  # fmt: skip
        try:
            summary = stages.ingest(source, store, ingest_options(settings, ocr), run_id)
        except BaseException as exc:
            store.finish_run(run_id, RunStatus.FAILED, f"{type(exc).__name__}: {exc}", None)
            raise
        store.finish_run(run_id, RunStatus.COMPLETED, None, summary.as_dict())
        rows = store.ingest_totals(run_id)
    return IngestReport(run_id, summary, rows, time.monotonic() - started)


@dataclass(frozen=True)
class ReviewResult:
    run_id: str
    status: RunStatus
    backend: str
    summary: RunSummary | None = None
    plan: PlanReport | None = None
    skipped: int = 0  # documents of the source already reviewed with this profile version


@dataclass(frozen=True)
class ReviewRun:
    """One review run's context, as every step of the pipeline needs it."""

    store: Store
    run_id: str
    source: Source
    profile: Profile
    options: ReviewOptions
    settings: Settings
    stages: Stages
    clock: Callable[[], datetime]

    @cached_property
    def scope(self) -> str:
        # Read once: for the oracle it hashes the labels file.
        return scope_for(self.options.backend, self.settings, self.options.simulator)

    def pricing_profile(self) -> Profile:
        """The profile with its answer size learned from this backend's earlier answers."""
        observed = self.store.output_per_document_field(self.profile.name, self.scope)
        return calibrated(self.profile, *observed)

    def ingest_and_plan(self) -> ReviewPlan:
        options = ingest_options(self.settings, self.options.ocr)
        self.stages.ingest(self.source, self.store, options, self.run_id)
        models = models_for(self.options.backend, self.settings)
        return self.stages.plan(self.store, self.source.uri, self.profile, self.options.force,
                                self.scope, models)  # fmt: skip


def review_pipeline(
    options: ReviewOptions,
    settings: Settings,
    stages: Stages = PLAIN_STAGES,
    clock: Callable[[], datetime] = utc_now,
    flow_run_id: str | None = None,
) -> ReviewResult:
    profile = load_profile(options.profile)
    db_path = Path(options.db) if options.db else settings.db_path
    source = open_source(options.source, options.include, options.exclude,
                         s3_endpoint_url=settings.s3_endpoint_url)  # fmt: skip
    if options.shard_count > 1:  # one shard of a night spread over workers (flows/night.py)
        source = ShardedSource(source, options.shard_index, options.shard_count)
    run_id = f"review-{flow_run_id or uuid.uuid4().hex[:12]}"
    if options.plan_only:
        # A plan ingests and plans in a scratch copy: the database is never written or locked.
        with Store.scratch_copy(db_path) as store:
            run = ReviewRun(store, run_id, source, profile, options, settings, stages, clock)
            plan = run.ingest_and_plan()
            report = stages.price(plan, run.pricing_profile(), clock())
            return ReviewResult(run_id, RunStatus.PLANNED, "none (plan only)", plan=report,
                                skipped=plan.skipped)  # fmt: skip
    with Store(db_path) as store:
        store.start_run(RunRow(run_id, flow_run_id, "review", profile.name, profile.version,
                               source.uri, options.backend, clock(),
                               budget_usd=options.budget_usd))  # fmt: skip
        try:
            result = _review(ReviewRun(store, run_id, source, profile, options, settings, stages,
                                       clock))  # fmt: skip
            # Codebase reviews: tonight's findings against last night's (new, persisting, fixed).
            track_findings(store, run_id, source.uri, profile, clock())
        except BaseException as exc:
            # Whatever stopped the run (storage, the database, a bug), the row says so; the
            # ledger already holds every answer paid for.
            store.finish_run(run_id, RunStatus.FAILED, f"{type(exc).__name__}: {exc}", None)
            raise
        return result


def _review(run: ReviewRun) -> ReviewResult:
    plan = run.ingest_and_plan()
    if run.profile.task == "extraction":  # contracts: who amends whom, for the clause matrix
        land_families(run.store, run.source.uri, run.clock())
    options, settings = run.options, run.settings
    landing = Landing(run.store, run.run_id, run.profile, run.scope, run.clock)
    if plan.items and run.options.backend != "selfhosted":  # a node is paid by the hour
        started = run.clock()
        priced = run.stages.price(plan, run.pricing_profile(), started)
        run.store.record_plan(
            run.run_id, priced.usd_at(started), priced.prompt_tokens,
            priced.predicted_cache_hit_tokens, priced.expected_output_tokens,
        )  # fmt: skip
    for item, why in plan.rejected:
        landing.work_items([item], WorkItemStatus.FAILED, f"cannot be planned: {why}")
    if not plan.items:  # nothing new: no backend needed, nothing sent
        label = "none (nothing to review)"
        summary = _finish(run, RunStatus.COMPLETED, None, label, plan.skipped)
        return ReviewResult(run.run_id, summary.status, label, summary, skipped=plan.skipped)
    with open_backend(options.backend, settings, options.simulator) as backend:
        if backend.name == "selfhosted":
            run.stages.wait_until_ready(backend, settings.selfhosted_ready_seconds)
        deadline = utc_instant(options.deadline, "deadline") if options.deadline else None
        gate = Gate(options.budget_usd, options.off_peak_only, options.allow_peak, deadline)
        dispatch = DispatchRun(
            plan, run.store, run.profile, backend, run.run_id, gate, run.clock,
            settings.max_in_flight, client_config(settings), landing,
            account_slots(settings, backend),
        )  # fmt: skip
        report = run.stages.dispatch(dispatch)
        status, reason = report.status, report.reason
        summary = _finish(run, status, reason, backend.label, plan.skipped)
    return ReviewResult(run.run_id, summary.status, backend.label, summary, skipped=plan.skipped)


def account_slots(settings: Settings, backend: Backend) -> RequestSlot | None:
    """The account-wide request limit when the settings ask for it (``NIGHTSHIFT_ACCOUNT_LIMIT``);
    Prefect is imported only then."""
    if settings.account_limit == "off":
        return None
    from connectors.account_limit import AccountSlots

    return AccountSlots(backend.models.pro)


def client_config(settings: Settings) -> ClientConfig:
    return ClientConfig(
        retry=RetryPolicy(backoff_base=settings.retry_backoff_seconds),
        request_deadline_seconds=settings.request_deadline_seconds,
        deadline_seconds_per_output_token=settings.deadline_seconds_per_output_token,
    )


def _finish(
    run: ReviewRun,
    status: RunStatus,
    reason: str | None,
    backend_label: str,
    skipped: int,
) -> RunSummary:
    summary = run.stages.report(run.store, run.run_id, status, backend_label, reason,
                                run.settings.pro_model, skipped)  # fmt: skip
    if status is RunStatus.COMPLETED and summary.totals["failed_items"]:
        status = RunStatus.COMPLETED_WITH_FAILURES
        summary = RunSummary(run.run_id, status, backend_label, summary.totals,
                             summary.by_model, reason)  # fmt: skip
    run.store.finish_run(run.run_id, status, reason, summary.as_dict())
    return summary
