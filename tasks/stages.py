"""The pipeline's stages as one value, so the review is composed once.

``flows/review.py`` runs the same composition with ``PLAIN_STAGES`` (plain function calls: the
CLI with no Prefect API configured, and the tests of the pipeline itself) or with the Prefect
task wrappers of ``tasks/prefect_tasks.py`` (a tracked flow run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from connectors.backends import Backend
from connectors.sources import Source
from connectors.store import Store
from nightshift.models import ModelIds, RunStatus
from nightshift.profiles import Profile
from nightshift.progress import ProgressEvent, report_progress
from tasks.dispatch import DispatchReport, DispatchRun, dispatch_run, wait_until_ready
from tasks.ingest import IngestOptions, IngestProgress, IngestSummary, ingest_source
from tasks.price import PlanReport, price_plan
from tasks.report import RunSummary, summarize_run
from tasks.review_plan import ReviewPlan, plan_source


def ingest_documents(
    source: Source, store: Store, options: IngestOptions, run_id: str
) -> IngestSummary:
    """The ingest stage, reporting progress through the one progress hook."""

    def on_progress(event: IngestProgress) -> None:
        report_progress(ProgressEvent("ingest", event.files_done, event.files_seen, event.current))

    return ingest_source(source, store, options, run_id, on_progress)


@dataclass(frozen=True)
class Stages:
    ingest: Callable[[Source, Store, IngestOptions, str], IngestSummary]
    plan: Callable[[Store, str, Profile, bool, str, ModelIds], ReviewPlan]
    price: Callable[[ReviewPlan, Profile, datetime], PlanReport]
    wait_until_ready: Callable[[Backend, float], list[str]]
    dispatch: Callable[[DispatchRun], DispatchReport]
    # store, run id, status, backend label, reason, Pro model, skipped documents
    report: Callable[[Store, str, RunStatus, str, str | None, str, int], RunSummary]


PLAIN_STAGES = Stages(
    ingest=ingest_documents,
    plan=plan_source,
    price=price_plan,
    wait_until_ready=wait_until_ready,
    dispatch=dispatch_run,
    report=summarize_run,
)
