"""A review run with ``NIGHTSHIFT_ACCOUNT_LIMIT=prefect``: the real pipeline and dispatcher, its
requests holding slots of the account-wide limit on a Prefect API (the test harness's), sent to
the simulator over loopback. Across processes and on PostgreSQL: tests/flows/*_e2e.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prefect.client.orchestration import get_client
from pydantic import SecretStr

from connectors.account_limit import ensure_account_limits, limit_name
from connectors.simulator import SimulatorConfig, running_simulator
from flows.pipelines import review_pipeline
from nightshift.models import RunStatus
from nightshift.options import ReviewOptions
from nightshift.settings import Settings
from tests.tasks.test_dispatch import small_contracts

ACCOUNT_LIMIT = 3
RUN_LIMIT = 16  # the run's own limit, far above the account's


async def _flash_limit() -> int:
    async with get_client() as client:
        return (await client.read_global_concurrency_limit_by_name(limit_name("flash"))).limit


def test_a_run_sends_under_the_account_limit_and_a_429_lowers_it(
    prefect_harness: None, tmp_path: Path
) -> None:
    asyncio.run(ensure_account_limits({"flash": ACCOUNT_LIMIT, "pro": 1}))
    corpus = small_contracts(tmp_path / "corpus", 12)
    config = SimulatorConfig(seconds_per_request=0.2, fault_sequence=["429"])
    with running_simulator(config) as simulator:
        settings = Settings(
            deepseek_api_key=SecretStr("sk-test"), deepseek_base_url=simulator.base_url,
            account_limit="prefect", max_in_flight=RUN_LIMIT, retry_backoff_seconds=0.05,
        )  # fmt: skip
        options = ReviewOptions(source=str(corpus), db=str(tmp_path / "db.duckdb"))
        result = review_pipeline(options, settings)
        seen = max(simulator.stats.max_in_flight.values())
        statuses = [entry.status for entry in simulator.stats.log]
    lowered = asyncio.run(_flash_limit())
    asyncio.run(ensure_account_limits({"flash": ACCOUNT_LIMIT, "pro": 1}))  # for other tests

    assert result.status is RunStatus.COMPLETED
    assert statuses.count(429) == 1 and statuses.count(200) >= 12
    assert 1 < seen <= ACCOUNT_LIMIT  # concurrent, never past the account's limit
    assert lowered == int(ACCOUNT_LIMIT * 0.75)  # the 429 lowered the shared limit, once


def test_by_default_a_run_keeps_to_its_own_limit_alone(tmp_path: Path) -> None:
    # A single-machine run (the setting's default): no account-wide slots are held.
    corpus = small_contracts(tmp_path / "corpus", 6)
    with running_simulator(SimulatorConfig(seconds_per_request=0.2)) as simulator:
        settings = Settings(
            deepseek_api_key=SecretStr("sk-test"), deepseek_base_url=simulator.base_url,
            max_in_flight=RUN_LIMIT,
        )  # fmt: skip
        options = ReviewOptions(source=str(corpus), db=str(tmp_path / "db.duckdb"))
        result = review_pipeline(options, settings)
        seen = max(simulator.stats.max_in_flight.values())
    assert result.status is RunStatus.COMPLETED
    assert seen > ACCOUNT_LIMIT
