"""DeepSeek prices as dated data, and pure functions that price token usage at an instant.

The numbers live in ``nightshift/data/pricing.toml`` exactly as DeepSeek published them: some
periods list the standard (peak) price with an off-peak discount, later ones list the off-peak
price with a peak multiplier. ``PricePeriod.prices`` turns either form into the price actually
charged at peak or off-peak; whether an instant is peak comes from ``nightshift.offpeak``.

Every function takes the instant ``at`` instead of reading the clock. A request is priced by the
instant it starts; whether it may count as off-peak at all is the gate's call
(``offpeak.fits_in_window``), which can force a kind with ``period_kind=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nightshift.errors import ConfigError
from nightshift.offpeak import (
    OFF_PEAK,
    PEAK,
    PERIOD_KINDS,
    OffPeakCalendar,
    PeriodKind,
    calendar_from_data,
    check_table,
    period_kind,
    read_data_file,
    utc_instant,
)

SCHEMA_VERSION = 1
TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are USD per 1M tokens


@dataclass(frozen=True)
class TokenPrices:
    """USD per 1M tokens: a prompt token found in the cache, one not found, an output token."""

    cache_hit: float
    cache_miss: float
    output: float

    def scaled(self, factor: float) -> TokenPrices:
        return TokenPrices(self.cache_hit * factor, self.cache_miss * factor, self.output * factor)


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    family: str  # "flash" or "pro": routing and the per-account concurrency limits go by family
    display_name: str = ""


@dataclass(frozen=True)
class PricePeriod:
    """Prices in force from ``effective_from`` until the next period, as published.

    ``listed_price`` says what the listed numbers are: the peak price (with ``off_peak_discount``,
    0.5 = 50% off, inside the window) or the off-peak price (with ``peak_multiplier`` outside it).
    """

    name: str
    effective_from: datetime
    listed_price: PeriodKind
    listed: Mapping[str, TokenPrices]
    off_peak_discount: float | None = None
    peak_multiplier: float | None = None
    source: str = ""

    def prices(self, model_id: str, kind: PeriodKind) -> TokenPrices:
        """The price charged for ``model_id`` (a canonical id) at peak or off-peak."""
        try:
            listed = self.listed[model_id]
        except KeyError:
            raise ConfigError(
                f"{model_id} has no price in period {self.name!r} "
                f"(from {self.effective_from.isoformat()}); priced then: "
                f"{', '.join(sorted(self.listed))}"
            ) from None
        if kind == self.listed_price:
            return listed
        if self.listed_price == PEAK:
            assert self.off_peak_discount is not None  # checked at load
            return listed.scaled(1.0 - self.off_peak_discount)
        assert self.peak_multiplier is not None  # checked at load
        return listed.scaled(self.peak_multiplier)


@dataclass(frozen=True)
class ModelPrices:
    """What one model costs at one instant, peak or off-peak applied (USD per 1M tokens)."""

    model: str
    period: str
    kind: PeriodKind
    cache_hit: float
    cache_miss: float
    output: float


@dataclass(frozen=True)
class PriceQuote:
    """One usage priced both ways, for plan reports; ``kind`` is what applies at the instant."""

    model: str
    period: str
    kind: PeriodKind
    off_peak_usd: float
    peak_usd: float

    @property
    def usd(self) -> float:
        return self.off_peak_usd if self.kind == OFF_PEAK else self.peak_usd

    @property
    def savings_usd(self) -> float:
        """What running at off-peak saves against running at peak."""
        return self.peak_usd - self.off_peak_usd


@dataclass(frozen=True)
class PriceBook:
    """Everything in one pricing file: models, aliases, price periods and the off-peak calendar."""

    models: Mapping[str, ModelInfo]
    aliases: Mapping[str, str]
    periods: tuple[PricePeriod, ...]
    calendar: OffPeakCalendar

    def resolve(self, model: str) -> str:
        """The canonical model id for a model id or a configured served name."""
        model_id = self.aliases.get(model, model)
        if model_id not in self.models:
            aliases = f"; aliases: {', '.join(sorted(self.aliases))}" if self.aliases else ""
            raise ConfigError(
                f"unknown model {model!r}; known: {', '.join(sorted(self.models))}{aliases}"
            )
        return model_id

    def with_aliases(self, aliases: Mapping[str, str]) -> PriceBook:
        """This book with more served-name -> model-id aliases (e.g. a self-hosted endpoint)."""
        merged = {**self.aliases, **aliases}
        _check_aliases(merged, self.models)
        return replace(self, aliases=MappingProxyType(merged))

    def period_at(self, at: datetime) -> PricePeriod:
        at = utc_instant(at)
        current = None
        for period in self.periods:
            if period.effective_from > at:
                break
            current = period
        if current is None:
            first = self.periods[0]
            raise ConfigError(
                f"no DeepSeek price is known before {first.effective_from.isoformat()} "
                f"({first.name}); at={at.isoformat()}"
            )
        return current


# -- loading -----------------------------------------------------------------------------------


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: expected a non-negative number, got {value!r}")
    return float(value)


def _token_prices(raw: object, where: str) -> TokenPrices:
    table = check_table(raw, where, {"cache_hit", "cache_miss", "output"})
    prices = TokenPrices(
        *(_number(table[key], f"{where}.{key}") for key in ("cache_hit", "cache_miss", "output"))
    )
    # worst_case_cost_usd prices all input at the miss price; that is only a bound if a hit
    # never costs more than a miss.
    if prices.cache_hit > prices.cache_miss:
        raise ConfigError(f"{where}: cache_hit costs more than cache_miss")
    return prices


def _period(raw: object, where: str, models: Mapping[str, ModelInfo]) -> PricePeriod:
    table = check_table(
        raw,
        where,
        {"name", "effective_from", "listed_price", "models"},
        frozenset({"off_peak_discount", "peak_multiplier", "source"}),
    )
    listed_price = table["listed_price"]
    if listed_price not in PERIOD_KINDS:
        raise ConfigError(f"{where}: listed_price must be one of {PERIOD_KINDS}")
    discount = table.get("off_peak_discount")
    multiplier = table.get("peak_multiplier")
    # Exactly the adjustment that matches the listed kind, so the file cannot say two things.
    if listed_price == PEAK:
        if multiplier is not None or discount is None or not 0 <= discount < 1:
            raise ConfigError(f"{where}: a peak listed_price needs off_peak_discount in [0, 1)")
    elif discount is not None or multiplier is None or multiplier < 1:
        raise ConfigError(f"{where}: an off_peak listed_price needs peak_multiplier >= 1")
    listed = {}
    for model_id, raw_prices in check_table(
        table["models"], f"{where}.models", any_keys=True
    ).items():
        if model_id not in models:
            raise ConfigError(f"{where}.models: {model_id!r} is not declared in [models]")
        listed[model_id] = _token_prices(raw_prices, f"{where}.models.{model_id}")
    return PricePeriod(
        name=str(table["name"]),
        effective_from=utc_instant(table["effective_from"], f"{where}.effective_from"),
        listed_price=listed_price,
        listed=MappingProxyType(listed),
        off_peak_discount=None if discount is None else float(discount),
        peak_multiplier=None if multiplier is None else float(multiplier),
        source=str(table.get("source", "")),
    )


def _check_aliases(aliases: Mapping[str, str], models: Mapping[str, ModelInfo]) -> None:
    for served, model_id in aliases.items():
        if served in models:
            raise ConfigError(f"alias {served!r} shadows the model id of the same name")
        if model_id not in models:
            raise ConfigError(
                f"alias {served!r} points to unknown model {model_id!r}; "
                f"known: {', '.join(sorted(models))}"
            )


def price_book_from_data(data: Mapping[str, Any]) -> PriceBook:
    """Build and check a price book from the parsed data file."""
    table = check_table(
        data,
        "pricing file",
        {"schema_version", "models", "price_periods", "calendar"},
        frozenset({"aliases"}),
    )
    if table["schema_version"] != SCHEMA_VERSION:
        raise ConfigError(
            f"pricing file: schema_version {table['schema_version']!r}; this nightshift reads "
            f"{SCHEMA_VERSION}"
        )
    models = {}
    for model_id, raw in check_table(table["models"], "models", any_keys=True).items():
        info = check_table(raw, f"models.{model_id}", {"family"}, frozenset({"display_name"}))
        models[model_id] = ModelInfo(
            model_id, str(info["family"]), str(info.get("display_name", ""))
        )
    aliases = {
        str(k): str(v)
        for k, v in check_table(table.get("aliases", {}), "aliases", any_keys=True).items()
    }
    _check_aliases(aliases, models)
    periods = tuple(
        _period(raw, f"price_periods[{i}]", models) for i, raw in enumerate(table["price_periods"])
    )
    if not periods:
        raise ConfigError("pricing file: no price_periods")
    starts = [period.effective_from for period in periods]
    if starts != sorted(set(starts)):
        raise ConfigError("price_periods must be in strictly increasing effective_from order")
    return PriceBook(
        models=MappingProxyType(models),
        aliases=MappingProxyType(aliases),
        periods=periods,
        calendar=calendar_from_data(table["calendar"]),
    )


def load_price_book(path: Path | str | None = None) -> PriceBook:
    """The packaged prices and calendar, or those of the file at ``path`` (an override)."""
    return price_book_from_data(read_data_file(path))


@cache
def default_price_book() -> PriceBook:
    return load_price_book()


# -- the public functions ----------------------------------------------------------------------


def resolve_model(model: str, *, book: PriceBook | None = None) -> str:
    return (book or default_price_book()).resolve(model)


def model_family(model: str, *, book: PriceBook | None = None) -> str:
    """``"flash"`` or ``"pro"`` for a model id or a configured served name."""
    book = book or default_price_book()
    return book.models[book.resolve(model)].family


def price_period(at: datetime, *, book: PriceBook | None = None) -> PricePeriod:
    """The price period in force at ``at``; ConfigError before the first one (V4's launch)."""
    return (book or default_price_book()).period_at(at)


def prices_for(
    model: str,
    at: datetime,
    *,
    period_kind: PeriodKind | None = None,
    book: PriceBook | None = None,
) -> ModelPrices:
    """The prices charged for ``model`` at ``at``: peak or off-peak as the calendar says, unless
    ``period_kind`` forces one (plan reports, or a request that will not fit in the window)."""
    book = book or default_price_book()
    period = book.period_at(at)
    model_id = book.resolve(model)
    kind = period_kind if period_kind is not None else _kind_at(at, book)
    if kind not in PERIOD_KINDS:
        raise ConfigError(f"period_kind must be one of {PERIOD_KINDS}, not {kind!r}")
    prices = period.prices(model_id, kind)
    return ModelPrices(
        model_id, period.name, kind, prices.cache_hit, prices.cache_miss, prices.output
    )


def _kind_at(at: datetime, book: PriceBook) -> PeriodKind:
    return period_kind(at, book.calendar)


def _tokens(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{name} must be a non-negative int, got {value!r}")


def _usd(prices: ModelPrices, cache_hit: int, cache_miss: int, output: int) -> float:
    dollars_per_unit = (
        cache_hit * prices.cache_hit + cache_miss * prices.cache_miss + output * prices.output
    )
    return dollars_per_unit / TOKENS_PER_PRICE_UNIT


def cost_usd(
    model: str,
    cache_hit_tokens: int,
    cache_miss_tokens: int,
    output_tokens: int,
    at: datetime,
    *,
    period_kind: PeriodKind | None = None,
    book: PriceBook | None = None,
) -> float:
    """The cost of one request's usage. ``output_tokens`` is the completion, reasoning included
    (DeepSeek bills ``completion_tokens``, which contains the reasoning tokens)."""
    _tokens(
        cache_hit_tokens=cache_hit_tokens,
        cache_miss_tokens=cache_miss_tokens,
        output_tokens=output_tokens,
    )
    prices = prices_for(model, at, period_kind=period_kind, book=book)
    return _usd(prices, cache_hit_tokens, cache_miss_tokens, output_tokens)


def worst_case_cost_usd(
    model: str,
    prompt_tokens: int,
    max_tokens: int,
    at: datetime,
    *,
    period_kind: PeriodKind | None = None,
    book: PriceBook | None = None,
) -> float:
    """The budget reservation: every prompt token at the miss price, ``max_tokens`` of output.

    Priced at the kind in force at ``at`` like ``cost_usd``; pass ``period_kind="peak"`` for a
    reservation that also holds if the request is billed at peak.
    """
    _tokens(prompt_tokens=prompt_tokens, max_tokens=max_tokens)
    prices = prices_for(model, at, period_kind=period_kind, book=book)
    return _usd(prices, 0, prompt_tokens, max_tokens)


def quote_usd(
    model: str,
    cache_hit_tokens: int,
    cache_miss_tokens: int,
    output_tokens: int,
    at: datetime,
    *,
    book: PriceBook | None = None,
) -> PriceQuote:
    """The same usage priced at off-peak and at peak in the period in force at ``at``."""
    book = book or default_price_book()
    usage = (cache_hit_tokens, cache_miss_tokens, output_tokens)
    off_peak = cost_usd(model, *usage, at, period_kind=OFF_PEAK, book=book)
    peak = cost_usd(model, *usage, at, period_kind=PEAK, book=book)
    return PriceQuote(
        model=book.resolve(model),
        period=book.period_at(at).name,
        kind=_kind_at(at, book),
        off_peak_usd=off_peak,
        peak_usd=peak,
    )
