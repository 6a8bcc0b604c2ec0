"""Fixtures for the model-API tests: the simulator on a loopback port, and a fast client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.deepseek import DeepSeekClient
from connectors.simulator import SimulatorConfig, SimulatorHandle, running_simulator

# Looks like a real key so that a leak would be visible; it is only ever sent to the simulator.
TEST_API_KEY = "sk-nightshift-test-7f3c9a1e5b2d4c6a8e0f"


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
    """Build clients against ``simulator`` with tiny backoffs so retries cost milliseconds."""

    def make(**overrides: Any) -> DeepSeekClient:
        options: dict[str, Any] = {
            "backoff_base": 0.001,
            "backoff_cap": 0.005,
            "read_timeout": 10.0,
            "seed": 1,
        }
        options.update(overrides)
        base_url = options.pop("base_url", simulator.base_url)
        api_key = options.pop("api_key", TEST_API_KEY)
        return DeepSeekClient(base_url, api_key, **options)

    return make
