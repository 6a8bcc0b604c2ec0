"""Ingest, plan and simulated review of growing corpora of small documents: wall time and peak RSS.

For each size, a corpus of small contract-like text files (2-4 KB, one family each) is written,
then three stages run one after another, each as its own ``nightshift`` command in a child
process, the way a user runs them:

- ``ingest``: ``nightshift ingest`` into a fresh DuckDB file;
- ``plan``: ``nightshift review --plan`` (prices the run; writes nothing);
- ``review``: ``nightshift review`` against one simulator process shared by every size
  (``nightshift simulator``, reached through ``DEEPSEEK_BASE_URL`` with a placeholder key, no
  latency), so the time is the pipeline's own: re-discovering the corpus, planning, dispatching,
  grounding and landing.

Peak RSS is the stage process's own ``ru_maxrss`` (``os.wait4`` on that child: the largest of the
process and any child it waited for, such as the parse workers), not a sum. Per size the table
prints seconds, milliseconds per document and the RSS ratio to the first size. Targets of the
scale issue: RSS within 1.5x and time per document within +-30% from 1,000 to 50,000 documents.

    python bench/bench_scale.py [--sizes 1000 10000 50000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
NIGHTSHIFT = [sys.executable, "-m", "nightshift.cli"]
STAGES = ("ingest", "plan", "review")
CLAUSES = (
    "This Agreement shall be governed by the laws of the State of {state}.",
    "Either party may terminate this Agreement upon {days} days' written notice to the other.",
    "Neither party may assign this Agreement without the prior written consent of the other.",
    "The liability of each party shall not exceed the fees paid in the {months} months prior.",
    "Supplier shall indemnify Customer against third-party claims arising from its negligence.",
)
FILLER = (
    "The parties agree that the services described in Schedule {n} shall be performed with "
    "reasonable skill and care, in accordance with good industry practice, and that invoices "
    "shall be payable within thirty days of receipt unless disputed in good faith. "
)
STATES = ("Delaware", "New York", "California", "Texas", "Illinois")


@dataclass(frozen=True)
class StageMeasure:
    seconds: float
    max_rss_mb: float


def write_corpus(root: Path, size: int) -> None:
    """``size`` contract-like text files of 2-4 KB, each its own family, all distinct."""
    root.mkdir(parents=True)
    for n in range(size):
        clauses = [c.format(state=STATES[n % 5], days=30 + n % 60, months=12 + n % 12)
                   for c in CLAUSES]  # fmt: skip
        body = FILLER.format(n=n) * (4 + n % 8)
        text = f"MASTER SERVICES AGREEMENT No. {n}\n\n{body}\n\n" + "\n\n".join(clauses) + "\n"
        (root / f"agreement-{n:06d}.txt").write_text(text, encoding="utf-8")


def run_stage(argv: list[str], env: dict[str, str]) -> StageMeasure:
    """Run one stage in a child process; its wall time and its own peak RSS."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)  # fmt: skip
    assert child.stderr is not None
    # Read stderr while waiting (a full pipe would block the child); wait4 gives this child's
    # rusage alone, unlike RUSAGE_CHILDREN, which keeps the largest child of the whole bench.
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        tail = errors.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(argv[2:])} exited {child.returncode}:\n{tail}")
    return StageMeasure(seconds, usage.ru_maxrss / 1024)  # Linux reports KiB


def start_simulator(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    argv = [*NIGHTSHIFT, "simulator", "--port", str(port)]
    simulator = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return simulator
        except httpx.HTTPError:
            time.sleep(0.2)
    simulator.kill()
    raise RuntimeError("the simulator did not answer within 60 s")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure_size(
    workdir: Path, size: int, env: dict[str, str]
) -> Iterator[tuple[str, StageMeasure]]:
    """Each stage's measure as soon as it has run (a large size takes hours)."""
    corpus, db = workdir / f"corpus-{size}", workdir / f"scale-{size}.duckdb"
    write_corpus(corpus, size)
    commands = {
        "ingest": [*NIGHTSHIFT, "ingest", str(corpus), "--db", str(db)],
        "plan": [*NIGHTSHIFT, "review", str(corpus), "--db", str(db), "--plan"],
        "review": [*NIGHTSHIFT, "review", str(corpus), "--db", str(db)],
    }
    for stage in STAGES:
        yield stage, run_stage(commands[stage], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    args = parser.parse_args()
    port = free_port()
    # The machine's own Prefect/nightshift settings would change what the stages do.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIGHTSHIFT_"))}
    env.update(DEEPSEEK_API_KEY="sk-bench-placeholder",
               DEEPSEEK_BASE_URL=f"http://127.0.0.1:{port}", COLUMNS="200")  # fmt: skip
    print("documents | stage | wall s | ms/doc | ms/doc vs first | peak RSS MB | RSS vs first")
    first: dict[str, StageMeasure] = {}
    first_size = args.sizes[0]
    simulator = start_simulator(env, port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for size in args.sizes:
                for stage, m in measure_size(Path(tmp), size, env):
                    base = first.setdefault(stage, m)
                    per_doc, base_per_doc = m.seconds / size, base.seconds / first_size
                    print(f"{size:,} | {stage} | {m.seconds:.1f} | {per_doc * 1e3:.2f} | "
                          f"{per_doc / base_per_doc:.2f} | {m.max_rss_mb:.0f} | "
                          f"{m.max_rss_mb / base.max_rss_mb:.2f}", flush=True)  # fmt: skip
    finally:
        simulator.terminate()
        simulator.wait(30)


if __name__ == "__main__":
    main()
