"""A tracked review writes its HTML report beside the database and names it in the flow run's
``review-report`` artifact, read back here through the Prefect API of the test harness."""

from __future__ import annotations

import shutil
from pathlib import Path
from uuid import UUID

import duckdb
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)

from tasks.matrix import STATES
from tasks.report_html import report_path
from tests.flows.conftest import run_flow

CONTRACTS = Path(__file__).resolve().parents[2] / "sample_data" / "contracts"


def test_the_flow_run_gets_its_report_as_an_artifact(prefect_harness: None, tmp_path: Path):
    source, db = tmp_path / "contracts", tmp_path / "review.duckdb"
    shutil.copytree(CONTRACTS, source)
    result = run_flow(source=str(source), profile="legal", db=str(db), backend="simulator")
    assert result.status == "completed"
    with duckdb.connect(str(db), read_only=True) as con:
        (flow_run_id,) = con.execute(
            "SELECT flow_run_id FROM runs WHERE run_id = ?", [result.run_id]
        ).fetchone() or (None,)
        families = con.execute(
            "SELECT count(DISTINCT (source, family_id)) FROM clause_matrix WHERE profile = 'legal'"
        ).fetchall()[0][0]
        states = dict(con.execute(
            "SELECT state, count(*) FROM clause_matrix WHERE profile = 'legal' GROUP BY state"
        ).fetchall())  # fmt: skip
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["review-report"])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])),
        )
    assert len(artifacts) == 1
    artifact = artifacts[0]
    assert artifact.type == "markdown" and isinstance(artifact.data, str)
    assert result.run_id in (artifact.description or "")
    # The artifact names the report file, which is there, beside the database.
    report = report_path(db, result.run_id)
    assert report.parent == db.parent / "reports"
    assert f"`{report.resolve()}`" in artifact.data
    html = report.read_text(encoding="utf-8")
    assert f"<code>{result.run_id}</code>" in html
    assert 'data-contract="harrowgate-bellwether"' in html
    # Its headline is the clause matrix's, counted from the database.
    fields = ", ".join(f"{states.get(state, 0)} {state}" for state in STATES)
    assert families == 7
    assert f"- {families} contracts; fields: {fields}" in artifact.data
