"""What an attempt cost, and what a request may cost at worst (for the budget's reservation).

The API bills by the token at the price of the period; a self-hosted node is paid by the hour,
not by the token (the plan compares the two), so its attempts cost nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from connectors.deepseek_protocol import AttemptRecord
from nightshift.offpeak import is_off_peak
from nightshift.pricing import cost_usd, worst_case_cost_usd

Pricer = Callable[..., float]  # (model, hit, miss, output, at, period_kind=...) -> USD
WorstCase = Callable[[str, int, int, datetime], float]  # model, prompt, max_tokens, at -> USD


def _free(*_args: object, **_kwargs: object) -> float:
    return 0.0


def worst_period_cost_usd(model: str, prompt_tokens: int, max_tokens: int, at: datetime) -> float:
    """A request's reservation, at peak prices: it may end after the window closes, and then
    it is billed at peak (see ``attempt_cost``)."""
    return worst_case_cost_usd(model, prompt_tokens, max_tokens, at, period_kind="peak")


@dataclass(frozen=True)
class Tariff:
    price: Pricer = cost_usd
    worst_case: WorstCase = worst_period_cost_usd

    @classmethod
    def for_backend(cls, backend_name: str) -> Tariff:
        if backend_name == "selfhosted":
            return cls(_free, _free)
        return cls()


@dataclass(frozen=True)
class AttemptCost:
    usd: float
    started_off_peak: bool
    finished_off_peak: bool

    @property
    def off_peak(self) -> bool:
        return self.started_off_peak and self.finished_off_peak


def attempt_cost(tariff: Tariff, model: str, attempt: AttemptRecord) -> AttemptCost:
    """The attempt's billed cost (an answer was billed even when it was retried)."""
    started_off = is_off_peak(attempt.started_at)
    finished_off = is_off_peak(attempt.finished_at)
    usage = attempt.usage
    usd = 0.0
    if usage is not None:
        # Which instant DeepSeek bills by is not documented: a request that did not both start
        # and finish off-peak is priced at peak.
        kind = "off_peak" if started_off and finished_off else "peak"
        usd = tariff.price(
            model, usage.prompt_cache_hit_tokens, usage.prompt_cache_miss_tokens,
            usage.completion_tokens, attempt.started_at, period_kind=kind,
        )  # fmt: skip
    return AttemptCost(usd, started_off, finished_off)
