"""``evaluate-run``: score a run's extractions against labels, as a Prefect artifact too."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from tasks.evaluate import EvalReport, evaluate_run


@flow(name="evaluate-run", log_prints=True)
def evaluate_flow(db: str, labels: str, run_id: str | None = None) -> EvalReport:
    """Precision, recall and F1 per field of ``run_id`` (or the latest run per document)."""
    report = evaluate_run(db, labels, run_id)
    create_markdown_artifact(report.markdown(), key="eval", description=f"eval against {labels}")
    return report
