"""``ingest-corpus``: discover, parse and count every file of a source into DuckDB.

The process is ``flows.pipelines.ingest_pipeline``; this flow runs it with the stage as a
Prefect task.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run

from flows.pipelines import IngestReport, ingest_pipeline
from nightshift.settings import OcrMode, Settings
from tasks.prefect_tasks import PREFECT_STAGES


@flow(name="ingest-corpus", log_prints=True)
def ingest_corpus(
    source: str,
    db: str | None = None,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    ocr: OcrMode = "never",
) -> IngestReport:
    """Land one ``documents`` row per file of ``source`` (a folder, a file or s3://...)."""
    settings = Settings()
    if db:
        settings = settings.model_copy(update={"db_path": Path(db)})
    return ingest_pipeline(source, settings, include or (), exclude or (), PREFECT_STAGES,
                           flow_run_id=flow_run.get_id(), ocr=ocr)  # fmt: skip
