"""The nightly deployment end to end, the way a user runs it.

A real ``prefect server`` and a ``process`` worker (tests/fixtures/prefect_server.py), the
deployments created from prefect.yaml with ``prefect deploy``, and one run triggered with
``prefect deployment run --watch`` against the local simulator (started by the flow itself on
loopback). The test then reads what landed in DuckDB and what the server recorded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

if TYPE_CHECKING:  # registered as a plugin in tests/conftest.py, so that its report hook runs
    from tests.fixtures.prefect_server import ManagedProcess, PrefectServer

pytestmark = pytest.mark.e2e

FLOW = "review-corpus"
LEGAL = "nightly-legal-review"
CODEBASE = "nightly-codebase-review"
RUN_TIMEOUT_S = 600  # the flow itself takes well under a minute; a busy CI machine is slower
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = PROJECT_ROOT / "sample_data" / "contracts"


def test_nightly_legal_review_through_deployment_and_worker(
    prefect_server: PrefectServer,
    process_work_pool: str,
    prefect_worker: ManagedProcess,
    tmp_path: Path,
) -> None:
    deployed = prefect_server.cli("--no-prompt", "deploy", "--all", cwd=PROJECT_ROOT)
    assert "push steps" not in deployed.stdout, deployed.stdout  # nothing is uploaded anywhere
    legal = _deployment(prefect_server, LEGAL)
    codebase = _deployment(prefect_server, CODEBASE)
    _assert_nightly(legal, process_work_pool, profile="legal", source="sample_data/contracts")
    _assert_nightly(codebase, process_work_pool, "codebase", source="sample_data/codebase")
    assert legal["schedules"][0]["schedule"]["cron"] != codebase["schedules"][0]["schedule"]["cron"]

    db = tmp_path / "e2e.duckdb"
    run = prefect_server.cli(
        "deployment", "run", f"{FLOW}/{LEGAL}",
        "--param", "backend=simulator",
        "--param", f"db={db}",
        "--param", "off_peak_only=false",
        "--watch", "--watch-timeout", str(RUN_TIMEOUT_S),
        timeout=RUN_TIMEOUT_S + 60,
    )  # fmt: skip
    assert "Flow run finished successfully in 'Completed'" in run.stdout, run.stdout
    match = re.search(r"UUID: ([0-9a-f-]{36})", run.stdout)
    assert match is not None, run.stdout
    flow_run_id = match.group(1)

    flow_run = prefect_server.api("GET", f"/flow_runs/{flow_run_id}")
    assert flow_run["state"]["type"] == "COMPLETED"
    assert flow_run["deployment_id"] == legal["id"]
    assert flow_run["work_pool_name"] == process_work_pool
    # The deployment's defaults, with the three overrides from the command line.
    assert flow_run["parameters"]["source"] == "sample_data/contracts"
    assert flow_run["parameters"]["backend"] == "simulator"
    assert flow_run["parameters"]["off_peak_only"] is False
    assert flow_run["parameters"]["budget_usd"] == 25

    _assert_landed(db, flow_run_id)


def _deployment(server: PrefectServer, name: str) -> dict[str, Any]:
    deployment: dict[str, Any] = server.api("GET", f"/deployments/name/{FLOW}/{name}")
    return deployment


def _assert_nightly(deployment: dict[str, Any], pool: str, profile: str, source: str) -> None:
    assert deployment["entrypoint"] == "flows/review.py:review_corpus"
    assert deployment["work_pool_name"] == pool
    assert deployment["description"]
    parameters = deployment["parameters"]
    assert parameters["profile"] == profile
    assert parameters["source"] == source
    assert parameters["db"] == "nightshift.duckdb"
    assert parameters["off_peak_only"] is True
    assert parameters["budget_usd"] > 0
    # Prefect 3 keeps a deployment's limit as a global concurrency limit of its own.
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    (schedule,) = deployment["schedules"]
    assert schedule["active"] is True
    assert schedule["schedule"]["timezone"] == "Asia/Shanghai"
    minute, hour, *rest = schedule["schedule"]["cron"].split()
    assert rest == ["*", "*", "*"] and minute.isdigit()
    assert 0 <= int(hour) <= 6  # inside Beijing's 23:00-07:00, the narrowest window so far
    # Nothing was pushed: runs start in the checkout that `prefect deploy` ran in.
    assert deployment["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}
    ]


def _assert_landed(db: Path, flow_run_id: str) -> None:
    expected = {
        path.relative_to(CONTRACTS).as_posix() for path in CONTRACTS.rglob("*") if path.is_file()
    }
    with duckdb.connect(str(db), read_only=True) as con:
        (run_id, status, backend, source) = _one(
            con,
            "SELECT run_id, status, backend, source FROM runs WHERE flow_run_id = ?",
            [flow_run_id],
        )
        assert (status, backend) == ("completed", "simulator")
        assert Path(source) == CONTRACTS  # the relative default, resolved in the project root

        documents = dict(
            con.execute(
                "SELECT relpath, status FROM current_documents WHERE source = ?", [source]
            ).fetchall()
        )
        assert documents == dict.fromkeys(expected, "ok")

        items = con.execute(
            "SELECT status, count(*) FROM current_work_items WHERE run_id = ? GROUP BY ALL",
            [run_id],
        ).fetchall()
        assert items and dict(items).keys() == {"done"}, items

        requests = dict(
            con.execute(
                "SELECT status, count(*) FROM requests WHERE run_id = ? GROUP BY ALL", [run_id]
            ).fetchall()
        )
        assert requests.get("ok", 0) > 0, requests
        assert "failed" not in requests, requests

        # Every contract names its governing law; the simulator finds that clause in each, and
        # grounding places its quote in the document: on a page for a PDF.
        governing_law = con.execute(
            """
            SELECT d.relpath, d.kind, e.page
            FROM extractions e JOIN current_documents d USING (doc_id)
            WHERE e.run_id = ? AND e.field = 'governing_law' AND e.grounded
            """,
            [run_id],
        ).fetchall()
        assert {relpath for relpath, _, _ in governing_law} == expected, governing_law
        pdfs = {relpath for relpath, kind, _ in governing_law if kind == "pdf"}
        assert pdfs == {relpath for relpath in expected if relpath.endswith(".pdf")}
        assert all(page >= 1 for _, kind, page in governing_law if kind == "pdf"), governing_law

        (grounded, total) = _one(
            con,
            "SELECT count(*) FILTER (WHERE grounded), count(*) FROM extractions WHERE run_id = ?",
            [run_id],
        )
        assert grounded > 0 and total > 0
        latest = con.execute(
            "SELECT count(*) FROM latest_extractions WHERE run_id = ?", [run_id]
        ).fetchone()
        assert latest is not None and latest[0] > 0


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> tuple[Any, ...]:
    rows = con.execute(sql, params).fetchall()
    assert len(rows) == 1, rows
    return tuple(rows[0])
