"""Dated DeepSeek prices, with the clock injected: every instant is chosen by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nightshift.errors import ConfigError
from nightshift.offpeak import read_data_file
from nightshift.pricing import (
    ModelPrices,
    cost_usd,
    default_price_book,
    load_price_book,
    model_family,
    price_period,
    prices_for,
    quote_usd,
    worst_case_cost_usd,
)

BEIJING = ZoneInfo("Asia/Shanghai")
FLASH = "deepseek-v4-flash"
PRO = "deepseek-v4-pro"
FLASH_41 = "deepseek-flash"
V41_RELEASE = datetime(2026, 9, 10, tzinfo=UTC)


def bj(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BEIJING).astimezone(UTC)


def triple(prices: ModelPrices) -> tuple[float, float, float]:
    return (prices.cache_hit, prices.cache_miss, prices.output)


# Peak and off-peak instants in each period (Beijing noon on a weekday is peak under both
# window rules; 03:00 is off-peak under both).
LAUNCH_PEAK, LAUNCH_OFF = bj(2026, 4, 24, 12), bj(2026, 4, 25, 3)
PROMO_PEAK, PROMO_OFF = bj(2026, 5, 6, 10), bj(2026, 5, 6, 3)
AUGUST_PEAK, AUGUST_OFF = bj(2026, 8, 18, 10), bj(2026, 8, 18, 3)
SEPT_PEAK, SEPT_OFF = bj(2026, 9, 15, 10), bj(2026, 9, 15, 3)


# -- periods -----------------------------------------------------------------------------------


def test_no_price_before_launch() -> None:
    with pytest.raises(ConfigError, match="before 2026-04-24"):
        prices_for(FLASH, datetime(2026, 3, 20, 12, tzinfo=UTC))
    with pytest.raises(ConfigError):
        cost_usd(PRO, 0, 1000, 1000, datetime(2026, 3, 20, 12, tzinfo=UTC))


def test_periods_read_like_the_source() -> None:
    periods = default_price_book().periods
    assert [p.name for p in periods] == ["v4-launch", "v4-promo", "v4-peak-pricing", "v4.1-flash"]
    assert [(p.listed_price, p.off_peak_discount, p.peak_multiplier) for p in periods] == [
        ("peak", 0.5, None),
        ("peak", 0.5, None),
        ("off_peak", None, 2.0),
        ("off_peak", None, 2.0),
    ]


def test_promo_starts_at_12_15_utc() -> None:
    change = datetime(2026, 4, 26, 12, 15, tzinfo=UTC)
    assert price_period(change - timedelta(microseconds=1)).name == "v4-launch"
    assert price_period(change).name == "v4-promo"


def test_august_change_is_the_window_rule_change() -> None:
    change = datetime(2026, 8, 16, 16, tzinfo=UTC)
    assert price_period(change - timedelta(seconds=1)).name == "v4-promo"
    assert price_period(change).name == "v4-peak-pricing"


# -- prices at an instant ----------------------------------------------------------------------


def test_launch_peak_is_the_list_price_and_off_peak_is_half() -> None:
    assert triple(prices_for(FLASH, LAUNCH_PEAK)) == (0.028, 0.14, 0.28)
    assert triple(prices_for(PRO, LAUNCH_PEAK)) == (0.145, 1.74, 3.48)
    off = prices_for(PRO, LAUNCH_OFF)
    assert off.kind == "off_peak"
    assert triple(off) == pytest.approx((0.0725, 0.87, 1.74))


def test_promo_prices() -> None:
    assert triple(prices_for(FLASH, PROMO_PEAK)) == (0.0028, 0.14, 0.28)
    assert triple(prices_for(PRO, PROMO_PEAK)) == (0.003625, 0.435, 0.87)
    assert triple(prices_for(PRO, PROMO_OFF)) == pytest.approx((0.0018125, 0.2175, 0.435))


def test_august_off_peak_is_listed_and_peak_is_double() -> None:
    assert triple(prices_for(FLASH, AUGUST_OFF)) == (0.007, 0.22, 0.66)
    assert triple(prices_for(PRO, AUGUST_OFF)) == (0.022, 0.66, 1.98)
    peak = prices_for(FLASH, AUGUST_PEAK)
    assert peak.kind == "peak"
    assert triple(peak) == pytest.approx((0.014, 0.44, 1.32))
    assert triple(prices_for(PRO, AUGUST_PEAK)) == pytest.approx((0.044, 1.32, 3.96))


def test_august_weekend_and_holiday_are_off_peak_all_day() -> None:
    assert prices_for(FLASH, bj(2026, 8, 22, 10)).kind == "off_peak"  # Saturday
    assert prices_for(FLASH, bj(2026, 10, 1, 10)).kind == "off_peak"  # National Day


def test_september_new_flash_id_and_old_id_at_previous_prices() -> None:
    assert triple(prices_for(FLASH_41, SEPT_OFF)) == (0.003, 0.15, 0.60)
    assert triple(prices_for(FLASH_41, SEPT_PEAK)) == pytest.approx((0.006, 0.30, 1.20))
    assert triple(prices_for(FLASH, SEPT_OFF)) == (0.007, 0.22, 0.66)
    assert triple(prices_for(PRO, SEPT_OFF)) == (0.022, 0.66, 1.98)
    assert prices_for(FLASH_41, SEPT_OFF).period == "v4.1-flash"


def test_new_flash_id_has_no_price_before_its_release() -> None:
    with pytest.raises(ConfigError, match="deepseek-flash has no price"):
        prices_for(FLASH_41, V41_RELEASE - timedelta(seconds=1))


def test_peak_is_twice_off_peak_in_every_period() -> None:
    # Both published forms (50% off peak, or 2x off-peak) give the same ratio so far.
    for peak_at, off_at in [
        (LAUNCH_PEAK, LAUNCH_OFF),
        (PROMO_PEAK, PROMO_OFF),
        (AUGUST_PEAK, AUGUST_OFF),
        (SEPT_PEAK, SEPT_OFF),
    ]:
        assert price_period(peak_at) == price_period(off_at)
        for model in (FLASH, PRO):
            peak, off = prices_for(model, peak_at), prices_for(model, off_at)
            assert triple(peak) == pytest.approx(tuple(2 * x for x in triple(off)))


def test_period_kind_can_be_forced() -> None:
    forced = prices_for(FLASH, AUGUST_OFF, period_kind="peak")
    assert forced.kind == "peak"
    assert triple(forced) == triple(prices_for(FLASH, AUGUST_PEAK))
    with pytest.raises(ConfigError):
        prices_for(FLASH, AUGUST_OFF, period_kind="midnight")  # type: ignore[arg-type]


# -- models ------------------------------------------------------------------------------------


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        prices_for("deepseek-chat", SEPT_OFF)
    message = str(info.value)
    assert "deepseek-chat" in message
    for known in (FLASH, PRO, FLASH_41):
        assert known in message


def test_served_name_alias_for_a_self_hosted_model() -> None:
    book = default_price_book().with_aliases({"DeepSeek-V4-Flash-FP8": FLASH})
    assert prices_for("DeepSeek-V4-Flash-FP8", SEPT_OFF, book=book) == prices_for(FLASH, SEPT_OFF)
    assert model_family("DeepSeek-V4-Flash-FP8", book=book) == "flash"
    assert model_family(PRO) == "pro"
    assert model_family(FLASH_41) == "flash"
    with pytest.raises(ConfigError, match="unknown model"):
        default_price_book().with_aliases({"mine": "deepseek-v5"})
    with pytest.raises(ConfigError, match="shadows"):
        default_price_book().with_aliases({PRO: FLASH})


# -- costs -------------------------------------------------------------------------------------


def test_cost_of_one_request() -> None:
    # 900K cached prompt tokens, 100K uncached, 20K output (reasoning included), Pro, August
    # off-peak: 0.9 * 0.022 + 0.1 * 0.66 + 0.02 * 1.98.
    cost = cost_usd(PRO, 900_000, 100_000, 20_000, AUGUST_OFF)
    assert cost == pytest.approx(0.0198 + 0.066 + 0.0396)
    assert cost_usd(PRO, 900_000, 100_000, 20_000, AUGUST_PEAK) == pytest.approx(2 * cost)
    assert cost_usd(FLASH, 0, 0, 0, AUGUST_OFF) == 0.0


def test_quote_prices_both_ways() -> None:
    quote = quote_usd(FLASH, 500_000, 500_000, 10_000, AUGUST_PEAK)
    assert quote.kind == "peak"
    assert quote.period == "v4-peak-pricing"
    assert quote.off_peak_usd == pytest.approx(0.5 * 0.007 + 0.5 * 0.22 + 0.01 * 0.66)
    assert quote.peak_usd == pytest.approx(2 * quote.off_peak_usd)
    assert quote.usd == quote.peak_usd
    assert quote.savings_usd == pytest.approx(quote.off_peak_usd)
    assert quote_usd(FLASH, 500_000, 500_000, 10_000, AUGUST_OFF).usd == quote.off_peak_usd


def test_worst_case_prices_all_input_as_misses() -> None:
    worst = worst_case_cost_usd(FLASH, 1_000_000, 8192, PROMO_PEAK)
    assert worst == pytest.approx(0.14 + 8192 / 1e6 * 0.28)
    assert worst_case_cost_usd(FLASH, 1_000_000, 8192, PROMO_OFF, period_kind="peak") == worst


def test_bad_token_counts_are_refused() -> None:
    with pytest.raises(ConfigError, match="cache_miss_tokens"):
        cost_usd(FLASH, 0, -1, 0, SEPT_OFF)
    with pytest.raises(ConfigError, match="max_tokens"):
        worst_case_cost_usd(FLASH, 10, 2.5, SEPT_OFF)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="aware"):
        cost_usd(FLASH, 0, 1, 0, datetime(2026, 9, 15, 3))


instants = st.datetimes(
    min_value=datetime(2026, 4, 24), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
token_counts = st.integers(min_value=0, max_value=1_048_576)


@settings(max_examples=200, deadline=None)
@given(
    model=st.sampled_from([FLASH, PRO, FLASH_41]),
    at=instants,
    cache_hit=token_counts,
    cache_miss=token_counts,
    output=st.integers(min_value=0, max_value=393_216),
    spare_output=st.integers(min_value=0, max_value=393_216),
)
def test_worst_case_is_never_below_the_actual_cost(
    model: str, at: datetime, cache_hit: int, cache_miss: int, output: int, spare_output: int
) -> None:
    assume(model != FLASH_41 or at >= V41_RELEASE)
    actual = cost_usd(model, cache_hit, cache_miss, output, at)
    reserved = worst_case_cost_usd(model, cache_hit + cache_miss, output + spare_output, at)
    assert reserved >= actual


@settings(max_examples=100, deadline=None)
@given(at=instants, hit=token_counts, miss=token_counts, output=token_counts)
def test_cost_is_the_quote_at_the_kind_in_force(
    at: datetime, hit: int, miss: int, output: int
) -> None:
    quote = quote_usd(PRO, hit, miss, output, at)
    assert cost_usd(PRO, hit, miss, output, at) == quote.usd
    assert quote.peak_usd >= quote.off_peak_usd


# -- the data file -----------------------------------------------------------------------------


def packaged_text() -> str:
    return files("nightshift").joinpath("data/pricing.toml").read_text(encoding="utf-8")


def test_override_file_replaces_the_packaged_prices(tmp_path: Path) -> None:
    path = tmp_path / "pricing.toml"
    path.write_text(
        packaged_text().replace(
            "deepseek-flash = { cache_hit = 0.003, cache_miss = 0.15, output = 0.60 }",
            "deepseek-flash = { cache_hit = 0.001, cache_miss = 0.10, output = 0.50 }",
        ),
        encoding="utf-8",
    )
    book = load_price_book(path)
    assert triple(prices_for(FLASH_41, SEPT_OFF, book=book)) == (0.001, 0.10, 0.50)
    assert triple(prices_for(FLASH_41, SEPT_OFF)) == (0.003, 0.15, 0.60)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("cache_miss = 0.14, output = 0.28 }", "cache_miss = 0.14, outptu = 0.28 }", "outptu"),
        ("peak_multiplier = 2.0\n", "peak_multiplier = 2.0\noff_peak_discount = 0.5\n", "peak"),
        ("cache_hit = 0.028,", "cache_hit = 0.28,", "cache_hit costs more"),
        ("deepseek-v4-pro = { family", "deepseek-v4-pr0 = { family", "not declared"),
        ('blocks = [["23:00", "07:00"]]', 'blocks = [["23:00", "7am"]]', "clock time"),
        ('timezone = "Asia/Shanghai"', 'timezone = "Asia/Beijing"', "time zone"),
        ("schema_version = 1", "schema_version = 2", "schema_version"),
        ("[aliases]", '[aliases]\nmine = "deepseek-v5"', "unknown model"),
    ],
)
def test_bad_data_file_fails_at_load(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = packaged_text()
    assert old in text
    path = tmp_path / "pricing.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_price_book(path)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_price_book(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[price_periods]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_price_book(broken)
    assert read_data_file()["schema_version"] == 1


def test_off_peak_discount_is_taken_off_the_listed_price(tmp_path: Path) -> None:
    # With the published 50% the discount and the remaining share are the same number; a
    # 75% discount tells them apart.
    path = tmp_path / "pricing.toml"
    path.write_text(
        packaged_text().replace("off_peak_discount = 0.5", "off_peak_discount = 0.75", 1),
        encoding="utf-8",
    )
    book = load_price_book(path)
    assert triple(prices_for(FLASH, LAUNCH_OFF, book=book)) == pytest.approx((0.007, 0.035, 0.07))
    assert triple(prices_for(FLASH, LAUNCH_PEAK, book=book)) == (0.028, 0.14, 0.28)
