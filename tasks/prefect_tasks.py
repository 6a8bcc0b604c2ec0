"""The stages as Prefect tasks: thin wrappers that say only what Prefect needs.

Task runs are per stage and per batch of work items (tens per run), never per document or per
HTTP request; the fan-out of requests happens inside ``dispatch_batch`` with asyncio. Inputs
include the open database, so result caching is off (``NONE``): the ledger is the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from connectors.deepseek import DeepSeekClient
from connectors.sources import Source
from connectors.store import Store
from nightshift.backends import Backend
from nightshift.pricing import cost_usd, worst_case_cost_usd
from nightshift.profiles import Profile
from nightshift.progress import ProgressEvent, report_progress
from nightshift.settings import Settings
from tasks.dispatch import Dispatcher
from tasks.gate import Gate
from tasks.ingest import IngestOptions, IngestProgress, IngestSummary, ingest_source
from tasks.plan import WorkItem
from tasks.report import RunSummary, summarize_run
from tasks.review import PlanReport, ReviewPlan, plan_review, price_plan
from tasks.route import ModelIds


@task(name="ingest", cache_policy=NONE)
def ingest_documents(
    source: Source, store: Store, options: IngestOptions, run_id: str
) -> IngestSummary:
    def on_progress(event: IngestProgress) -> None:
        report_progress(ProgressEvent("ingest", event.files_done, event.files_seen, event.current))

    summary = ingest_source(source, store, options, run_id, on_progress)
    get_run_logger().info(
        "ingested %s files: %s parsed, %s unchanged", summary.files + summary.unchanged,
        summary.parsed, summary.unchanged,
    )  # fmt: skip
    return summary


@task(name="plan", cache_policy=NONE)
def plan_documents(
    store: Store, source_uri: str, profile: Profile, force: bool, backend_scope: str
) -> ReviewPlan:
    plan = plan_review(store, source_uri, profile, force, backend_scope)
    get_run_logger().info(
        "planned %s work items over %s documents (%s resumed from earlier runs)",
        len(plan.items), plan.documents, plan.resumed_items,
    )  # fmt: skip
    return plan


@task(name="price", cache_policy=NONE)
def price_work(plan: ReviewPlan, profile: Profile, models: ModelIds, at: datetime) -> PlanReport:
    return price_plan(plan, profile, models, at)


@dataclass(frozen=True)
class DispatchRun:
    """What every batch of one review run is dispatched with."""

    plan: ReviewPlan
    store: Store
    profile: Profile
    backend: Backend
    settings: Settings
    run_id: str
    gate: Gate
    clock: Callable[[], datetime]


@task(name="dispatch-batch", cache_policy=NONE, task_run_name="dispatch {label}")
def dispatch_batch(
    label: str, batch: Sequence[WorkItem], run: DispatchRun, done_before: int
) -> dict[str, str]:
    """Send one batch of work items; returns each item's status (done, failed, pending)."""
    plan, store, profile, backend, settings = (
        run.plan,
        run.store,
        run.profile,
        run.backend,
        run.settings,
    )
    pricer, worst_case = cost_usd, worst_case_cost_usd
    if backend.name == "selfhosted":
        # A self-hosted node is paid by the hour, not by the token (see the plan's comparison).
        pricer, worst_case = _free, _free  # type: ignore[assignment]

    finished = [done_before]

    def on_item_done(item: WorkItem, status: str) -> None:
        finished[0] += 1
        report_progress(ProgressEvent("dispatch", finished[0], len(plan.items), item.group))

    async def send_batch() -> dict[str, str]:
        async with DeepSeekClient(
            backend.base_url, backend.api_key, flavour=backend.flavour,
            # Pro's account limit is a fifth of Flash's; a self-hosted endpoint serves one model.
            concurrency={backend.models.pro: max(1, settings.max_in_flight // 4),
                         backend.models.flash: settings.max_in_flight},
        ) as client:  # fmt: skip
            dispatcher = Dispatcher(
                store=store, client=client, profile=profile, models=backend.models,
                run_id=run.run_id, views=plan.views, indexes=plan.indexes, pricer=pricer,
                worst_case=worst_case, gate=run.gate, clock=run.clock,
                max_in_flight=settings.max_in_flight, on_item_done=on_item_done,
                scope=backend.scope,
            )  # fmt: skip
            statuses = await dispatcher.run(batch, plan.covering)
            stats = dispatcher.stats
            get_run_logger().info(
                "%s: %s sent, %s reused from the ledger, %s escalated, %s failed, %s held back",
                label, stats.sent, stats.reused, stats.escalated, stats.failed, stats.held,
            )  # fmt: skip
            return statuses

    return asyncio.run(send_batch())


def _free(*_args: object, **_kwargs: object) -> float:
    return 0.0


@task(name="wait-until-ready", cache_policy=NONE)
def wait_until_ready(backend: Backend, timeout_seconds: float) -> list[str]:
    """A self-hosted endpoint must be up and serving its model before anything is dispatched."""

    async def wait() -> list[str]:
        async with DeepSeekClient(backend.base_url, backend.api_key, flavour=backend.flavour) as c:
            return await c.wait_until_ready(timeout_seconds, model=backend.models.flash)

    served = asyncio.run(wait())
    get_run_logger().info("endpoint ready, serving %s", ", ".join(served))
    return served


@task(name="report", cache_policy=NONE)
def report_run(
    store: Store,
    run_id: str,
    status: str,
    backend_label: str,
    reason: str | None,
    pro_model: str,
) -> RunSummary:
    summary = summarize_run(store, run_id, status, backend_label, reason, pro_model)
    create_markdown_artifact(
        summary.markdown(), key="review-summary", description=f"nightshift review {run_id}"
    )
    return summary
