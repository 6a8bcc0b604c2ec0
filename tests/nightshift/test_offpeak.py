"""The off-peak calendar, with the clock injected: every instant is chosen by the test."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nightshift import offpeak
from nightshift.errors import ConfigError
from nightshift.offpeak import (
    Window,
    current_window,
    fits_in_window,
    format_windows,
    is_off_peak,
    next_window,
    period_kind,
    upcoming_windows,
    window_end,
)

BEIJING = ZoneInfo("Asia/Shanghai")
LAUNCH = datetime(2026, 4, 24, tzinfo=UTC)
RULE_CHANGE = datetime(2026, 8, 16, 16, tzinfo=UTC)
NIGHT_RULE = "beijing-night"
BUSINESS_RULE = "beijing-business-hours"


def bj(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Beijing wall-clock time as the UTC instant the functions take."""
    return datetime(year, month, day, hour, minute, tzinfo=BEIJING).astimezone(UTC)


def window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    return (start, end)


def span(w: Window | None) -> tuple[datetime, datetime] | None:
    return None if w is None else (w.start, w.end)


# -- inputs ------------------------------------------------------------------------------------


def test_before_launch_no_rule_is_known() -> None:
    with pytest.raises(ConfigError, match="before 2026-04-24"):
        is_off_peak(datetime(2026, 3, 15, 20, tzinfo=UTC))
    with pytest.raises(ConfigError):
        current_window(LAUNCH - timedelta(seconds=1))


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ConfigError, match="aware"):
        is_off_peak(datetime(2026, 5, 1, 12))


def test_any_aware_zone_is_accepted_and_results_are_utc() -> None:
    w = current_window(datetime(2026, 5, 10, 1, tzinfo=BEIJING))
    assert w is not None
    assert w.start.tzinfo is UTC
    assert w.start == bj(2026, 5, 9, 23)


# -- the launch rule: 23:00-07:00 Beijing, every day -------------------------------------------


def test_night_rule_applies_on_weekends_too() -> None:
    # Sunday 2026-05-10: the launch rule has no weekday exception.
    assert is_off_peak(bj(2026, 5, 10, 3))
    assert not is_off_peak(bj(2026, 5, 10, 12))
    assert span(current_window(bj(2026, 5, 10, 3))) == window(
        bj(2026, 5, 9, 23), bj(2026, 5, 10, 7)
    )


def test_window_edges_are_half_open() -> None:
    assert is_off_peak(bj(2026, 5, 12, 23))
    assert not is_off_peak(bj(2026, 5, 12, 22, 59))
    assert not is_off_peak(bj(2026, 5, 13, 7))
    assert is_off_peak(bj(2026, 5, 13, 7) - timedelta(microseconds=1))


def test_dst_free_zone_every_night_is_eight_hours_at_15_utc() -> None:
    # China keeps no daylight saving time: +08:00 all year, so under the launch rule every
    # window starts at 15:00 UTC and lasts exactly eight hours, including around the dates
    # when Europe and America shift their clocks.
    assert {bj(2026, m, 1).utcoffset() for m in range(1, 13)} == {timedelta(0)}
    assert {datetime(2026, m, 1, tzinfo=BEIJING).utcoffset() for m in range(1, 13)} == {
        timedelta(hours=8)
    }
    windows = upcoming_windows(LAUNCH, 100)
    assert all(w.start.hour == 15 and w.start.minute == 0 for w in windows)
    assert {w.duration for w in windows} == {timedelta(hours=8)}
    assert windows[-1].end < RULE_CHANGE


# -- the rule change at 2026-08-16 16:00 UTC ---------------------------------------------------


def test_window_spanning_the_rule_change_is_one_window() -> None:
    # Sunday 23:00 Beijing starts under the night rule; from Monday 00:00 Beijing the business
    # hours rule says off-peak until 09:00, so the window runs on to 09:00, not 07:00.
    w = current_window(RULE_CHANGE - timedelta(minutes=1))
    assert w is not None
    assert (w.start, w.end) == (bj(2026, 8, 16, 23), bj(2026, 8, 17, 9))
    assert w.rules == (NIGHT_RULE, BUSINESS_RULE)
    assert current_window(RULE_CHANGE) == w
    assert window_end(bj(2026, 8, 17, 7, 30)) == bj(2026, 8, 17, 9)


def test_the_night_before_the_change_is_still_the_old_rule() -> None:
    w = current_window(bj(2026, 8, 16, 3))
    assert span(w) == window(bj(2026, 8, 15, 23), bj(2026, 8, 16, 7))
    assert w is not None and w.rules == (NIGHT_RULE,)
    # Sunday noon is peak under the old rule, though it would be off-peak under the new one.
    assert not is_off_peak(bj(2026, 8, 16, 12))


# -- the business-hours rule -------------------------------------------------------------------


def test_weekday_peak_blocks_and_lunch_window() -> None:
    tuesday = (2026, 8, 18)
    assert period_kind(bj(*tuesday, 8, 59)) == "off_peak"
    assert period_kind(bj(*tuesday, 9)) == "peak"
    assert period_kind(bj(*tuesday, 11, 59)) == "peak"
    assert span(current_window(bj(*tuesday, 12, 30))) == window(bj(*tuesday, 12), bj(*tuesday, 14))
    assert period_kind(bj(*tuesday, 14)) == "peak"
    assert span(current_window(bj(*tuesday, 20))) == window(bj(*tuesday, 18), bj(2026, 8, 19, 9))


def test_weekend_joins_into_one_window() -> None:
    w = current_window(bj(2026, 8, 22, 12))  # Saturday noon
    assert span(w) == window(bj(2026, 8, 21, 18), bj(2026, 8, 24, 9))
    assert w is not None and w.duration == timedelta(hours=63)


def test_national_day_golden_week_is_one_window() -> None:
    # 2026-10-01 (Thursday) to 10-07 are days off; Monday 10-05 to Wednesday 10-07 only
    # through "observed" and substituted days off, which the holidays package provides.
    assert is_off_peak(bj(2026, 10, 1, 10))
    assert is_off_peak(bj(2026, 10, 6, 10))
    w = current_window(bj(2026, 10, 1, 10))
    assert span(w) == window(bj(2026, 9, 30, 18), bj(2026, 10, 8, 9))
    assert is_off_peak(bj(2026, 10, 8, 8, 59)) and not is_off_peak(bj(2026, 10, 8, 9))


def test_mid_autumn_friday_holiday_lengthens_the_weekend() -> None:
    assert span(current_window(bj(2026, 9, 25, 10))) == window(
        bj(2026, 9, 24, 18), bj(2026, 9, 28, 9)
    )


def test_weekend_workday_is_off_peak_by_the_published_rule() -> None:
    # China makes Sunday 2026-09-20 a working day (for the National Day holiday). The rule
    # says Monday-Friday, so it stays off-peak unless the data says otherwise.
    sunday = bj(2026, 9, 20, 10)
    assert is_off_peak(sunday)

    data = offpeak.read_data_file()["calendar"]
    rules = [dict(rule) for rule in data["rules"]]
    rules[-1]["count_weekend_workdays"] = True
    strict = offpeak.calendar_from_data({**data, "rules": rules})
    assert not is_off_peak(sunday, strict)
    assert span(current_window(bj(2026, 9, 20, 12, 30), strict)) == window(
        bj(2026, 9, 20, 12), bj(2026, 9, 20, 14)
    )
    assert is_off_peak(bj(2026, 9, 19, 10), strict)  # an ordinary Saturday


def test_holidays_package_offers_what_the_calendar_uses() -> None:
    cal = offpeak.default_calendar()
    assert offpeak.is_workday(date(2026, 9, 30), calendar=cal)
    assert not offpeak.is_workday(date(2026, 10, 1), calendar=cal)
    assert not offpeak.is_workday(date(2026, 10, 7), calendar=cal)  # substituted day off
    assert not offpeak.is_workday(date(2026, 9, 20), calendar=cal)
    counting = replace(cal.rules[-1], count_weekend_workdays=True)
    assert offpeak.is_workday(date(2026, 9, 20), counting, cal)


# -- windows in sequence -----------------------------------------------------------------------


def test_next_window_starts_strictly_after() -> None:
    lunch = bj(2026, 8, 18, 12)
    assert span(next_window(bj(2026, 8, 18, 10))) == window(lunch, bj(2026, 8, 18, 14))
    # From inside (or at the start of) a window, the next one is the one after it.
    assert next_window(lunch).start == bj(2026, 8, 18, 18)
    assert next_window(bj(2026, 8, 18, 13)).start == bj(2026, 8, 18, 18)


def test_upcoming_windows_starts_with_the_current_one() -> None:
    at = bj(2026, 8, 20, 20)  # Thursday evening
    windows = upcoming_windows(at, 4)
    assert [span(w) for w in windows] == [
        window(bj(2026, 8, 20, 18), bj(2026, 8, 21, 9)),
        window(bj(2026, 8, 21, 12), bj(2026, 8, 21, 14)),
        window(bj(2026, 8, 21, 18), bj(2026, 8, 24, 9)),
        window(bj(2026, 8, 24, 12), bj(2026, 8, 24, 14)),
    ]
    assert upcoming_windows(at, 0) == []
    assert upcoming_windows(bj(2026, 8, 20, 10), 1)[0].start == bj(2026, 8, 20, 12)
    with pytest.raises(ConfigError):
        upcoming_windows(at, -1)


# -- fitting a request into a window -----------------------------------------------------------


def test_a_window_ending_mid_run() -> None:
    start = bj(2026, 8, 18, 8)  # the window ends at 09:00
    assert fits_in_window(start, 30 * 60)
    assert fits_in_window(start, 60 * 60)  # finishing exactly at the end counts
    assert not fits_in_window(start, 60 * 60 + 1)
    assert not fits_in_window(bj(2026, 8, 18, 10), 1)  # starts at peak
    with pytest.raises(ConfigError):
        fits_in_window(start, -1)


def test_a_run_across_the_rule_change_fits_in_the_joined_window() -> None:
    # Starting 06:30 Beijing on the Monday of the change, a 2-hour request would not fit the
    # old 07:00 end but does fit the joined window, which ends at 09:00.
    assert fits_in_window(bj(2026, 8, 17, 6, 30), 2 * 3600)
    assert not fits_in_window(bj(2026, 8, 16, 6, 30), 2 * 3600)


# -- rows for `nightshift windows` -------------------------------------------------------------


def test_format_windows_local_zone_with_dst() -> None:
    # The weekend of 2026-10-25, when Berlin leaves summer time: the duration is real elapsed
    # time (63 h) although the Berlin wall clock shows 62 h between start and end.
    rows = format_windows(bj(2026, 10, 23, 20), 1, "Europe/Berlin")
    (row,) = rows
    assert (row.start_utc, row.end_utc) == (bj(2026, 10, 23, 18), bj(2026, 10, 26, 9))
    assert row.start_local.isoformat() == "2026-10-23T12:00:00+02:00"
    assert row.end_local.isoformat() == "2026-10-26T02:00:00+01:00"
    assert row.duration == timedelta(hours=63)
    assert row.rule == BUSINESS_RULE
    assert row.local_zone == "Europe/Berlin"


def test_format_windows_names_both_rules_across_the_change() -> None:
    rows = format_windows(bj(2026, 8, 16, 12), 1, ZoneInfo("Asia/Shanghai"))
    assert rows[0].rule == f"{NIGHT_RULE} -> {BUSINESS_RULE}"
    assert rows[0].start_local.hour == 23 and rows[0].end_local.hour == 9


def test_format_windows_unknown_zone() -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        format_windows(bj(2026, 8, 16, 12), 1, "Mars/Olympus")


# -- properties --------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2026, 4, 24), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(instants)
def test_beijing_night_is_off_peak_under_every_rule(at: datetime) -> None:
    # The design's default schedules rely on it: 23:00-07:00 Beijing is off-peak under every
    # definition published so far.
    hour = at.astimezone(BEIJING).hour
    if hour >= 23 or hour < 7:
        assert is_off_peak(at)


@PROPERTY_SETTINGS
@given(instants)
def test_window_agrees_with_is_off_peak_and_is_maximal(at: datetime) -> None:
    w = current_window(at)
    assert (w is not None) == is_off_peak(at)
    if w is None:
        assert next_window(at).start > at
        return
    assert w.contains(at)
    assert not is_off_peak(w.end)
    if w.start > LAUNCH:
        assert not is_off_peak(w.start - timedelta(microseconds=1))
    following = next_window(at)
    assert following.start > w.end
