"""One account-wide limit on requests in flight per model family, shared by every worker.

DeepSeek limits concurrency per account (2,500 requests in flight on Flash, 500 on Pro), not per
process: with shards on many workers, each process's own admission control would add up past
it. The shared limit is a Prefect global concurrency limit per family, held on the Prefect
server (PostgreSQL in production), named ``nightshift-account-<family>``:

- ``ensure_account_limits`` creates (or resets) the limits; the parent flow of a sharded night
  calls it before any shard starts;
- ``account_slot(family)`` is an async context manager the dispatcher holds around each request
  it sends; it waits for a slot and fails loudly (``strict``) if the limit does not exist, since
  a silently unlimited night is what it exists to prevent;
- ``record_rate_limited(family)`` is the shared 429 back-off: the worker that sees a 429 lowers
  the limit itself by a quarter, so every worker sends fewer at once from its next request on.
  The limit is set back to the account's figure by the next ``ensure_account_limits`` (the next
  night). Requests already in flight are not interrupted; new ones wait until the count falls
  under the lowered limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.concurrency.asyncio import concurrency
from prefect.exceptions import ObjectNotFound

LIMIT_PREFIX = "nightshift-account-"
# DeepSeek's published per-account concurrency limits (2026), by model family.
DEFAULT_ACCOUNT_LIMITS: Mapping[str, int] = {"flash": 2_500, "pro": 500}
BACKOFF_FACTOR = 0.75  # a 429 leaves three quarters of the limit


def limit_name(family: str) -> str:
    return f"{LIMIT_PREFIX}{family}"


async def ensure_account_limits(limits: Mapping[str, int] = DEFAULT_ACCOUNT_LIMITS) -> None:
    """Create each family's limit, or reset it to ``limits`` (undoing last night's back-offs)."""
    async with get_client() as client:
        for family, limit in limits.items():
            name = limit_name(family)
            try:
                await client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                await client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=limit, active=True)
                )
                continue
            await client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=limit, active=True)
            )


@asynccontextmanager
async def account_slot(family: str) -> AsyncIterator[None]:
    """Hold one of the account's slots for ``family`` while one request is in flight."""
    async with concurrency(limit_name(family), occupy=1, strict=True):
        yield


async def record_rate_limited(family: str) -> int:
    """The shared back-off after a 429: lower ``family``'s limit by a quarter (never below 1);
    returns the new limit."""
    name = limit_name(family)
    async with get_client() as client:
        current = await client.read_global_concurrency_limit_by_name(name)
        lowered = max(1, int(current.limit * BACKOFF_FACTOR))
        if lowered < current.limit:
            await client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=lowered)
            )
        return lowered
