"""The ``nightshift`` command: mistakes answered in one line with their exit code, before
anything starts; plans that write nothing; plain runs that never import Prefect."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from nightshift.cli import app

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "sample_data" / "contracts"
runner = CliRunner()


def error_of(result) -> str:  # type: ignore[no-untyped-def]
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output  # one line, no traceback
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file, and the default database lands here


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["review", "/no/such/folder", "--backend", "simulator"], "source not found"),
        (["review", str(CONTRACTS), "--profile", "legl"], "unknown profile 'legl'"),
        (["review", str(CONTRACTS), "--backend", "simulatr"], "unknown backend 'simulatr'"),
        (["review", str(CONTRACTS)], "DEEPSEEK_API_KEY is not set"),
        (["review", str(CONTRACTS), "--budget", "nan", "--backend", "simulator"], "budget"),
        (["review", str(CONTRACTS), "--profile", "missing.yaml"], "cannot read profile"),
        (["review", "s3://", "--backend", "simulator"], "S3 URI has no bucket"),
        (["review", str(CONTRACTS), "--oracle", "labels.jsonl"], "--backend simulator"),
    ],
)
def test_a_mistake_is_one_line_with_exit_code_2(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert expected in error_of(result)


def test_a_locked_database_is_named(tmp_path: Path) -> None:
    db = tmp_path / "busy.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); "
         "print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = runner.invoke(app, ["review", str(CONTRACTS), "--backend", "simulator",
                                     "--db", str(db)])  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 2
    assert "in use by another process" in error_of(result)


def test_a_plan_writes_nothing_and_takes_no_lock(tmp_path: Path) -> None:
    db = tmp_path / "nightly.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE marker (x INTEGER)")
    before = db.read_bytes()
    reader = duckdb.connect(str(db), read_only=True)  # a reader holds the file meanwhile
    try:
        result = runner.invoke(app, ["review", str(CONTRACTS), "--plan", "--db", str(db)])
    finally:
        reader.close()
    assert result.exit_code == 0, result.output
    assert "plan: nothing was sent" in result.output
    assert db.read_bytes() == before


def test_a_plain_review_never_imports_prefect(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom nightshift.cli import app\n"
        f"r = CliRunner().invoke(app, ['review', {str(CONTRACTS)!r}, '--backend', 'simulator',"
        f" '--db', {str(tmp_path / 'p.duckdb')!r}])\n"
        "assert r.exit_code == 0, r.output\nprint('prefect' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_a_second_run_says_what_it_skipped(tmp_path: Path) -> None:
    source = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, source)
    args = ["review", str(source), "--backend", "simulator", "--db", str(tmp_path / "r.duckdb")]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert "8 documents already reviewed with this profile version, skipped" in again.output


def test_windows_in_utc_shows_each_column_once() -> None:
    result = runner.invoke(app, ["windows", "--count", "2"])
    assert result.exit_code == 0
    header = next(line for line in result.output.splitlines() if "start UTC" in line)
    assert header.count("start") == 1


def test_export_without_a_database_hints_at_the_demo() -> None:
    result = runner.invoke(app, ["export", "--to", "out"])
    assert result.exit_code == 2
    assert "demo.duckdb" in error_of(result)


def test_the_simulator_on_a_busy_port_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["simulator", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in error_of(result)


def test_eval_exits_4_under_its_threshold(tmp_path: Path) -> None:
    source = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, source)
    db = tmp_path / "e.duckdb"
    assert runner.invoke(app, ["review", str(source), "--backend", "simulator",
                               "--db", str(db)]).exit_code == 0  # fmt: skip
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"filename": "mutual-nda-pinecrest-aldergrove.txt", "labels": {
        "Governing Law": {"context_spans": ["a clause that is not in the document at all"],
                          "answer": "x"}}}), encoding="utf-8")  # fmt: skip
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["eval", str(labels), "--db", str(db), "--json", str(out),
                                 "--min-recall", "0.5"])  # fmt: skip
    assert result.exit_code == 4
    assert "recall 0.000 is under --min-recall 0.5" in result.output
    assert json.loads(out.read_text())["fields"]


def test_the_demo_runs_tracked_and_a_second_demo_sends_nothing(tmp_path: Path) -> None:
    """The README's first command: both sample corpora on the simulator, tracked by a temporary
    Prefect server, then the example queries; run again, nothing is sent."""
    db = tmp_path / "demo.duckdb"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("DEEPSEEK_API_KEY", None)
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "nightshift.cli", "demo", "--db", str(db)]
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "LOCAL SIMULATOR" in first.stdout
    assert "temporary local Prefect server" in first.stderr
    # Run again untracked (no second server to wait for): nothing is sent either way.
    second = subprocess.run([*command, "--no-prefect"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert second.stdout.count("already reviewed with this profile version, skipped") == 2
    with duckdb.connect(str(db), read_only=True) as con:
        flow_runs = con.execute(
            "SELECT count(*) FROM runs WHERE kind = 'review' AND flow_run_id IS NOT NULL"
        ).fetchone()
    assert flow_runs == (2,)  # the first demo's two tracked runs
