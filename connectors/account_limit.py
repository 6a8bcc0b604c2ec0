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
- ``AccountSlots`` plugs both into the dispatcher (``tasks.dispatch.RequestSlot``): each request
  holds a slot of its model's family, and a 429 heard inside a slot lowers that family's limit,
  once per burst from this process (a burst of 429s from requests that entered under the same
  limit lowers it once, as the client's own adaptive limit halves once per burst).

A slot is leased for ``SLOT_LEASE_SECONDS`` and the lease renewed while it is held, so the
slots of a worker killed mid-request come back to the others when the server's repossessor
finds the lease expired (Prefect's minimum lease, plus its 15 s sweep).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.concurrency.asyncio import concurrency
from prefect.exceptions import ObjectNotFound

from connectors.deepseek_protocol import AttemptCallback, AttemptRecord, ChatRequest

logger = logging.getLogger(__name__)

LIMIT_PREFIX = "nightshift-account-"
# DeepSeek's published per-account concurrency limits (2026), by model family.
DEFAULT_ACCOUNT_LIMITS: Mapping[str, int] = {"flash": 2_500, "pro": 500}
BACKOFF_FACTOR = 0.75  # a 429 leaves three quarters of the limit
SLOT_LEASE_SECONDS = 60.0  # the shortest lease the Prefect server grants


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
    async with concurrency(
        limit_name(family), occupy=1, strict=True, lease_duration=SLOT_LEASE_SECONDS
    ):
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


@dataclass
class AccountSlots:
    """The dispatcher's request slot under the account-wide limits (see the module doc).

    A request for ``pro_model`` is in the ``pro`` family, any other in ``flash``."""

    pro_model: str
    # Back-offs this process made per family: a 429 from a request that entered before the last
    # one was made is part of a burst already answered.
    _backoffs: Counter[str] = field(default_factory=Counter)

    def family(self, model: str) -> str:
        return "pro" if model == self.pro_model else "flash"

    @asynccontextmanager
    async def __call__(self, request: ChatRequest) -> AsyncIterator[AttemptCallback]:
        family = self.family(request.model)
        entered_after = self._backoffs[family]

        async def hear(attempt: AttemptRecord) -> None:
            if attempt.http_status != 429 or self._backoffs[family] != entered_after:
                return
            self._backoffs[family] += 1
            lowered = await record_rate_limited(family)
            logger.warning("429 on %s: the account-wide limit is now %s", family, lowered)

        async with account_slot(family):
            yield hear
