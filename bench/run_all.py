"""Run every bench in this folder, one after another, and print their output.

Each ``bench_*.py`` runs as a child process with this interpreter and its default arguments
(the ingest bench on the project's own sample contracts), so one bench's state cannot leak into
the next. The exit code is non-zero when any bench fails; the others still run.

    python bench/run_all.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# Arguments per bench; a bench not listed runs with none.
ARGUMENTS: dict[str, list[str]] = {
    "bench_ingest.py": [str(ROOT / "sample_data" / "contracts")],
    "bench_floor.py": [str(ROOT / "sample_data" / "contracts")],
    # The full sizes (1,000 to 50,000 documents) take hours on a small machine.
    "bench_scale.py": ["--sizes", "200", "1000"],
}


def run(script: Path) -> int:
    command = [sys.executable, str(script), *ARGUMENTS.get(script.name, [])]
    print(f"==> {script.name}", flush=True)
    start = time.perf_counter()
    code = subprocess.call(command, cwd=ROOT)
    status = "ok" if code == 0 else f"FAILED (exit code {code})"
    print(f"<== {script.name}: {status} in {time.perf_counter() - start:.0f} s\n", flush=True)
    return code


def main() -> int:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    failed = [script.name for script in scripts if run(script) != 0]
    if failed:
        print(f"{len(failed)} of {len(scripts)} benches failed: {', '.join(failed)}")
        return 1
    print(f"all {len(scripts)} benches ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
