"""A review killed midway (SIGKILL to its whole process group) and run again: the ledger shows
no request key answered twice and every document reviewed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import yaml

from connectors.simulator import SimulatorConfig, running_simulator
from nightshift.profiles import BUILTIN_DIR

DOCUMENTS = 10
CLAUSES = [
    "This Agreement shall be governed by the laws of the State of {state}.",
    "This Agreement shall automatically renew for successive one (1) year periods.",
    "Either party may terminate this Agreement for convenience upon {days} days' notice.",
    "In no event shall either party's aggregate liability exceed the fees paid.",
    "Neither party shall assign this Agreement without the prior written consent of the other.",
]
STATES = [
    "Delaware",
    "New York",
    "Texas",
    "Ohio",
    "Utah",
    "Iowa",
    "Maine",
    "Idaho",
    "Oregon",
    "Kansas",
]


def write_corpus(root: Path) -> None:
    for number in range(DOCUMENTS):
        text = f"SERVICES AGREEMENT No. {number}\n\nThis Agreement is made between Alpha {number} "
        text += f"LLC and Beta {number} Corp.\n\n"
        text += "\n\n".join(c.format(state=STATES[number], days=30 + number) for c in CLAUSES)
        (root / f"agreement-{number:02d}.txt").write_text(text + "\n", encoding="utf-8")


def one_document_per_request(path: Path) -> Path:
    profile = yaml.safe_load(BUILTIN_DIR.joinpath("legal.yaml").read_text(encoding="utf-8"))
    profile.update(version="kill-test", max_documents_per_request=1)
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    return path


def test_killed_run_resumes_without_paying_twice(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_corpus(corpus)
    profile = one_document_per_request(tmp_path / "profile.yaml")
    db = tmp_path / "kill.duckdb"
    # Each answer takes about a second, so the kill lands in the middle of the run.
    config = SimulatorConfig(seconds_per_output_token=0.0008)
    with running_simulator(config) as simulator:
        env = {
            **os.environ,
            "DEEPSEEK_API_KEY": "sk-kill-test",
            "DEEPSEEK_BASE_URL": simulator.base_url,
            "NIGHTSHIFT_MAX_IN_FLIGHT": "1",
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        command = [
            sys.executable,
            "-m",
            "nightshift.cli",
            "review",
            str(corpus),
            "--profile",
            str(profile),
            "--db",
            str(db),
        ]
        log = (tmp_path / "first.log").open("w")
        first = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 240
        while simulator.stats.requests < 3 and first.poll() is None:
            assert time.monotonic() < deadline, "the first run never got going"
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        answered_before_kill = simulator.stats.requests
        assert 3 <= answered_before_kill < DOCUMENTS, (tmp_path / "first.log").read_text()

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
        assert second.returncode == 0, second.stdout + second.stderr
        answers = simulator.stats.answered()

    with duckdb.connect(str(db), read_only=True) as con:
        twice = con.execute(
            "SELECT request_key FROM requests WHERE status = 'ok' GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
        reviewed = con.execute("SELECT count(DISTINCT doc_id) FROM document_reviews").fetchone()
        runs = con.execute("SELECT status FROM runs WHERE kind = 'review' ORDER BY started_at")
        statuses = [row[0] for row in runs.fetchall()]
        ledger_keys = {
            row[0]
            for row in con.execute(
                "SELECT DISTINCT request_key FROM requests WHERE status = 'ok'"
            ).fetchall()
        }
    assert twice == []
    assert reviewed == (DOCUMENTS,)
    assert statuses == ["interrupted", "completed"]
    # The ledger's keys also name the backend, so compare how many, not which.
    assert len(answers) == len(ledger_keys) == DOCUMENTS
    # At most the one request in flight at the kill was answered but never recorded.
    resent = [key for key, count in answers.items() if count > 1]
    assert len(resent) <= 1
