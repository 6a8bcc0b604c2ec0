"""The account-wide request limit on Prefect's production setting: a Prefect server on
PostgreSQL, and two separate processes sending at once through ``account_slot``.

The limit is shared through the server: the two processes together never hold more slots than
the limit, and a 429 seen by one lowers the limit for both.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from connectors.account_limit import ensure_account_limits, limit_name, record_rate_limited

if TYPE_CHECKING:
    from tests.fixtures.prefect_server import PrefectServer

pytestmark = pytest.mark.e2e

LIMIT = 3
REQUESTS_PER_PROCESS = 12
# One "request": hold a slot, log when it started and ended (monotonic clock, same machine).
SENDER = """
import asyncio, sys, time
from connectors.account_limit import account_slot

async def one(log):
    async with account_slot("flash"):
        start = time.monotonic()
        await asyncio.sleep(0.3)
        log.write(f"{start} {time.monotonic()}\\n")

async def main():
    with open(sys.argv[1], "w") as log:
        await asyncio.gather(*(one(log) for _ in range(int(sys.argv[2]))))

asyncio.run(main())
"""


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


def test_two_processes_share_one_account_limit_on_postgres(
    prefect_server_on_postgres: PrefectServer, postgres_url: str, tmp_path: Path
) -> None:
    server = prefect_server_on_postgres
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        asyncio.run(ensure_account_limits({"flash": LIMIT, "pro": 1}))
        logs = [tmp_path / f"sender-{n}.log" for n in range(2)]
        senders = [
            subprocess.Popen(
                [sys.executable, "-c", SENDER, str(log), str(REQUESTS_PER_PROCESS)],
                env=server.env,
                cwd=Path(__file__).resolve().parents[2],
            )
            for log in logs
        ]
        assert [sender.wait(timeout=300) for sender in senders] == [0, 0]
        lowered = asyncio.run(record_rate_limited("flash"))
        asyncio.run(ensure_account_limits({"flash": LIMIT, "pro": 1}))  # the next night

    intervals = [
        (float(start), float(end))
        for log in logs
        for start, end in (line.split() for line in log.read_text().splitlines())
    ]
    assert len(intervals) == 2 * REQUESTS_PER_PROCESS
    assert _most_at_once(intervals) == LIMIT  # both processes used it, never above it
    assert lowered == 2  # a 429 leaves three quarters of the limit, rounded down

    async def limits_in_postgres() -> dict[str, int]:
        con = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            rows = await con.fetch('SELECT name, "limit" FROM concurrency_limit_v2')
        finally:
            await con.close()
        return {row["name"]: row["limit"] for row in rows}

    # The limits live in the server's PostgreSQL database, reset to the account's figure.
    assert asyncio.run(limits_in_postgres()) == {limit_name("flash"): LIMIT, limit_name("pro"): 1}
