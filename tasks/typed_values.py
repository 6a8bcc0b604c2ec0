"""Typed values: a field's answer normalised to its declared type, so that it can be queried.

A profile field declares its type (``nightshift/profiles.py``: date, duration, money,
party_list, yes_no, jurisdiction, text). ``typed_value`` turns what the model answered (a
normalised value such as ``"90 days"``, or a clause sentence) into one ``TypedValue`` whose
parts land as the ``value_*`` columns of ``extractions``: "notice period under 60 days" is
``WHERE value_days < 60``. A value that cannot be read as its type is kept and flagged
(``status = 'invalid'`` with the reason), never dropped: the extraction and its quote still land.

Pure functions, no I/O. Dates are read by python-dateutil (a well-kept parser of month names,
ordinals and day-first orders); durations, amounts and jurisdictions by the small readers here,
because each needs domain rules (a month is 365/12 days, "ninety (90) days" means 90) that no
general library applies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from dateutil import parser as date_parser

from nightshift.profiles import FieldType

ValueStatus = Literal["ok", "invalid"]

DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 365 / 12, "year": 365.0}
MAX_TEXT = 500  # characters of normalised text kept for display and grouping


@dataclass(frozen=True)
class TypedValue:
    """One answer as its type: the columns ``value_*`` of an extraction."""

    type: FieldType
    status: ValueStatus
    text: str | None  # the normalised value as shown ("90 days", "USD 1,000,000.00", "Yes")
    reason: str | None = None  # why it is invalid, or how it was read
    date: date | None = None
    days: int | None = None
    amount: float | None = None
    currency: str | None = None
    flag: bool | None = None
    items: tuple[str, ...] | None = None


def typed_value(field_type: FieldType, raw: Any) -> TypedValue:
    """``raw`` (the answer's JSON value) read as ``field_type``; see the module doc."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return TypedValue(field_type, "invalid", None, "no value given")
    reader = _READERS[field_type]
    return reader(raw)


def value_columns(typed: TypedValue) -> dict[str, Any]:
    """``typed`` as the ``value_*`` columns of an extraction row."""
    return {
        "value_type": typed.type, "value_status": typed.status, "value_reason": typed.reason,
        "value_text": typed.text, "value_date": typed.date, "value_days": typed.days,
        "value_amount": typed.amount, "value_currency": typed.currency,
        "value_bool": typed.flag, "value_list": list(typed.items) if typed.items else None,
    }  # fmt: skip


def _as_text(raw: Any) -> str:
    if isinstance(raw, str):
        return " ".join(raw.split())
    if isinstance(raw, list):
        return "; ".join(_as_text(item) for item in raw)
    return json.dumps(raw, ensure_ascii=False, sort_keys=True)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _invalid(field_type: FieldType, raw: Any, reason: str) -> TypedValue:
    return TypedValue(field_type, "invalid", _clip(_as_text(raw)), reason)


# -- text ------------------------------------------------------------------------------


def _text(raw: Any) -> TypedValue:
    return TypedValue("text", "ok", _clip(_as_text(raw)))


# -- numbers in words --------------------------------------------------------------------

_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "a": 1, "an": 1,
}  # fmt: skip
_SCALE = {"hundred": 100, "thousand": 1_000}
_NUMBER_WORD = "|".join(sorted((*_SMALL, *_SCALE), key=len, reverse=True))
# "one hundred twenty", "forty-five", "6", "1,000", "2.5"
_NUMBER = rf"(?:\d[\d,]*(?:\.\d+)?|(?:(?:{_NUMBER_WORD})(?:[\s-]+(?:and[\s-]+)?)?)+)"


def _number(text: str) -> float | None:
    text = text.strip().lower().replace(",", "")
    try:
        return float(text)
    except ValueError:
        pass
    total, current, seen = 0, 0, False
    for word in re.split(r"[\s-]+", text):
        if word in ("", "and"):
            continue
        if word in _SMALL:
            current += _SMALL[word]
        elif word in _SCALE:
            current = max(current, 1) * _SCALE[word]
            if _SCALE[word] >= 1_000:
                total, current = total + current, 0
        else:
            return None
        seen = True
    return float(total + current) if seen else None


# -- durations -------------------------------------------------------------------------

_UNIT = r"(?P<business>business\s+|calendar\s+|working\s+)?(?P<unit>day|week|month|year)s?"
# "ninety (90) days", "90 days", "six months", "one (1) year", "30-day", "12-month"
_DURATION = re.compile(
    rf"\b(?P<words>{_NUMBER})?\s*(?:\((?P<digits>\d[\d,]*)\)\s*)?[\s-]*{_UNIT}\b", re.IGNORECASE
)


def _duration(raw: Any) -> TypedValue:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return TypedValue("duration", "ok", f"{raw:g} days", "a bare number read as days",
                          days=round(raw))  # fmt: skip
    text = _as_text(raw)
    for match in _DURATION.finditer(text):
        written = match.group("digits") or match.group("words")
        count = _number(written) if written else None
        if count is None:
            continue
        unit = match.group("unit").lower()
        kind = (match.group("business") or "").strip().lower()
        label = f"{count:g} {kind + ' ' if kind else ''}{unit}{'s' if count != 1 else ''}"
        reason = f"{kind} days counted as days" if kind in ("business", "working") else None
        return TypedValue("duration", "ok", label, reason,
                          days=round(count * DAYS_PER_UNIT[unit]))  # fmt: skip
    return _invalid("duration", raw, "no duration (a number of days, weeks, months or years)")


# -- dates -----------------------------------------------------------------------------

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = re.compile(
    r"\b(?:\d{4}-\d{1,2}-\d{1,2}"  # 2027-03-31
    rf"|{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"  # March 31, 2027
    # 31st (day of) March 2027
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?{_MONTHS},?\s+\d{{4}}"
    r"|\d{1,2}/\d{1,2}/\d{4})\b",  # 03/31/2027 (month first, as US contracts write it)
    re.IGNORECASE,
)
_OPEN_ENDED = re.compile(r"\b(perpetual|perpetuity|indefinite(?:ly)?|no fixed term)\b", re.I)


def _date(raw: Any) -> TypedValue:
    text = _as_text(raw)
    match = _DATE.search(text)
    if match is None:
        if _OPEN_ENDED.search(text):
            return TypedValue("date", "ok", "perpetual", "no end date: perpetual or indefinite")
        return _invalid("date", raw, "no calendar date (day, month and year)")
    written = re.sub(r"\bday\s+of\b", "", match.group(0), flags=re.IGNORECASE)
    try:
        parsed = date_parser.parse(written, default=datetime(1, 1, 1)).date()
    except (ValueError, OverflowError):
        return _invalid("date", raw, f"not a valid date: {match.group(0)!r}")
    return TypedValue("date", "ok", parsed.isoformat(), date=parsed)


# -- money -----------------------------------------------------------------------------

_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "CHF": "CHF"}
_CODES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "CNY", "INR", "SGD", "HKD", "NZD")
_PREFIXED_SYMBOL = re.compile(r"\b(?P<country>US|C|CA|A|AU|NZ|HK|S)\$", re.IGNORECASE)
_DOLLAR_COUNTRY = {"US": "USD", "C": "CAD", "CA": "CAD", "A": "AUD", "AU": "AUD", "NZ": "NZD",
                   "HK": "HKD", "S": "SGD"}  # fmt: skip
_MULTIPLIER = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mm": 1e6, "billion": 1e9,
               "bn": 1e9}  # fmt: skip
_AMOUNT = r"(?P<amount>\d[\d,]*(?:\.\d+)?)(?:\s*(?P<mult>thousand|million|billion|mm|bn|k|m)\b)?"
_CURRENCY_BEFORE = re.compile(
    rf"(?P<mark>[$€£¥₹]|\b(?:{'|'.join(_CODES)})\b)\s*{_AMOUNT}", re.IGNORECASE
)
_CURRENCY_AFTER = re.compile(
    rf"{_AMOUNT}\s*(?P<mark>\b(?:{'|'.join(_CODES)})\b|dollars|euros?|pounds(?:\s+sterling)?)",
    re.IGNORECASE,
)
_WORD_CURRENCY = {"dollars": "USD", "euro": "EUR", "euros": "EUR", "pounds": "GBP"}


def _money(raw: Any) -> TypedValue:
    text = _as_text(raw)
    text = _PREFIXED_SYMBOL.sub(lambda m: f" {_DOLLAR_COUNTRY[m.group('country').upper()]} ", text)
    found = [m for m in (_CURRENCY_BEFORE.search(text), _CURRENCY_AFTER.search(text)) if m]
    if not found:
        return _invalid("money", raw, "no amount with a currency")
    match = min(found, key=lambda m: m.start())
    mark = match.group("mark").strip()
    currency = _SYMBOLS.get(mark) or _WORD_CURRENCY.get(mark.lower().split()[0]) or mark.upper()
    amount = float(match.group("amount").replace(",", ""))
    multiplier = (match.group("mult") or "").lower()
    amount *= _MULTIPLIER.get(multiplier, 1.0)
    return TypedValue("money", "ok", f"{currency} {amount:,.2f}", amount=amount,
                      currency=currency)  # fmt: skip


# -- yes / no --------------------------------------------------------------------------

_YES = {"yes", "y", "true", "present", "applies"}
_NO = {"no", "n", "false", "none", "absent", "not applicable", "n/a"}


def _yes_no(raw: Any) -> TypedValue:
    if isinstance(raw, bool):
        return TypedValue("yes_no", "ok", "Yes" if raw else "No", flag=raw)
    word = _as_text(raw).strip().strip(".").lower()
    if word in _YES:
        return TypedValue("yes_no", "ok", "Yes", flag=True)
    if word in _NO:
        return TypedValue("yes_no", "ok", "No", flag=False)
    # The answer is the clause itself: the document has such a clause (CUAD's "Yes").
    return TypedValue("yes_no", "ok", "Yes", "a clause was quoted", flag=True)


# -- parties ---------------------------------------------------------------------------

_BETWEEN = re.compile(r"\b(?:by\s+and\s+)?between\b", re.IGNORECASE)
# Where a party's name ends: its description (", a Delaware corporation"), its defined name
# ("(the "Customer")"), or the contract's next words.
_NAME_END = re.compile(
    r",?\s*\(|,\s+(?:an?|the)\s|,\s+(?:having|with|whose|located|organi[sz]ed|incorporated)\b"
    r"|\s+(?:dated|effective|as\s+of|on)\s",
    re.IGNORECASE,
)
MAX_PARTIES = 12


def _parties(raw: Any) -> TypedValue:
    if isinstance(raw, list):
        names = [_as_text(item) for item in raw if _as_text(item)]
    else:
        text = _as_text(raw)
        between = _BETWEEN.search(text)
        if between:
            text = text[between.end() :]
        names = [_party_name(piece) for piece in _split_parties(text)]
    names = [name for name in names if name][:MAX_PARTIES]
    if not names:
        return _invalid("party_list", raw, "no party named")
    return TypedValue("party_list", "ok", _clip("; ".join(names)), items=tuple(names))


def _split_parties(text: str) -> list[str]:
    pieces, depth, start = [], 0, 0
    for match in re.finditer(r"[()]|;|\s+and\s+", text, re.IGNORECASE):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            pieces.append(text[start : match.start()])
            start = match.end()
    pieces.append(text[start:])
    return pieces


def _party_name(piece: str) -> str:
    end = _NAME_END.search(piece)
    name = piece[: end.start()] if end else piece
    name = name.strip(" ,;:\"'“”")
    if name.endswith(".") and len(name.split()[-1]) > 5:  # a sentence's period, not "Inc."
        name = name[:-1]
    # A trailing clause fragment ("... and X. The parties agree") is not a name.
    return name if 0 < len(name) <= 120 else ""


# -- jurisdictions ---------------------------------------------------------------------

_US_STATES = (
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut",
    "Delaware", "District of Columbia", "Florida", "Georgia", "Hawaii", "Idaho", "Illinois",
    "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana", "Maine", "Maryland", "Massachusetts",
    "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska", "Nevada",
    "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota",
    "Ohio", "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island", "South Carolina",
    "South Dakota", "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "Washington",
    "West Virginia", "Wisconsin", "Wyoming",
)  # fmt: skip
_PROVINCES = (
    "Alberta", "British Columbia", "Manitoba", "New Brunswick", "Newfoundland and Labrador",
    "Nova Scotia", "Ontario", "Prince Edward Island", "Quebec", "Saskatchewan",
    "New South Wales", "Queensland", "South Australia", "Tasmania", "Victoria",
    "Western Australia",
)  # fmt: skip
_COUNTRIES = (
    "England and Wales", "Scotland", "Northern Ireland", "Ireland", "United Kingdom",
    "United States", "Canada", "Australia", "New Zealand", "Germany", "France", "Netherlands",
    "Belgium", "Luxembourg", "Switzerland", "Austria", "Italy", "Spain", "Portugal", "Sweden",
    "Norway", "Denmark", "Finland", "Poland", "Czech Republic", "Hungary", "Greece", "Israel",
    "Japan", "China", "Hong Kong", "Singapore", "India", "South Korea", "Taiwan", "Brazil",
    "Mexico", "Argentina", "Chile", "South Africa", "United Arab Emirates", "Cayman Islands",
    "Bermuda", "British Virgin Islands",
)  # fmt: skip
_ALIASES = {"england": "England and Wales", "uk": "United Kingdom", "usa": "United States",
            "u.s.a.": "United States", "commonwealth of massachusetts": "Massachusetts",
            "commonwealth of pennsylvania": "Pennsylvania",
            "commonwealth of virginia": "Virginia", "province of quebec": "Quebec"}  # fmt: skip
# Longest first, so "West Virginia" wins over "Virginia" and "New South Wales" over "Wales".
_KNOWN = sorted(
    {name.lower(): name for name in (*_US_STATES, *_PROVINCES, *_COUNTRIES)} | _ALIASES,
    key=len,
    reverse=True,
)
_CANONICAL = {name.lower(): name for name in (*_US_STATES, *_PROVINCES, *_COUNTRIES)} | _ALIASES
_JURISDICTION = re.compile(r"\b(" + "|".join(re.escape(k) for k in _KNOWN) + r")\b", re.I)
_LAWS_OF = re.compile(r"laws?\s+of\s+(?:the\s+)?(?:state\s+of\s+)?([A-Z][\w .'-]{1,60})")


def _jurisdiction(raw: Any) -> TypedValue:
    text = _as_text(raw)
    laws = _LAWS_OF.search(text)
    # The governing law's own words first: "laws of the State of New York ... courts of Delaware".
    for where in (laws.group(1) if laws else "", text):
        match = _JURISDICTION.search(where)
        if match:
            return TypedValue("jurisdiction", "ok", _CANONICAL[match.group(1).lower()])
    if laws:
        named = laws.group(1).split(",")[0].strip(" .")
        return TypedValue("jurisdiction", "invalid", named, "not a jurisdiction nightshift knows")
    return _invalid("jurisdiction", raw, "no jurisdiction named")


_READERS = {
    "date": _date,
    "duration": _duration,
    "money": _money,
    "party_list": _parties,
    "yes_no": _yes_no,
    "jurisdiction": _jurisdiction,
    "text": _text,
}
