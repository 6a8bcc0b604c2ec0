"""A review SIGKILLed at five random moments and run again after each: no document is lost, the
answers paid twice are at most the requests in flight at each kill (the bound the README
states), and no process of a killed run is left behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from connectors.simulator import SimulatorConfig, running_simulator
from tests.flows.test_kill_and_resume import CLAUSES, one_document_per_request

DOCUMENTS = 40
IN_FLIGHT = 4
KILLS = 5


def write_corpus(root: Path) -> None:
    root.mkdir()
    for number in range(DOCUMENTS):
        text = f"SERVICES AGREEMENT No. {number}\n\nBetween Alpha {number} LLC and Beta Corp.\n\n"
        text += "\n\n".join(c.format(state="Delaware", days=30 + number) for c in CLAUSES)
        (root / f"agreement-{number:02d}.txt").write_text(text + "\n", encoding="utf-8")


def processes_of_session(session: int) -> list[str]:
    """Command lines of live processes in ``session`` (the killed run's children, if any)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
            if state != "Z":
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ProcessLookupError):
            continue
    return found


def test_five_kills_lose_nothing_and_pay_at_most_the_in_flight_requests(tmp_path: Path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    profile = one_document_per_request(tmp_path / "profile.yaml")
    db = tmp_path / "kill.duckdb"
    rng = random.Random(20261129)
    # Each answer takes about a second, so a kill finds requests in flight.
    with running_simulator(SimulatorConfig(seconds_per_output_token=0.0008)) as simulator:
        env = {
            **os.environ,
            "DEEPSEEK_API_KEY": "sk-kill-test",
            "DEEPSEEK_BASE_URL": simulator.base_url,
            "NIGHTSHIFT_MAX_IN_FLIGHT": str(IN_FLIGHT),
        }
        command = [sys.executable, "-m", "nightshift.cli", "review", str(corpus), "--profile",
                   str(profile), "--db", str(db), "--no-prefect"]  # fmt: skip
        kills = 0
        for attempt in range(KILLS):
            log = (tmp_path / f"run-{attempt}.log").open("w")
            run = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
            target = simulator.stats.requests + rng.randint(1, 2 * IN_FLIGHT)
            deadline = time.monotonic() + 240
            while simulator.stats.requests < target and run.poll() is None:
                assert time.monotonic() < deadline, (tmp_path / f"run-{attempt}.log").read_text()
                time.sleep(0.05)
            if run.poll() is not None:
                break  # the work ran out before this kill
            time.sleep(rng.uniform(0.0, 1.0))  # anywhere in a request's life
            run.send_signal(signal.SIGKILL)  # the process alone: its children must follow
            run.wait(timeout=30)
            kills += 1
            time.sleep(1.0)
            assert processes_of_session(run.pid) == [], f"left behind after kill {kills}"
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert final.returncode == 0, final.stdout + final.stderr
        answers = simulator.stats.answered()

    with duckdb.connect(str(db), read_only=True) as con:
        reviewed = con.execute("SELECT count(DISTINCT doc_id) FROM document_reviews").fetchone()
        twice = con.execute(
            "SELECT request_key FROM requests WHERE status = 'ok' GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
        runs = con.execute("SELECT status FROM runs WHERE kind = 'review' ORDER BY started_at")
        statuses = [row[0] for row in runs.fetchall()]
    assert kills >= 3
    assert reviewed == (DOCUMENTS,)
    assert twice == []
    assert statuses == ["interrupted"] * kills + ["completed"]
    paid_twice = sum(count - 1 for count in answers.values() if count > 1)
    assert paid_twice <= kills * IN_FLIGHT
