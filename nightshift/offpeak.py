"""DeepSeek's off-peak discount calendar: dated window rules as data, pure functions over them.

The rules live in ``nightshift/data/pricing.toml`` (section ``[calendar]``) beside the prices. Each
rule is in force from its ``effective_from`` until the next rule's; an off-peak *window* is a
maximal stretch of off-peak time, so a night that starts under one rule and ends under the next
is one window, and a weekend or a public holiday joins the evenings around it into one window.

Every function takes the instant ``at`` (an aware datetime; results are in UTC) instead of reading
the clock, so callers and tests decide what "now" is. Instants before the first rule raise
``ConfigError``: no discount is known for them.

The module is named ``offpeak`` rather than ``calendar`` so that it does not shadow the standard
library's ``calendar`` module.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from nightshift.errors import ConfigError

PeriodKind = Literal["peak", "off_peak"]
DayFilter = Literal["every_day", "workdays"]

PEAK: PeriodKind = "peak"
OFF_PEAK: PeriodKind = "off_peak"
PERIOD_KINDS: tuple[PeriodKind, ...] = (PEAK, OFF_PEAK)
DAY_FILTERS: tuple[DayFilter, ...] = ("every_day", "workdays")

DATA_PACKAGE = "nightshift"
DATA_FILE = "data/pricing.toml"

# The longest window the scans look for. A weekend plus China's Golden Week is about ten days;
# a longer stretch means the data has no peak hours at all, which is reported instead of
# scanning forever.
MAX_WINDOW = timedelta(days=62)
# Scans start with this much time on each side of the instant and double until the window found
# is closed on both sides; a window under the 2026 rules is rarely longer than this.
INITIAL_SCAN = timedelta(days=2)

_SATURDAY = 5


# -- the data file (shared with nightshift.pricing) --------------------------------------------


def read_data_file(path: Path | str | None = None) -> dict[str, Any]:
    """The pricing and calendar data: the packaged file, or the file at ``path`` when given."""
    try:
        if path is None:
            text = files(DATA_PACKAGE).joinpath(DATA_FILE).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read the pricing file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the pricing file {path or DATA_FILE} is not valid TOML: {exc}") from exc


def check_table(
    value: object,
    where: str,
    required: frozenset[str] | set[str] = frozenset(),
    optional: frozenset[str] = frozenset(),
    *,
    any_keys: bool = False,
) -> Mapping[str, Any]:
    """``value`` as a table with all of ``required`` and, unless ``any_keys``, nothing unknown
    (so a misspelt key fails when the file is loaded, not in the middle of a run)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a table, found {type(value).__name__}")
    missing = required - value.keys()
    unknown = set() if any_keys else value.keys() - required - optional
    # Both in one message: a misspelt key is usually one of each.
    problems = [f"missing {', '.join(sorted(missing))}"] if missing else []
    problems += [f"unknown key(s) {', '.join(sorted(unknown))}"] if unknown else []
    if problems:
        raise ConfigError(f"{where}: {'; '.join(problems)}")
    return value


def utc_instant(at: datetime, what: str = "at") -> datetime:
    """``at`` in UTC; a naive datetime is refused, since its zone would be a guess."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ConfigError(f"{what} must be an aware datetime (UTC), got {at!r}")
    return at.astimezone(UTC)


# -- value objects -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowRule:
    """One published definition of the discount hours, in force from ``effective_from``.

    ``blocks`` are daily [start, end) clock times in the calendar's zone; an end at or before the
    start runs past midnight. ``listed`` says whether the blocks are the off-peak or the peak
    hours; the rest of the day is the other kind. ``days`` limits the days the blocks apply to;
    on the other days there are no blocks at all.
    """

    name: str
    effective_from: datetime
    listed: PeriodKind
    blocks: tuple[tuple[time, time], ...]
    days: DayFilter = "every_day"
    count_weekend_workdays: bool = False
    source: str = ""


@dataclass(frozen=True)
class OffPeakCalendar:
    zone: ZoneInfo
    holiday_country: str
    rules: tuple[WindowRule, ...]

    @property
    def start(self) -> datetime:
        """The first instant the calendar knows about."""
        return self.rules[0].effective_from


@dataclass(frozen=True)
class Window:
    """An off-peak window [start, end) in UTC, with the names of the rules in force during it."""

    start: datetime
    end: datetime
    rules: tuple[str, ...]

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class WindowRow:
    """One line of ``nightshift windows``: a window in UTC and in the reader's own zone."""

    start_utc: datetime
    end_utc: datetime
    start_local: datetime
    end_local: datetime
    local_zone: str
    duration: timedelta
    rule: str


# -- loading -----------------------------------------------------------------------------------


def _clock(value: object, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: {value!r} is not a clock time like '09:00'") from exc


def _rule_from_data(raw: object, where: str) -> WindowRule:
    table = check_table(
        raw,
        where,
        {"name", "effective_from", "listed", "blocks"},
        frozenset({"days", "count_weekend_workdays", "source"}),
    )
    if table["listed"] not in PERIOD_KINDS:
        raise ConfigError(f"{where}: listed must be one of {PERIOD_KINDS}, not {table['listed']!r}")
    days = table.get("days", "every_day")
    if days not in DAY_FILTERS:
        raise ConfigError(f"{where}: days must be one of {DAY_FILTERS}, not {days!r}")
    blocks: list[tuple[time, time]] = []
    for pair in table["blocks"]:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(f"{where}: each block is [start, end], got {pair!r}")
        start, end = _clock(pair[0], where), _clock(pair[1], where)
        if start == end:
            raise ConfigError(f"{where}: block {pair!r} is empty (start equals end)")
        blocks.append((start, end))
    if not blocks:
        raise ConfigError(f"{where}: no blocks")
    return WindowRule(
        name=str(table["name"]),
        effective_from=utc_instant(table["effective_from"], f"{where}.effective_from"),
        listed=table["listed"],
        blocks=tuple(sorted(blocks)),
        days=days,
        count_weekend_workdays=bool(table.get("count_weekend_workdays", False)),
        source=str(table.get("source", "")),
    )


def calendar_from_data(raw: object) -> OffPeakCalendar:
    """Build and check the calendar from the ``[calendar]`` table of the data file."""
    table = check_table(raw, "calendar", {"timezone", "holiday_country", "rules"})
    try:
        zone = ZoneInfo(table["timezone"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"calendar: unknown time zone {table['timezone']!r}") from exc
    rules = tuple(
        _rule_from_data(raw_rule, f"calendar.rules[{i}]")
        for i, raw_rule in enumerate(table["rules"])
    )
    if not rules:
        raise ConfigError("calendar: no rules")
    starts = [rule.effective_from for rule in rules]
    if starts != sorted(set(starts)):
        raise ConfigError("calendar: rules must be in strictly increasing effective_from order")
    country = str(table["holiday_country"])
    try:
        _public_holidays(country, rules[0].effective_from.year)
    except NotImplementedError as exc:
        raise ConfigError(f"calendar: the holidays package has no country {country!r}") from exc
    return OffPeakCalendar(zone=zone, holiday_country=country, rules=rules)


def load_calendar(path: Path | str | None = None) -> OffPeakCalendar:
    """The calendar of the packaged data file, or of the file at ``path``."""
    return calendar_from_data(read_data_file(path).get("calendar"))


@cache
def default_calendar() -> OffPeakCalendar:
    return load_calendar()


# -- days --------------------------------------------------------------------------------------


@cache
def _public_holidays(country: str, year: int) -> holidays.HolidayBase:
    # Public category only: China's half-day holidays (Women's Day, Youth Day, ...) are ordinary
    # working days for most people and for the published rule. Substituted days off and
    # "observed" days are in the public category, as they should be.
    return holidays.country_holidays(country, years=year)


def is_workday(
    day: date, rule: WindowRule | None = None, calendar: OffPeakCalendar | None = None
) -> bool:
    """Monday-Friday except public holidays; with ``rule.count_weekend_workdays``, also the
    weekend days the government declares working days (``holidays``' ``weekend_workdays``)."""
    cal = calendar or default_calendar()
    public = _public_holidays(cal.holiday_country, day.year)
    if day.weekday() >= _SATURDAY:
        return rule is not None and rule.count_weekend_workdays and day in public.weekend_workdays
    return day not in public


def _rule_applies(cal: OffPeakCalendar, rule: WindowRule, day: date) -> bool:
    return rule.days == "every_day" or is_workday(day, rule, cal)


# -- intervals ---------------------------------------------------------------------------------

Interval = tuple[datetime, datetime]


def _merge(intervals: list[Interval]) -> list[Interval]:
    """Sorted, with touching or overlapping intervals joined."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _rule_spans(
    cal: OffPeakCalendar, lo: datetime, hi: datetime
) -> Iterator[tuple[WindowRule, Interval]]:
    """Each rule in force during [lo, hi), with the part of [lo, hi) where it is in force."""
    for index, rule in enumerate(cal.rules):
        following = cal.rules[index + 1].effective_from if index + 1 < len(cal.rules) else None
        start = max(lo, rule.effective_from)
        end = hi if following is None else min(hi, following)
        if start < end:
            yield rule, (start, end)


def _listed_intervals(
    cal: OffPeakCalendar, rule: WindowRule, lo: datetime, hi: datetime
) -> list[Interval]:
    """The rule's listed blocks that meet [lo, hi), clipped to it, in UTC."""
    found: list[Interval] = []
    # Start a day early: yesterday's block may run past midnight into [lo, hi).
    day = lo.astimezone(cal.zone).date() - timedelta(days=1)
    last = hi.astimezone(cal.zone).date()
    while day <= last:
        if _rule_applies(cal, rule, day):
            for start_clock, end_clock in rule.blocks:
                end_day = day + timedelta(days=1) if end_clock <= start_clock else day
                # Local wall time -> UTC through the zone, so a zone with daylight saving time
                # would also work; Asia/Shanghai has a fixed +08:00 offset.
                start = datetime.combine(day, start_clock, cal.zone).astimezone(UTC)
                end = datetime.combine(end_day, end_clock, cal.zone).astimezone(UTC)
                start, end = max(start, lo), min(end, hi)
                if start < end:
                    found.append((start, end))
        day += timedelta(days=1)
    return _merge(found)


def _complement(intervals: list[Interval], lo: datetime, hi: datetime) -> list[Interval]:
    gaps: list[Interval] = []
    cursor = lo
    for start, end in intervals:
        if cursor < start:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < hi:
        gaps.append((cursor, hi))
    return gaps


def _off_peak_intervals(cal: OffPeakCalendar, lo: datetime, hi: datetime) -> list[Interval]:
    """All off-peak time in [lo, hi), as maximal intervals (clipped at lo and hi)."""
    found: list[Interval] = []
    for rule, (start, end) in _rule_spans(cal, lo, hi):
        listed = _listed_intervals(cal, rule, start, end)
        found.extend(listed if rule.listed == OFF_PEAK else _complement(listed, start, end))
    return _merge(found)


def _rules_over(cal: OffPeakCalendar, start: datetime, end: datetime) -> tuple[str, ...]:
    return tuple(rule.name for rule, _ in _rule_spans(cal, start, end))


def _covered(cal: OffPeakCalendar, at: datetime, what: str = "at") -> datetime:
    at = utc_instant(at, what)
    if at < cal.start:
        raise ConfigError(
            f"no off-peak rule is known before {cal.start.isoformat()} ({cal.rules[0].name}); "
            f"{what}={at.isoformat()}"
        )
    return at


# -- the public functions ----------------------------------------------------------------------


def current_window(at: datetime, calendar: OffPeakCalendar | None = None) -> Window | None:
    """The off-peak window containing ``at``, or None when ``at`` is at peak."""
    cal = calendar or default_calendar()
    at = _covered(cal, at)
    span = INITIAL_SCAN
    while span <= MAX_WINDOW:
        lo, hi = max(at - span, cal.start), at + span
        hit = next(((s, e) for s, e in _off_peak_intervals(cal, lo, hi) if s <= at < e), None)
        if hit is None:
            return None
        start, end = hit
        # Clipped at the edge of the scan: the window may go on beyond it; look further.
        if not ((start == lo and lo > cal.start) or end == hi):
            return Window(start, end, _rules_over(cal, start, end))
        span *= 2
    raise ConfigError(f"an off-peak window around {at.isoformat()} is longer than {MAX_WINDOW}")


def is_off_peak(at: datetime, calendar: OffPeakCalendar | None = None) -> bool:
    cal = calendar or default_calendar()
    at = _covered(cal, at)
    # A short look either side is enough to decide membership; no need to find the window's ends.
    return any(s <= at < e for s, e in _off_peak_intervals(cal, at, at + timedelta(seconds=1)))


def period_kind(at: datetime, calendar: OffPeakCalendar | None = None) -> PeriodKind:
    """``"off_peak"`` or ``"peak"`` at ``at``."""
    return OFF_PEAK if is_off_peak(at, calendar) else PEAK


def window_end(at: datetime, calendar: OffPeakCalendar | None = None) -> datetime | None:
    """When the off-peak window containing ``at`` ends; None when ``at`` is at peak."""
    window = current_window(at, calendar)
    return None if window is None else window.end


def next_window(at: datetime, calendar: OffPeakCalendar | None = None) -> Window:
    """The first off-peak window that starts strictly after ``at``."""
    cal = calendar or default_calendar()
    at = _covered(cal, at)
    span = INITIAL_SCAN
    while span <= MAX_WINDOW:
        for start, _ in _off_peak_intervals(cal, at, at + span):
            if start > at:
                window = current_window(start, cal)
                assert window is not None  # start is off-peak by construction
                return window
        span *= 2
    raise ConfigError(f"no off-peak window starts within {MAX_WINDOW} after {at.isoformat()}")


def upcoming_windows(
    at: datetime, count: int, calendar: OffPeakCalendar | None = None
) -> list[Window]:
    """``count`` windows in order: the one containing ``at`` (if any), then the next ones."""
    if count < 0:
        raise ConfigError(f"count must not be negative, got {count}")
    cal = calendar or default_calendar()
    windows: list[Window] = []
    current = current_window(at, cal) if count else None
    if current is not None:
        windows.append(current)
    cursor = utc_instant(at) if current is None else current.start
    while len(windows) < count:
        windows.append(next_window(cursor, cal))
        cursor = windows[-1].start
    return windows


def fits_in_window(
    start: datetime, expected_seconds: float, calendar: OffPeakCalendar | None = None
) -> bool:
    """Whether a request starting at ``start`` and running ``expected_seconds`` is off-peak.

    DeepSeek does not document which instant it bills by, so a request counts as off-peak only
    if it both starts and is expected to finish inside one window (finishing exactly at the
    window's end counts as inside).
    """
    if expected_seconds < 0:
        raise ConfigError(f"expected_seconds must not be negative, got {expected_seconds}")
    window = current_window(start, calendar)
    return (
        window is not None
        and utc_instant(start) + timedelta(seconds=expected_seconds) <= window.end
    )


def _zone(local_tz: str | tzinfo) -> tzinfo:
    if not isinstance(local_tz, str):
        return local_tz
    try:
        return ZoneInfo(local_tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {local_tz!r}") from exc


def format_windows(
    at: datetime, count: int, local_tz: str | tzinfo, calendar: OffPeakCalendar | None = None
) -> list[WindowRow]:
    """The rows of ``nightshift windows``: ``upcoming_windows`` in UTC and in ``local_tz``."""
    zone = _zone(local_tz)
    return [
        WindowRow(
            start_utc=window.start,
            end_utc=window.end,
            start_local=window.start.astimezone(zone),
            end_local=window.end.astimezone(zone),
            local_zone=str(zone),
            duration=window.duration,
            rule=" -> ".join(window.rules),
        )
        for window in upcoming_windows(at, count, calendar)
    ]
