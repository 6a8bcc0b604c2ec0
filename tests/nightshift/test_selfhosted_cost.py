"""The self-hosted cost model: calibration, costs, run time and break-even."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from nightshift.errors import ConfigError
from nightshift.selfhosted_cost import (
    BENCH_INPUT_TOKENS,
    BENCH_OUTPUT_TOKENS,
    BENCH_TOTAL_TOKENS_PER_S_PER_GPU,
    DEFAULT_REPLICA_THROUGHPUT,
    GPUS_PER_REPLICA,
    REPLICAS_PER_NODE,
    ApiPrices,
    NodeSpec,
    api_cost,
    break_even_tokens_per_night,
    estimate_run,
    nodes_for_window,
    usd_per_million,
)

# V4-Flash API prices from 2026-08-16, USD per 1M tokens (off-peak; peak is 2x).
AUG_OFF_PEAK = ApiPrices(input_cache_hit=0.007, input_cache_miss=0.22, output=0.66)
AUG_PEAK = ApiPrices(input_cache_hit=0.014, input_cache_miss=0.44, output=1.32)
SEP_V41_OFF_PEAK = ApiPrices(input_cache_hit=0.003, input_cache_miss=0.15, output=0.60)

BENCH_SHARE = BENCH_OUTPUT_TOKENS / (BENCH_INPUT_TOKENS + BENCH_OUTPUT_TOKENS)
FULL = NodeSpec(utilization=1.0)


def test_two_four_gpu_replicas_per_node() -> None:
    assert (GPUS_PER_REPLICA, REPLICAS_PER_NODE) == (4, 2)


def test_calibration_reproduces_the_benchmark() -> None:
    hours = FULL.hours_per_token(BENCH_SHARE)
    tokens_per_s_per_gpu = 1 / (hours * 3600) / (REPLICAS_PER_NODE * GPUS_PER_REPLICA)
    assert tokens_per_s_per_gpu == pytest.approx(BENCH_TOTAL_TOKENS_PER_S_PER_GPU)
    assert DEFAULT_REPLICA_THROUGHPUT.prefill_tokens_per_s == pytest.approx(8192 / 0.242)
    assert DEFAULT_REPLICA_THROUGHPUT.decode_tokens_per_s == pytest.approx(3797.4, rel=1e-3)


def test_usd_per_million_tokens() -> None:
    input_usd, output_usd = usd_per_million(FULL)
    assert input_usd == pytest.approx(27.0 / (2 * 33851.24 * 3600) * 1e6, rel=1e-4)
    assert output_usd == pytest.approx(27.0 / (2 * 3797.39 * 3600) * 1e6, rel=1e-4)
    assert output_usd > 8 * input_usd
    # lower utilization raises both in proportion
    assert usd_per_million(NodeSpec(utilization=0.5))[0] == pytest.approx(2 * input_usd)


def test_estimate_run_time_and_cost() -> None:
    run = estimate_run(800_000_000, 100_000_000, node=FULL, nodes=2)
    busy = 900_000_000 * FULL.hours_per_token(1 / 9)
    assert run.busy_node_hours == pytest.approx(busy)
    assert run.billed_node_hours == pytest.approx(busy + 2 * 0.5)
    assert run.wall_clock_hours == pytest.approx(0.5 + busy / 2)
    assert run.usd == pytest.approx(run.billed_node_hours * 27.0)


def test_prefix_cache_hits_cut_prefill_time() -> None:
    cold = estimate_run(1_000_000, 0, node=FULL)
    warm = estimate_run(1_000_000, 0, node=FULL, cached_fraction=0.75)
    assert warm.busy_node_hours == pytest.approx(cold.busy_node_hours / 4)


def test_api_cost() -> None:
    assert api_cost(1_000_000, 1_000_000, AUG_OFF_PEAK) == pytest.approx(0.22 + 0.66)
    assert api_cost(1_000_000, 0, AUG_OFF_PEAK, cached_fraction=1.0) == pytest.approx(0.007)
    assert api_cost(0, 0, AUG_OFF_PEAK) == 0.0


def test_break_even_is_where_costs_meet() -> None:
    result = break_even_tokens_per_night(AUG_PEAK)
    assert result is not None
    volume = result.tokens_per_night
    assert result.input_tokens + result.output_tokens == pytest.approx(volume)
    inputs, outputs = round(result.input_tokens), round(result.output_tokens)
    self_cost = estimate_run(inputs, outputs).usd
    assert self_cost == pytest.approx(api_cost(inputs, outputs, AUG_PEAK), rel=1e-4)
    below, above = (round(inputs * 0.9), round(outputs * 0.9)), (inputs * 2, outputs * 2)
    assert estimate_run(*below).usd > api_cost(*below, AUG_PEAK)
    assert estimate_run(*above).usd < api_cost(*above, AUG_PEAK)
    assert 40e6 < volume < 60e6  # ~49M tokens per night at the default assumptions


def test_no_break_even_when_the_api_is_cheaper_per_token() -> None:
    assert break_even_tokens_per_night(SEP_V41_OFF_PEAK) is None
    assert break_even_tokens_per_night(AUG_OFF_PEAK, cached_fraction=0.5) is None


def test_no_break_even_when_a_node_cannot_amortise_startup_in_the_window() -> None:
    # At 80% utilization the margin against August off-peak prices is so thin that one node
    # would need ~1.5B tokens, more than it processes in an 8-hour window.
    assert break_even_tokens_per_night(AUG_OFF_PEAK) is None
    full = break_even_tokens_per_night(AUG_OFF_PEAK, node=FULL)
    assert full is not None
    assert full.tokens_per_night < full.node_capacity_tokens_per_night
    assert break_even_tokens_per_night(AUG_OFF_PEAK, node=FULL, window_hours=1.0) is None


def test_nodes_for_window() -> None:
    busy = estimate_run(3_000_000_000, 300_000_000).busy_node_hours
    assert nodes_for_window(3_000_000_000, 300_000_000, 8.0) == math.ceil(busy / 7.5)
    with pytest.raises(ConfigError):
        nodes_for_window(1, 1, 0.25)


@pytest.mark.parametrize(
    "call",
    [
        lambda: NodeSpec(utilization=0),
        lambda: NodeSpec(utilization=1.5),
        lambda: NodeSpec(replicas=0),
        lambda: estimate_run(-1, 0),
        lambda: estimate_run(1, 1, nodes=0),
        lambda: FULL.hours_per_token(1.5),
        lambda: DEFAULT_REPLICA_THROUGHPUT.scaled(0),
    ],
)
def test_bad_arguments_raise_config_error(call: Callable[[], object]) -> None:
    with pytest.raises(ConfigError):
        call()
