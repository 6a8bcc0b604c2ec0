"""What a self-hosted V4-Flash run costs on spot H200 nodes, and where it beats the API.

Pure arithmetic, no I/O. A node is one ``p5en.48xlarge`` (8x H200) running two 4-GPU replicas,
as the ``infra/`` module deploys it. A replica's time is modelled as linear in the work::

    seconds = uncached_input_tokens / prefill_rate + output_tokens / decode_rate

with both rates calibrated on one published benchmark, so the model reproduces that benchmark
exactly and extrapolates linearly to other input/output mixes. API prices are passed in (the
dated price table lives in :mod:`nightshift.pricing`), in USD per 1M tokens.

Every number below is either a published figure, with its source, or an assumption, said so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nightshift.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# Published figures
# ---------------------------------------------------------------------------------------------

# Spot and on-demand price of p5en.48xlarge, USD per instance-hour, as offered in August 2026
# (dstack's offer listing in dstackai/dstack PR #4110: spot $26.57 us-east-2, $26.94 us-west-2,
# $27.20 us-east-1; on demand $63.296 in those regions). Spot prices move; pass your own.
P5EN_SPOT_USD_PER_HOUR = 27.0
P5EN_ON_DEMAND_USD_PER_HOUR = 63.296

GPUS_PER_NODE = 8  # p5en.48xlarge and p5e.48xlarge: 8x H200 141 GB
GPUS_PER_REPLICA = 4  # the published vLLM and SGLang V4-Flash recipes serve it on 4 H200s
REPLICAS_PER_NODE = GPUS_PER_NODE // GPUS_PER_REPLICA

# SGLang's DeepSeek-V4 cookbook benchmarks (sgl-project/sglang,
# docs/src/snippets/configs/deepseek-ai/deepseek-v4-benchmarks.jsx), cell H200 / Flash / FP4
# checkpoint / single node, SGLang 0.5.15.post1, `random` dataset with 8192 input and 1024 output
# tokens per request. Its tokens_per_sec_per_gpu counts input plus output tokens.
BENCH_INPUT_TOKENS = 8192
BENCH_OUTPUT_TOKENS = 1024
# "high-throughput" recipe at max_concurrency 1024 (4,546 at 4096: the engine is saturated).
BENCH_TOTAL_TOKENS_PER_S_PER_GPU = 4503.0
# "low-latency" recipe at max_concurrency 1: time to first token of one 8192-token prompt.
BENCH_SINGLE_REQUEST_TTFT_S = 0.242

# ---------------------------------------------------------------------------------------------
# Assumptions (not measured by anyone we can cite)
# ---------------------------------------------------------------------------------------------

# Prefill-only rate of a replica = one unbatched prompt's rate (8192 tokens / TTFT). Batched
# prefill is at least this fast, so this errs on the slow side for input-heavy mixes; at the
# benchmark's own 8:1 mix the calibration below makes the choice immaterial.
ASSUMED_PREFILL_TOKENS_PER_S_PER_REPLICA = BENCH_INPUT_TOKENS / BENCH_SINGLE_REQUEST_TTFT_S

# Fraction of paid, post-startup node time spent at benchmark throughput. A nightly run has a
# ramp, a tail as the queue drains, uneven replicas and the odd spot replacement.
ASSUMED_UTILIZATION = 0.8

# Billed time from launch to serving: boot, 20+ GB image pull, ~160 GB of weights from S3 to NVMe,
# engine load and CUDA-graph capture. A guess until measured on a real node.
ASSUMED_NODE_STARTUP_HOURS = 0.5

# The benchmark's prompts are 8K tokens. nightshift packs up to 1M-token contexts, where attention
# and KV-cache capacity lower throughput; scale the rates down (ReplicaThroughput.scaled) for such
# workloads once measured.


def _calibrated_decode_rate() -> float:
    """Decode rate per replica that, with the prefill rate above, reproduces the benchmark."""
    per_replica_total = BENCH_TOTAL_TOKENS_PER_S_PER_GPU * GPUS_PER_REPLICA
    per_request = BENCH_INPUT_TOKENS + BENCH_OUTPUT_TOKENS
    input_rate = per_replica_total * BENCH_INPUT_TOKENS / per_request
    output_rate = per_replica_total * BENCH_OUTPUT_TOKENS / per_request
    prefill_share = input_rate / ASSUMED_PREFILL_TOKENS_PER_S_PER_REPLICA
    return output_rate / (1.0 - prefill_share)


@dataclass(frozen=True)
class ReplicaThroughput:
    """Sustained rates of one replica: prompt tokens prefilled and tokens decoded per second."""

    prefill_tokens_per_s: float
    decode_tokens_per_s: float

    def __post_init__(self) -> None:
        if self.prefill_tokens_per_s <= 0 or self.decode_tokens_per_s <= 0:
            raise ConfigError("throughput rates must be positive")

    def scaled(self, factor: float) -> ReplicaThroughput:
        """Both rates times ``factor`` (e.g. 0.3 for very long contexts, once measured)."""
        return ReplicaThroughput(
            self.prefill_tokens_per_s * factor, self.decode_tokens_per_s * factor
        )


DEFAULT_REPLICA_THROUGHPUT = ReplicaThroughput(
    prefill_tokens_per_s=ASSUMED_PREFILL_TOKENS_PER_S_PER_REPLICA,
    decode_tokens_per_s=_calibrated_decode_rate(),
)


@dataclass(frozen=True)
class NodeSpec:
    """One GPU node as priced and scheduled."""

    usd_per_hour: float = P5EN_SPOT_USD_PER_HOUR
    replicas: int = REPLICAS_PER_NODE
    throughput: ReplicaThroughput = DEFAULT_REPLICA_THROUGHPUT
    utilization: float = ASSUMED_UTILIZATION
    startup_hours: float = ASSUMED_NODE_STARTUP_HOURS

    def __post_init__(self) -> None:
        if self.usd_per_hour < 0 or self.replicas < 1 or self.startup_hours < 0:
            raise ConfigError("node price, replicas and startup time must be non-negative")
        if not 0 < self.utilization <= 1:
            raise ConfigError("utilization must be in (0, 1]")

    def hours_per_token(self, output_share: float, cached_fraction: float = 0.0) -> float:
        """Node-hours per token of a workload with ``output_share`` of its tokens as output and
        ``cached_fraction`` of its input served from the engine's prefix cache (no prefill)."""
        _check_fraction("output_share", output_share)
        _check_fraction("cached_fraction", cached_fraction)
        seconds_per_replica = (1 - output_share) * (1 - cached_fraction) / (
            self.throughput.prefill_tokens_per_s
        ) + output_share / self.throughput.decode_tokens_per_s
        return seconds_per_replica / (self.replicas * 3600.0 * self.utilization)


@dataclass(frozen=True)
class ApiPrices:
    """API prices in USD per 1M tokens (take them from nightshift.pricing for an instant)."""

    input_cache_hit: float
    input_cache_miss: float
    output: float

    def usd_per_token(self, output_share: float, cached_fraction: float = 0.0) -> float:
        _check_fraction("output_share", output_share)
        _check_fraction("cached_fraction", cached_fraction)
        input_price = cached_fraction * self.input_cache_hit + (1 - cached_fraction) * (
            self.input_cache_miss
        )
        return ((1 - output_share) * input_price + output_share * self.output) / 1e6


@dataclass(frozen=True)
class RunEstimate:
    """A corpus run on ``nodes`` nodes started for it."""

    nodes: int
    busy_node_hours: float
    billed_node_hours: float
    wall_clock_hours: float
    usd: float


@dataclass(frozen=True)
class BreakEven:
    """Smallest nightly volume at which one-night spot nodes cost less than the API."""

    tokens_per_night: float
    input_tokens: float
    output_tokens: float
    selfhosted_usd_per_million: float  # marginal, after startup
    api_usd_per_million: float
    node_capacity_tokens_per_night: float


def usd_per_million(node: NodeSpec = NodeSpec()) -> tuple[float, float]:
    """(USD per 1M input tokens, USD per 1M output tokens) of node time, startup excluded."""
    return (
        node.usd_per_hour * node.hours_per_token(0.0) * 1e6,
        node.usd_per_hour * node.hours_per_token(1.0) * 1e6,
    )


def estimate_run(
    input_tokens: int,
    output_tokens: int,
    *,
    node: NodeSpec = NodeSpec(),
    nodes: int = 1,
    cached_fraction: float = 0.0,
) -> RunEstimate:
    """Cost and duration of one corpus on ``nodes`` nodes, each started for the run."""
    if input_tokens < 0 or output_tokens < 0:
        raise ConfigError("token counts must be non-negative")
    if nodes < 1:
        raise ConfigError("nodes must be at least 1")
    total = input_tokens + output_tokens
    share = output_tokens / total if total else 0.0
    busy = total * node.hours_per_token(share, cached_fraction)
    billed = nodes * node.startup_hours + busy
    return RunEstimate(
        nodes=nodes,
        busy_node_hours=busy,
        billed_node_hours=billed,
        wall_clock_hours=node.startup_hours + busy / nodes,
        usd=billed * node.usd_per_hour,
    )


def api_cost(
    input_tokens: int, output_tokens: int, prices: ApiPrices, *, cached_fraction: float = 0.0
) -> float:
    """USD the API bills for the same tokens."""
    total = input_tokens + output_tokens
    if total == 0:
        return 0.0
    return total * prices.usd_per_token(output_tokens / total, cached_fraction)


def break_even_tokens_per_night(
    prices: ApiPrices,
    *,
    output_share: float = BENCH_OUTPUT_TOKENS / (BENCH_INPUT_TOKENS + BENCH_OUTPUT_TOKENS),
    cached_fraction: float = 0.0,
    node: NodeSpec = NodeSpec(),
    window_hours: float = 8.0,
) -> BreakEven | None:
    """Tokens per night above which spot nodes, started each night, beat the API.

    Self-hosted cost of V tokens is ``k*F + m*V`` (k nodes, F = one node's startup cost, m the
    marginal cost per token); the API's is ``a*V``. One node breaks even at ``V* = F / (a - m)``.
    A node processes at most C tokens inside the window, and k nodes need ``k*F/(a-m) <= V <= k*C``,
    so the answer exists only if ``V* <= C``; above V* self-hosting then wins, except in narrow
    bands just past each multiple of C where a further node's startup is not yet amortised.
    Returns None when the API is cheaper per token, or a node cannot amortise its startup within
    the window.
    """
    hours_per_token = node.hours_per_token(output_share, cached_fraction)
    marginal = node.usd_per_hour * hours_per_token
    api = prices.usd_per_token(output_share, cached_fraction)
    capacity = max(window_hours - node.startup_hours, 0.0) / hours_per_token
    if api <= marginal:
        return None
    volume = node.usd_per_hour * node.startup_hours / (api - marginal)
    if volume > capacity:
        return None
    return BreakEven(
        tokens_per_night=volume,
        input_tokens=volume * (1 - output_share),
        output_tokens=volume * output_share,
        selfhosted_usd_per_million=marginal * 1e6,
        api_usd_per_million=api * 1e6,
        node_capacity_tokens_per_night=capacity,
    )


def nodes_for_window(
    input_tokens: int,
    output_tokens: int,
    window_hours: float,
    *,
    node: NodeSpec = NodeSpec(),
    cached_fraction: float = 0.0,
) -> int:
    """Fewest nodes that finish the corpus (startup included) inside ``window_hours``."""
    per_node = window_hours - node.startup_hours
    if per_node <= 0:
        raise ConfigError("the window is shorter than a node's startup")
    busy = estimate_run(
        input_tokens, output_tokens, node=node, cached_fraction=cached_fraction
    ).busy_node_hours
    return max(1, math.ceil(busy / per_node))


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be between 0 and 1, got {value}")
