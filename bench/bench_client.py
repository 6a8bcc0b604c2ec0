"""Client throughput and overhead against the simulator (zero latency), versus raw httpx.

Both sides send the same small chat requests to the same simulator in the same run: the
baseline is bare ``httpx.AsyncClient.post`` calls under a semaphore; the client adds body
building, admission control, attempt records and response parsing. The simulator runs in a
child process (its own interpreter and GIL). With zero model latency every row measures CPU
on both ends, which is the worst case for the client's share: against the real API a request
takes seconds to minutes and the client's overhead is noise.

At high concurrency the baseline is slower than the client: one httpx pool with many connections
does quadratic bookkeeping per request (httpcore 1.0.9), which the client avoids by spreading
requests over pools of 16. The last column is the wall time the client adds per request
(negative: it saves time).

    python bench/bench_client.py [--requests 600] [--concurrency 1 8 64 256]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
import httpx

from connectors.deepseek import ChatRequest, ClientConfig, DeepSeekClient
from connectors.deepseek_protocol import build_body

MODEL = "deepseek-v4-flash"
KEY = "sk-bench-not-a-real-key"
SERVER_SCRIPT = """
import sys
from connectors.simulator import SimulatorConfig, running_simulator
with running_simulator(SimulatorConfig()) as sim:
    print(sim.base_url, flush=True)
    sys.stdin.read()
"""


def request(i: int, tag: str) -> ChatRequest:
    return ChatRequest(MODEL, [{"role": "user", "content": f"bench {tag} question {i}"}])


async def timed(n: int, concurrency: int, send: Callable[[int], Awaitable[object]]) -> float:
    """Requests per second for ``n`` sends, at most ``concurrency`` at once."""
    gate = anyio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await send(i)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    return n / (time.perf_counter() - started)


async def raw_rps(base_url: str, n: int, concurrency: int, tag: str) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as http:

        async def send(i: int) -> None:
            response = await http.post("/chat/completions", json=build_body(request(i, tag)))
            response.raise_for_status()
            response.json()

        await timed(min(n, 50), concurrency, send)  # warm the connections
        return await timed(n, concurrency, send)


async def client_rps(base_url: str, n: int, concurrency: int, tag: str) -> float:
    client = DeepSeekClient(base_url, KEY, config=ClientConfig(concurrency={MODEL: concurrency}))
    async with client:

        async def send(i: int) -> None:
            await client.chat(request(i, tag))

        await timed(min(n, 50), concurrency, send)
        return await timed(n, concurrency, send)


async def main(base_url: str, n: int, levels: list[int]) -> None:
    print("DeepSeekClient versus raw httpx, against the nightshift SIMULATOR (zero latency)")
    print(f"{n} requests per row; a ratio below 1.00 is the client's cost\n")
    head = f"{'concurrency':>11} {'raw req/s':>10} {'client req/s':>13} {'ratio':>6}"
    print(f"{head} {'ms/request':>11}")
    for level in levels:
        raw = await raw_rps(base_url, n, level, f"raw{level}")
        ours = await client_rps(base_url, n, level, f"client{level}")
        extra_ms = (1 / ours - 1 / raw) * 1000  # wall time the client adds per request
        print(f"{level:>11} {raw:>10.0f} {ours:>13.0f} {ours / raw:>6.2f} {extra_ms:>+8.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64, 256])
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        anyio.run(main, url, args.requests, args.concurrency)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(10)
