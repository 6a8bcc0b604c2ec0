"""A sharded night on Prefect's production setting, end to end.

A Prefect server on PostgreSQL, a ``process`` pool with two workers, the deployments from
prefect.yaml, and one shared simulator process (``nightshift simulator``, reached through
``DEEPSEEK_BASE_URL`` with a placeholder key, as the real API would be). The
``nightly-sharded-legal-review`` deployment is run with ``prefect deployment run``: its parent
flow starts 4 shard runs, each on either worker, under one account-wide limit. Mid-run, one
shard's flow-run process is killed with SIGKILL; Prefect marks it crashed and the parent runs
that shard again.

Then: every document was reviewed once; the night's latest extractions are those of a
single-process run of the same corpus; the simulator never had more requests in flight than
the account limit; and the killed shard's ledger holds no request answered twice.

The corpus is smaller than a real night (``DOCUMENTS``) so the test runs in minutes here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import httpx
import pytest
from pydantic import SecretStr

from flows.pipelines import review_pipeline
from nightshift.options import ReviewOptions
from nightshift.settings import Settings
from tests.fixtures.prefect_server import (
    PROJECT_ROOT,
    WORK_POOL,
    ManagedProcess,
    descendants,
    free_loopback_port,
    prefect_executable,
    running_worker,
)
from tests.tasks.test_dispatch import small_contracts

if TYPE_CHECKING:
    from tests.fixtures.prefect_server import PrefectServer

pytestmark = pytest.mark.e2e

DOCUMENTS = 120
SHARDS = 4
ACCOUNT_LIMIT = 4  # flash; each shard's own limit (RUN_LIMIT) is far above it
RUN_LIMIT = 16
SECONDS_PER_REQUEST = 0.5
KILL_AFTER_ANSWERS = 40
RUN_TIMEOUT_S = 900
API_KEY = "sk-e2e-placeholder"


def _stats(base_url: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{base_url}/stats", timeout=10).json()
    return stats


def _start_simulator(server: PrefectServer) -> tuple[ManagedProcess, str]:
    port = free_loopback_port()
    argv = [sys.executable, "-m", "nightshift.cli", "simulator", "--port", str(port),
            "--seconds-per-request", str(SECONDS_PER_REQUEST)]  # fmt: skip
    process = ManagedProcess.start("simulator", argv, server.env, PROJECT_ROOT,
                                   server.logs / "simulator.log")  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.stop()
    raise RuntimeError("the simulator did not answer within 60 s")


def _running_shards(server: PrefectServer) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = server.api("POST", "/flow_runs/filter", json={
        "flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}},
        "deployments": {"name": {"any_": ["sharded-shard"]}},
    })  # fmt: skip
    return runs


def _flow_run_pid(workers: list[ManagedProcess], flow_run_id: str) -> int | None:
    """The process a worker started for ``flow_run_id`` (its environment names the run)."""
    marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for worker in workers:
        for pid in descendants(worker.popen.pid):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in environ:
                return pid
    return None


def _kill_one_shard_mid_dispatch(
    server: PrefectServer, workers: list[ManagedProcess], simulator_url: str
) -> int:
    """SIGKILL one running shard once the simulator has answered enough; returns its index."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        if _stats(simulator_url)["answered"] >= KILL_AFTER_ANSWERS:
            for run in _running_shards(server):
                pid = _flow_run_pid(workers, run["id"])
                if pid is not None:
                    # The flow run's whole session: the run and any parse workers it started.
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
                    return int(run["parameters"]["shard_index"])
        time.sleep(0.5)
    raise AssertionError("no shard was dispatching when the simulator had answered enough")


def _latest_extractions(db: Path) -> set[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT d.relpath, e.field, e.value::VARCHAR, e.quote, e.char_start, e.grounded "
            "FROM latest_extractions e JOIN current_documents d USING (doc_id)"
        ).fetchall()
    return set(rows)


def test_a_sharded_night_on_two_workers_with_a_shard_killed(
    request: pytest.FixtureRequest,
    prefect_server_on_postgres: PrefectServer,
    tmp_path: Path,
) -> None:
    corpus = small_contracts(tmp_path / "corpus", DOCUMENTS)
    night_db, parts = tmp_path / "night.duckdb", tmp_path / "parts"
    simulator, simulator_url = _start_simulator(prefect_server_on_postgres)
    server = dataclasses.replace(prefect_server_on_postgres, env={
        **prefect_server_on_postgres.env, "DEEPSEEK_BASE_URL": simulator_url,
        "DEEPSEEK_API_KEY": API_KEY, "NIGHTSHIFT_MAX_IN_FLIGHT": str(RUN_LIMIT),
    })  # fmt: skip
    try:
        server.cli("work-pool", "create", WORK_POOL, "--type", "process")
        server.cli("--no-prompt", "deploy", "--all", cwd=PROJECT_ROOT)
        with (
            running_worker(request, server, WORK_POOL, "worker-1") as one,
            running_worker(request, server, WORK_POOL, "worker-2") as two,
        ):
            argv = [
                prefect_executable(), "deployment", "run",
                "sharded-review/nightly-sharded-legal-review",
                "--param", f"source={corpus}", "--param", f"db={night_db}",
                "--param", f"parts={parts}", "--param", f"shards={SHARDS}",
                "--param", "review=" + json.dumps({"off_peak_only": False}),
                "--param", "account_limits=" + json.dumps({"flash": ACCOUNT_LIMIT, "pro": 2}),
                "--watch", "--watch-timeout", str(RUN_TIMEOUT_S),
            ]  # fmt: skip
            night = subprocess.Popen(argv, cwd=PROJECT_ROOT, env={**server.env,
                                     "PWD": str(PROJECT_ROOT)}, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)  # fmt: skip
            killed = _kill_one_shard_mid_dispatch(server, [one, two], simulator_url)
            output, _ = night.communicate(timeout=RUN_TIMEOUT_S + 60)
            assert "Flow run finished successfully in 'Completed'" in output, output
            seen = _stats(simulator_url)["max_in_flight"]

        shard_runs = server.api("POST", "/flow_runs/filter", json={
            "deployments": {"name": {"any_": ["sharded-shard"]}}})  # fmt: skip
        # Reference: the same corpus in one process, against the same simulator.
        single_db = tmp_path / "single.duckdb"
        settings = Settings(deepseek_api_key=SecretStr(API_KEY), deepseek_base_url=simulator_url,
                            max_in_flight=RUN_LIMIT)  # fmt: skip
        review_pipeline(ReviewOptions(source=str(corpus), db=str(single_db)), settings)
    finally:
        simulator.stop()

    # The account's limit held across both workers, and was used.
    assert seen and max(seen.values()) <= ACCOUNT_LIMIT, seen
    assert max(seen.values()) > 1, seen

    # One crashed shard run, run again; every shard completed.
    states = sorted((r["parameters"]["shard_index"], r["state"]["type"]) for r in shard_runs)
    assert states.count((killed, "CRASHED")) == 1, states
    assert sorted(i for i, s in states if s == "COMPLETED") == list(range(SHARDS)), states

    with duckdb.connect(str(night_db), read_only=True) as con:
        reviewed = con.execute(
            "SELECT d.relpath, count(*) FROM document_reviews r "
            "JOIN current_documents d USING (doc_id) GROUP BY ALL"
        ).fetchall()
    expected = {p.relative_to(corpus).as_posix() for p in corpus.iterdir()}
    assert dict(reviewed) == dict.fromkeys(expected, 1)  # every document reviewed once

    assert _latest_extractions(night_db) == _latest_extractions(single_db)
    assert _latest_extractions(night_db)  # not vacuously equal

    # The killed shard's ledger: answers paid before the kill, none paid for twice.
    shard_db = parts / f"shard-{killed}-of-{SHARDS}.duckdb"
    with duckdb.connect(str(shard_db), read_only=True) as con:
        twice = con.execute(
            "SELECT request_key FROM requests WHERE status = 'ok' GROUP BY ALL HAVING count(*) > 1"
        ).fetchall()
        ok_per_run = dict(con.execute(
            "SELECT r.run_id, count(q.request_key) FILTER (WHERE q.status = 'ok') "
            "FROM runs r LEFT JOIN requests q USING (run_id) WHERE r.kind = 'review' GROUP BY ALL"
        ).fetchall())  # fmt: skip
    assert twice == []
    assert len(ok_per_run) == 2 and all(count > 0 for count in ok_per_run.values()), ok_per_run
