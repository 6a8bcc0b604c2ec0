"""``nightshift runs`` and ``nightshift report`` on a real database: a run that found nothing new
says what it skipped and why, in the list, in the summary kept with the run, and in the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from connectors.store import Store
from nightshift.cli import WIDTH_WHEN_PIPED, app
from tasks.run_report import recent_runs

CONTRACTS = Path(__file__).resolve().parents[1] / "sample_data" / "contracts"
runner = CliRunner()


def test_runs_lists_a_no_op_run_with_what_it_skipped(tmp_path: Path) -> None:
    source = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, source)
    db = tmp_path / "r.duckdb"
    args = ["review", str(source), "--backend", "simulator", "--db", str(db)]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, args).exit_code == 0
    listed = runner.invoke(app, ["runs", "--db", str(db)], terminal_width=WIDTH_WHEN_PIPED)
    assert listed.exit_code == 0, listed.output
    with Store(db) as store:
        runs = store.query_dicts(
            "SELECT r.run_id, v.requests, v.documents, r.totals FROM runs r "
            "JOIN review_runs v USING (run_id) ORDER BY r.started_at"
        )
        first, second = runs
        statuses = [row[5] for row in recent_runs(store, 5)]  # the table's cells, unwrapped
    assert statuses == [
        "completed: nothing new, 8 documents already reviewed with this profile version",
        "completed",
    ]
    assert first["run_id"] in listed.output and second["run_id"] in listed.output
    assert first["requests"] > 0 and second["requests"] == 0
    totals = json.loads(second["totals"])
    assert totals["skipped_documents"] == 8 and totals["planned_usd"] is None
    assert json.loads(first["totals"])["planned_usd"] > 0

    out = tmp_path / "report.html"
    written = runner.invoke(app, ["report", "--db", str(db), "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert second["run_id"] in written.output  # the latest run by default
    html = out.read_text(encoding="utf-8")
    assert "8 skipped: already reviewed with this profile version" in html
    assert "<script" not in html and "http://" not in html.replace("http://127.0.0.1", "")


def test_report_of_an_unknown_run_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    Store(db).close()
    result = runner.invoke(app, ["report", "--db", str(db), "--run", "nope", "--out", "x.html"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: no review run 'nope' in {db}"]
