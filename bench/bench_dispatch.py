"""Dispatch wall time against the ideal, at a fixed simulated latency per request.

Ingests N one-request contracts, plans them one per work item, and runs ``dispatch_run`` (one
client, one event loop, rows landed by the answer writer) against the simulator, which runs in
a process of its own so that its work does not compete with the dispatcher for the GIL. Every
request takes ``latency`` seconds on the simulator's side. For each case:

- ``ideal s`` = requests / in-flight limit x latency (a limit kept full all the time);
- ``wall s``: the dispatch alone (planning and ingest are not timed), ``vs ideal`` = wall / ideal.
  What a process loads once (the price book with its holiday calendar, the HTTP transport's
  modules) is loaded before the first case, as a review has loaded it while pricing its plan:
  otherwise the first case alone would pay it;
- ``mean conc``: the time requests spent in flight (the ledger's started/finished, summed) / wall;
- ``max seen``: the most requests the simulator had in flight at once;
- ``dispatch cpu s``: CPU of this process during the dispatch (all its threads);
  ``simulator cpu s``: CPU of the simulator's process in all (it tokenizes every prompt and
  answer on one event loop: when it nears the wall time, the simulator is the bottleneck, not
  the dispatcher).

Targets: at most 1.3x the ideal and a mean concurrency of at least 28 of 32; at a limit of 128
the simulator sees 128.

    python bench/bench_dispatch.py [--requests 200] [--cases 2:32 10:32 2:128]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from pydantic import SecretStr

from connectors.backends import Backend
from connectors.local import LocalSource
from connectors.simulator import SimulatorConfig, running_simulator
from connectors.store import Store
from nightshift.models import ModelIds
from nightshift.pricing import prices_for
from nightshift.profiles import load_profile
from tasks.dispatch import DispatchRun, dispatch_run
from tasks.gate import Gate
from tasks.ingest import IngestOptions, ingest_source
from tasks.review_plan import plan_source

MODELS = ModelIds()


def serve(latency: float, pipe: Connection) -> None:
    """The simulator's process: serve until told to stop, then send back what it saw."""
    with running_simulator(SimulatorConfig(seconds_per_request=latency)) as simulator:
        pipe.send(simulator.base_url)
        pipe.recv()
        pipe.send((dict(simulator.stats.max_in_flight), time.process_time()))


def write_corpus(root: Path, count: int, paragraphs: int = 1) -> None:
    """``count`` small text contracts, each of ``paragraphs`` clauses (about 120 bytes each)."""
    root.mkdir(parents=True)
    for n in range(count):
        clauses = "".join(
            f"{p + 1}. This Agreement shall be governed by the laws of Delaware; clause {p + 1} "
            f"of agreement {n}.\n"
            for p in range(paragraphs)
        )
        (root / f"c{n:05d}.txt").write_text(f"AGREEMENT {n}\n\n{clauses}", encoding="utf-8")


def load_once() -> None:
    """What any review has loaded before it dispatches: prices at this moment (the book and
    its holiday calendar) and the HTTP transport's modules, which httpx imports on first use."""
    import httpcore  # noqa: F401

    prices_for(MODELS.flash, datetime.now(UTC))


def one_case(workdir: Path, requests: int, latency: float, limit: int) -> str:
    profile = load_profile("legal").model_copy(
        update={"max_documents_per_request": 1, "fields_per_pass": None}
    )
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(latency, theirs))
    server.start()
    try:
        base_url = ours.recv()
        with Store(workdir / f"dispatch-{latency}-{limit}.duckdb") as store:
            local = LocalSource(workdir / "corpus")
            ingest_source(local, store, IngestOptions(workers=1), "run-1")
            plan = plan_source(store, local.uri, profile, True, "simulator", MODELS)
            backend = Backend("simulator", base_url, SecretStr("sk-bench"), "deepseek", MODELS,
                              "simulator")  # fmt: skip
            run = DispatchRun(plan, store, profile, backend, "run-1", Gate(),
                              lambda: datetime.now(UTC), limit)  # fmt: skip
            start, cpu = time.perf_counter(), time.process_time()
            report = dispatch_run(run)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            busy = store.query(
                "SELECT sum(epoch(finished_at) - epoch(started_at)), count(*) FROM requests"
            )[0]
        ours.send("stop")
        seen, server_cpu = ours.recv()
    finally:
        server.join(30)
    ideal = requests / limit * latency
    sent = report.stats.sent
    return (f"{latency:g} | {limit} | {sent} | {ideal:.1f} | {wall:.1f} | {wall / ideal:.2f} | "
            f"{busy[0] / wall:.1f} | {max(seen.values(), default=0)} | {cpu:.1f} | "
            f"{server_cpu:.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cases", nargs="+", default=["2:32", "10:32", "2:128"],
                        help="latency seconds:in-flight limit")  # fmt: skip
    args = parser.parse_args()
    print(
        "latency s | limit | sent | ideal s | wall s | vs ideal | mean conc | max seen "
        "| dispatch cpu s | simulator cpu s"
    )
    load_once()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_corpus(workdir / "corpus", args.requests)
        for case in args.cases:
            latency, limit = case.split(":")
            print(one_case(workdir, args.requests, float(latency), int(limit)), flush=True)


if __name__ == "__main__":
    main()
