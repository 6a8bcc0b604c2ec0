"""Discover + fetch + sha256 throughput: S3Source on a local moto server versus LocalSource, and
the ingest stage's parallel fetch (``connectors.sources.fetch_ahead``) versus one at a time.

All read the same files in the same run, so the ratios are what the S3 path costs over local
disk on this machine, and what the bounded fetch pool gains over one object at a time. The S3 server
is moto in a child process (its own interpreter, so it does not
share a GIL with the client); moto spends several milliseconds of CPU on every request, so the
small-object rows measure mostly moto, and the large-object rows mostly boto3's streaming.
Local files were just written and sit in the page cache.

    python bench/bench_s3_ingest.py [--small 500] [--small-kb 20] [--large-mb 1 2 3 5]
                                    [--threads 16]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.local import LocalSource
from connectors.s3 import S3Source, make_s3_client
from connectors.sources import fetch_ahead
from nightshift.settings import DEFAULT_FETCH_WORKERS

SERVER_SCRIPT = """
import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.WARNING)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""
HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Measure:
    objects: int
    nbytes: int
    seconds: float
    cpu_seconds: float  # this process only: the client side, since the server is a child
    server_cpu_seconds: float  # the S3 server's: its ceiling when many requests are in flight

    @property
    def per_second(self) -> float:
        return self.objects / self.seconds

    @property
    def mb_per_second(self) -> float:
        return self.nbytes / 1e6 / self.seconds


def hash_file(ref: Any, path: Path) -> int:
    with open(path, "rb") as handle:
        digest = hashlib.sha256()
        nbytes = 0
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            nbytes += len(chunk)
    return nbytes


def process_cpu_seconds(pid: int | None) -> float:
    """User + system CPU of process ``pid`` so far (Linux /proc; 0 elsewhere or for None)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingest(source: Any, threads: int = 1, server_pid: int | None = None) -> Measure:
    """What the ingest stage does per document, minus parsing: discover, fetch, hash, through
    the stage's own fetch pool (``threads`` = 1 is today's one object at a time)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    server_start = process_cpu_seconds(server_pid)
    sizes = []
    for fetched in fetch_ahead(source, source.discover(), threads, hash_file):
        if fetched.error is not None:
            raise fetched.error
        sizes.append(fetched.value or 0)
        fetched.close()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    server_cpu = process_cpu_seconds(server_pid) - server_start
    return Measure(len(sizes), sum(sizes), seconds, cpu, server_cpu)


def corpus(small: int, small_kb: int, large_mb: list[int]) -> dict[str, dict[str, bytes]]:
    return {
        "small": {f"small/doc-{i:05d}.txt": os.urandom(small_kb * 1024) for i in range(small)},
        "large": {f"large/filing-{i}.pdf": os.urandom(mb << 20) for i, mb in enumerate(large_mb)},
    }


def upload(client: Any, objects: dict[str, bytes]) -> None:
    def put(item: tuple[str, bytes]) -> None:
        client.put_object(Bucket="bench", Key=item[0], Body=item[1])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, objects.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=500, help="number of small objects")
    parser.add_argument("--small-kb", type=int, default=20, help="size of each small object")
    parser.add_argument("--large-mb", type=int, nargs="*", default=[1, 2, 3, 5])
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_FETCH_WORKERS, help="fetch pool for the last row"
    )
    args = parser.parse_args()

    # Dummy keys for the local server only; nothing here talks to AWS.
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        endpoint = f"http://127.0.0.1:{int(server.stdout.readline())}"
        client = make_s3_client(endpoint_url=endpoint, region="us-east-1")
        client.create_bucket(Bucket="bench")
        workloads = corpus(args.small, args.small_kb, args.large_mb)
        with tempfile.TemporaryDirectory(prefix="nightshift-bench-") as scratch:
            root = Path(scratch, "corpus")
            spool = Path(scratch, "spool")
            spool.mkdir()
            for objects in workloads.values():
                upload(client, objects)
                for key, body in objects.items():
                    (root / key).parent.mkdir(parents=True, exist_ok=True)
                    (root / key).write_bytes(body)
            rows = []
            for name in workloads:
                local = ingest(LocalSource(root / name))
                source = S3Source("bench", name, client, tmp_dir=spool)
                one = ingest(source, 1, server.pid)
                rows.append((name, "local", local, local, None))
                rows.append((name, "s3", one, local, None))
                rows.append(
                    (
                        name,
                        f"s3 x{args.threads}",
                        ingest(source, args.threads, server.pid),
                        local,
                        one,
                    )
                )
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    print_table(rows)


def print_table(rows: list[tuple[str, str, Measure, Measure, Measure | None]]) -> None:
    """``vs 1 at a time``: the fetch pool's speed-up over one object at a time (target 5x)."""
    print(
        f"{'workload':<10}{'source':<8}{'objects':>8}{'MB':>7}{'s':>7}{'cpu s':>7}{'srv cpu':>8}"
        f"{'obj/s':>9}{'MB/s':>8}{'vs local':>10}{'vs 1 at a time':>16}"
    )
    for name, label, measure, local, one in rows:
        ratio = measure.mb_per_second / local.mb_per_second
        speedup = f"{one.seconds / measure.seconds:.2f}x" if one is not None else ""
        print(
            f"{name:<10}{label:<8}{measure.objects:>8}{measure.nbytes / 1e6:>7.1f}"
            f"{measure.seconds:>7.2f}{measure.cpu_seconds:>7.2f}{measure.server_cpu_seconds:>8.2f}"
            f"{measure.per_second:>9.1f}"
            f"{measure.mb_per_second:>8.1f}{ratio:>10.3f}{speedup:>16}"
        )


if __name__ == "__main__":
    main()
