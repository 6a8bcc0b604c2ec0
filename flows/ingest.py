"""Ingest as the CLI and the review flow run it: open the source and the store, land, report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors.sources import open_source
from connectors.store import Store, utc_now
from connectors.tables import RunRow
from nightshift.settings import Settings
from tasks.ingest import IngestOptions, IngestSummary, ProgressCallback, ingest_source
from tasks.pdf_pool import PdfLimits


@dataclass(frozen=True)
class IngestReport:
    summary: IngestSummary
    rows: list[dict[str, Any]]  # files, pages, tokens, bytes by kind and status, this run
    seconds: float

    @property
    def files(self) -> int:
        return sum(row["files"] for row in self.rows)


def ingest_options(settings: Settings) -> IngestOptions:
    passwords = ("",)
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
        ),
        workers=settings.workers,
    )


def run_ingest(
    uri: str,
    settings: Settings,
    run_id: str,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    started = time.monotonic()
    source = open_source(uri, include, exclude, s3_endpoint_url=settings.s3_endpoint_url)
    with Store(settings.db_path) as store:
        store.start_run(RunRow(run_id, None, "ingest", None, None, source.uri, None, utc_now()))
        try:
            summary = ingest_source(source, store, ingest_options(settings), run_id, on_progress)
        except BaseException as exc:
            store.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}", None)
            raise
        store.finish_run(run_id, "completed", None, summary.as_dict())
        rows = store.query_dicts(
            "SELECT kind, status, count(*) AS files, sum(pages) AS pages, sum(tokens) AS tokens, "
            "sum(bytes) AS bytes FROM documents WHERE last_run_id = ? "
            "GROUP BY ALL ORDER BY kind, status",
            [run_id],
        )
    return IngestReport(summary, rows, time.monotonic() - started)
