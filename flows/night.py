"""``sharded-review``: one night's review spread over any number of Prefect workers.

The parent flow resets the account-wide request limits (``connectors.account_limit``), starts
one run of the review deployment per shard with ``run_deployment`` (any worker of the pool, on
any machine, picks each up; every shard sends under those limits), runs a failed shard again
on its own, exports each completed shard's DuckDB file as Parquet parts, lands every part in
the night's database, and returns a report of the whole night.

Each shard writes its own DuckDB file under ``parts`` (one writer per file), named by its index:
a shard run again opens the same file, whose ledger holds every answer already paid for. With
workers on several machines, ``parts`` is a folder they all mount.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.deployments import run_deployment

from connectors.account_limit import DEFAULT_ACCOUNT_LIMITS, ensure_account_limits
from connectors.export import export_tables
from connectors.store import Store
from tasks.shard import SHARD_TABLES, land_parts

REVIEW_DEPLOYMENT = "review-corpus/sharded-shard"
# Every shard's requests hold slots of the account-wide limits this flow resets: set in the
# shard's process environment (the worker's job variables), so the review flow is unchanged.
SHARD_JOB_VARIABLES = {"env": {"NIGHTSHIFT_ACCOUNT_LIMIT": "prefect"}}


@dataclass(frozen=True)
class ShardOutcome:
    index: int
    flow_run_id: str
    state: str  # the last attempt's Prefect state type, COMPLETED when it went through
    attempts: int


@dataclass(frozen=True)
class NightReport:
    shards: tuple[ShardOutcome, ...]
    landed: dict[str, int]  # rows per table landed from the completed shards

    @property
    def completed(self) -> bool:
        return all(shard.state == "COMPLETED" for shard in self.shards)


def shard_db(parts: Path, index: int, count: int) -> Path:
    return parts / f"shard-{index}-of-{count}.duckdb"


@flow(name="sharded-review", log_prints=True)
async def sharded_review(
    source: str,
    db: str,
    parts: str,
    shards: int = 4,
    profile: str = "legal",
    deployment: str = REVIEW_DEPLOYMENT,
    shard_retries: int = 1,
    account_limits: dict[str, int] | None = None,
    review: dict[str, Any] | None = None,
) -> NightReport:
    """Review ``source`` in ``shards`` flow runs of ``deployment``; land all in ``db``.

    ``review`` holds further parameters of every shard's run (backend, budget, off-peak ...).
    """
    await ensure_account_limits(account_limits or DEFAULT_ACCOUNT_LIMITS)
    folder = Path(parts).resolve()
    folder.mkdir(parents=True, exist_ok=True)

    async def run_shard(index: int) -> ShardOutcome:
        parameters = {**(review or {}), "source": source, "profile": profile,
                      "db": str(shard_db(folder, index, shards)),
                      "shard_index": index, "shard_count": shards}  # fmt: skip
        for attempt in range(1, shard_retries + 2):
            # run_deployment is sync-compatible: in a coroutine it returns an awaitable.
            run = await run_deployment(  # type: ignore[misc]
                deployment, parameters=parameters, timeout=None,
                flow_run_name=f"shard {index} of {shards}", job_variables=SHARD_JOB_VARIABLES,
            )  # fmt: skip
            state = run.state.type.value if run.state else "UNKNOWN"
            if state == "COMPLETED" or attempt > shard_retries:
                return ShardOutcome(index, str(run.id), state, attempt)
            print(f"shard {index}: {state}, running it again alone")
        raise AssertionError("unreachable")

    outcomes = await asyncio.gather(*(run_shard(index) for index in range(shards)))
    exported = []
    for outcome in outcomes:
        if outcome.state == "COMPLETED":
            out = folder / f"shard-{outcome.index}-of-{shards}"
            export_tables(shard_db(folder, outcome.index, shards), out, tuple(SHARD_TABLES))
            exported.append(out)
    with Store(db) as store:
        landed = land_parts(store, exported)
    report = NightReport(tuple(outcomes), landed)
    for outcome in outcomes:
        print(f"shard {outcome.index}: {outcome.state} after {outcome.attempts} attempt(s)")
    return report
