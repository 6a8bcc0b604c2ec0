"""Peak memory of a full simulated review, by corpus size.

For each size, a process of its own reviews that many small synthetic text contracts end to end
(ingest, plan, price, dispatch with every answer landed) against the simulator, which runs in a
process of its own with no latency. The review's peak resident set is read with
``getrusage(RUSAGE_CHILDREN)`` once it has been waited for (the simulator is still running then,
so it is not counted). ``ratio`` is each size's peak over the first size's.

Targets: at most 1 GiB at 5,000 documents, and no more than 1.3x that at 20,000.

    python bench/bench_memory.py [--sizes 5000 20000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_dispatch import MODELS, serve, write_corpus  # noqa: E402

from connectors.backends import Backend  # noqa: E402
from connectors.local import LocalSource  # noqa: E402
from connectors.store import Store  # noqa: E402
from nightshift.profiles import load_profile  # noqa: E402
from tasks.dispatch import DispatchRun, dispatch_run  # noqa: E402
from tasks.gate import Gate  # noqa: E402
from tasks.ingest import IngestOptions, ingest_source  # noqa: E402
from tasks.price import price_plan  # noqa: E402
from tasks.review_plan import plan_source  # noqa: E402

PARAGRAPHS = 12  # about 1.5 KB a contract
MAX_IN_FLIGHT = 64


def review(corpus: Path, db: Path, base_url: str) -> None:
    """The measured process: one whole review of ``corpus``, every request answered."""
    profile = load_profile("legal").model_copy(update={"fields_per_pass": None})
    with Store(db) as store:
        local = LocalSource(corpus)
        ingest_source(local, store, IngestOptions(workers=1), "run-1")
        plan = plan_source(store, local.uri, profile, True, "simulator", MODELS)
        price_plan(plan, profile, datetime.now(UTC))
        backend = Backend("simulator", base_url, SecretStr("sk-bench"), "deepseek", MODELS,
                          "simulator")  # fmt: skip
        run = DispatchRun(plan, store, profile, backend, "run-1", Gate(),
                          lambda: datetime.now(UTC), MAX_IN_FLIGHT)  # fmt: skip
        report = dispatch_run(run)
        reviewed = store.query("SELECT count(DISTINCT doc_id) FROM document_reviews")[0][0]
    print(f"{report.stats.sent} {reviewed}")


def one_size(size: int, workdir: Path) -> str:
    """Run the review of ``size`` documents in a child process; its peak RSS and wall time."""
    corpus = workdir / f"corpus-{size}"
    write_corpus(corpus, size, PARAGRAPHS)
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(0.0, theirs))
    server.start()
    try:
        base_url = ours.recv()
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--review", str(corpus), str(workdir / f"{size}.duckdb"),
             base_url],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        wall = time.perf_counter() - start
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        ours.send("stop")
        ours.recv()
    finally:
        server.join(30)
    sent, reviewed = done.stdout.split()[-2:]
    return f"{size:,} | {sent} | {reviewed} | {peak_kib / 1024:,.0f} | {wall:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500])
    parser.add_argument("--review", nargs=3, metavar=("CORPUS", "DB", "URL"),
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.review:
        corpus, db, url = args.review
        review(Path(corpus), Path(db), url)
        return
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(one_size(args.one, Path(tmp)), flush=True)
        return
    # Each size from a process of its own: RUSAGE_CHILDREN is the peak over every child reaped.
    print("documents | requests sent | reviewed | peak RSS MiB | wall s | ratio to first")
    first = None
    for size in args.sizes:
        line = subprocess.run([sys.executable, __file__, "--one", str(size)], check=True,
                              capture_output=True, text=True).stdout.strip()  # fmt: skip
        peak = float(line.split(" | ")[3].replace(",", ""))
        first = first or peak
        print(f"{line} | {peak / first:.2f}", flush=True)


if __name__ == "__main__":
    main()
