"""The review-corpus flow under Prefect's test harness, against the simulator, on sample_data/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from uuid import UUID

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)

from nightshift.errors import ConfigError
from tests.flows.conftest import run_flow

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
SNAPSHOT = Path(__file__).parent / "snapshots" / "sample_legal_extractions.json"

# The codebase profile's field for each kind of issue planted in sample_data/codebase.
FIELD_OF_KIND = {
    "hard-coded secret": "hardcoded_secret", "sql injection": "sql_injection",
    "swallowed exception": "swallowed_exception", "weak password hashing": "weak_hash",
    "off-by-one": "off_by_one", "insecure deserialization": "insecure_deserialization",
    "unsafe yaml load": "unsafe_yaml", "os command injection": "command_injection",
    "missing authorization": "missing_authorization", "path traversal": "path_traversal",
}  # fmt: skip


def copy_sample(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(SAMPLE / name, target)
    return target


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_legal_review_lands_the_expected_grounded_extractions(prefect_harness, tmp_path: Path):
    db = tmp_path / "review.duckdb"
    result = run_flow(
        source=str(copy_sample(tmp_path, "contracts")), profile="legal", db=str(db),
        backend="simulator",
    )  # fmt: skip
    assert result.status == "completed"
    assert result.backend.startswith("LOCAL SIMULATOR")
    summary = result.summary.totals
    assert (summary["documents"], summary["failed_items"], summary["pending_items"]) == (8, 0, 0)
    landed = query(db, """
        SELECT d.relpath, e.field, e.page, e.line, e.quote, e.grounded, e.model
        FROM extractions e JOIN current_documents d USING (doc_id)
        ORDER BY d.relpath, e.field, e.char_start""")  # fmt: skip
    expected = [tuple(row) for row in json.loads(SNAPSHOT.read_text(encoding="utf-8"))]
    assert landed == expected
    assert all(row[5] for row in landed)  # every quote was found in its source
    pdf_rows = [row for row in landed if row[0].endswith(".pdf")]
    assert pdf_rows and all(row[2] is not None and row[2] >= 1 for row in pdf_rows)
    text_rows = [row for row in landed if not row[0].endswith(".pdf")]
    assert text_rows and all(row[3] is not None for row in text_rows)
    # The master agreement travelled with its amendment: one work item holds both.
    together = query(db, """
        SELECT count(*) FROM work_items WHERE list_contains(doc_ids, (
            SELECT doc_id FROM current_documents WHERE relpath LIKE '%agreement-amendment-1.pdf'))
          AND list_contains(doc_ids, (SELECT doc_id FROM current_documents
            WHERE relpath = 'harrowgate-bellwether/master-services-agreement.pdf'))""")  # fmt: skip
    assert together == [(1,)]
    # The summary is also the flow run's markdown artifact.
    flow_run_id = query(db, "SELECT flow_run_id FROM runs WHERE kind = 'review'")[0][0]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["review-summary"])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])),
        )
    assert len(artifacts) == 1
    assert artifacts[0].type == "markdown"
    # One contract family a request: the Harrowgate master with its amendment, six others apart.
    assert f"| 8 | 7 | 7 | {summary['prompt_tokens']:,} |" in artifacts[0].data


def test_codebase_review_finds_every_planted_issue_at_its_line(prefect_harness, tmp_path: Path):
    db = tmp_path / "review.duckdb"
    result = run_flow(
        source=str(copy_sample(tmp_path, "codebase")), profile="codebase", db=str(db),
        backend="simulator",
    )  # fmt: skip
    assert result.status == "completed"
    landed = set(query(db, "SELECT file, line, field FROM latest_extractions"))
    planted = json.loads((SAMPLE / "codebase.issues.json").read_text(encoding="utf-8"))["issues"]
    expected = {(i["file"], i["line"], FIELD_OF_KIND[i["kind"]]) for i in planted}
    assert expected <= landed
    # One whole-repository request; .gitignored decoys never reach the model.
    assert query(db, "SELECT count(*) FROM work_items") == [(1,)]
    files = {row[0] for row in query(db, "SELECT relpath FROM current_documents")}
    assert "debug.log" not in files
    assert not any(name.startswith("build/") for name in files)
    assert landed - expected == {("db.py", 145, "missing_authorization")}  # a known false alarm


def test_running_again_sends_no_request(prefect_harness, tmp_path: Path):
    source = copy_sample(tmp_path, "codebase")
    db = tmp_path / "review.duckdb"
    run_flow(source=str(source), profile="codebase", db=str(db), backend="simulator")
    again = run_flow(source=str(source), profile="codebase", db=str(db), backend="simulator")
    assert again.summary.totals["requests"] == 0
    assert again.summary.totals["documents"] == 0


def test_plan_only_prices_without_sending(prefect_harness, tmp_path: Path):
    db = tmp_path / "review.duckdb"
    result = run_flow(source=str(copy_sample(tmp_path, "contracts")), profile="legal",
                           db=str(db), plan_only=True)  # fmt: skip
    assert result.status == "planned"
    plan = result.plan
    assert plan is not None
    assert plan.requests == plan.work_items == 7  # a family a request (profile packing)
    assert 0 < plan.off_peak_usd < plan.peak_usd
    assert not db.exists()  # a plan writes nothing


def test_missing_api_key_is_an_error_naming_the_simulator(
    prefect_harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file to read a key from
    with pytest.raises(ConfigError, match="--backend simulator"):
        run_flow(source=str(copy_sample(tmp_path, "contracts")), profile="legal",
                      db=str(tmp_path / "r.duckdb"))  # fmt: skip


SECRET = "sk-live-0123456789abcdef0123456789abcdef"


def every_value_in(db: Path) -> str:
    """Every table and view of the database as text, to search for what must not be there."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        return "\n".join(str(con.execute(f'SELECT * FROM "{n}"').fetchall()) for n in names)


def test_the_api_key_never_lands_anywhere(
    prefect_harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog, capsys
):
    from connectors.simulator import SimulatorConfig, running_simulator

    db = tmp_path / "secret.duckdb"
    with running_simulator(SimulatorConfig(expected_api_key=SECRET)) as api:
        monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET)
        monkeypatch.setenv("DEEPSEEK_BASE_URL", api.base_url)
        good = run_flow(source=str(copy_sample(tmp_path, "codebase")), profile="codebase",
                             db=str(db))  # fmt: skip
        monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET[::-1])  # a wrong key: 401 stops the run
        bad = run_flow(source=str(copy_sample(tmp_path, "contracts")), profile="legal",
                            db=str(db))  # fmt: skip
    assert good.status == "completed"
    assert bad.status == "failed"
    assert "401" in bad.summary.status_reason or "key" in bad.summary.status_reason
    captured = capsys.readouterr()
    for text in (every_value_in(db), caplog.text, captured.out, captured.err, str(good), str(bad)):
        assert SECRET not in text
        assert SECRET[::-1] not in text
