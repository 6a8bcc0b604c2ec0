"""Fixtures for the model-API tests: the simulator on a loopback port, and a fast client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from connectors.deepseek import ClientConfig, DeepSeekClient, RetryPolicy
from connectors.simulator import SimulatorConfig, SimulatorHandle, running_simulator

# Looks like a real key so that a leak would be visible; it is only ever sent to the simulator.
TEST_API_KEY = "sk-nightshift-test-7f3c9a1e5b2d4c6a8e0f"
# Tiny back-offs so that retries cost milliseconds; a seed so that the jitter repeats.
FAST_RETRY = RetryPolicy(backoff_base=0.001, backoff_cap=0.005, jitter_seed=1)


def fast_config(**changes: Any) -> ClientConfig:
    """A ``ClientConfig`` for tests: fast retries, short timeouts; ``changes`` override fields."""
    options: dict[str, Any] = {
        "timeout": httpx.Timeout(10.0, pool=None),
        "retry": FAST_RETRY,
        "request_deadline_seconds": 30.0,
        "deadline_seconds_per_output_token": 0.0,
    }
    options.update(changes)
    return ClientConfig(**options)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def simulator() -> Iterator[SimulatorHandle]:
    """A simulator with default knobs; tests change ``simulator.config`` or call set_faults."""
    with running_simulator(SimulatorConfig(seed=7)) as handle:
        yield handle


@pytest.fixture
def make_client(simulator: SimulatorHandle) -> Callable[..., DeepSeekClient]:
    """Build clients against ``simulator`` (or ``base_url``); other keywords are config fields."""

    def make(
        *,
        base_url: str | None = None,
        api_key: str = TEST_API_KEY,
        flavour: Any = "deepseek",
        **config_changes: Any,
    ) -> DeepSeekClient:
        config = fast_config(**config_changes)
        return DeepSeekClient(
            base_url or simulator.base_url, api_key, flavour=flavour, config=config
        )

    return make
