"""Values read as their field's type: what lands in the value_* columns, and what is flagged."""

from __future__ import annotations

from datetime import date

import pytest

from tasks.typed_values import typed_value


@pytest.mark.parametrize(
    ("raw", "days", "text"),
    [
        ("90 days", 90, "90 days"),
        ("at least ninety (90) days before the expiration of the Initial Term", 90, "90 days"),
        ("one hundred twenty (120) days", 120, "120 days"),
        ("one hundred twenty days", 120, "120 days"),
        ("not less than six (6) months before the end", 182, "6 months"),
        ("successive twelve (12) month periods", 365, "12 months"),
        ("a 30-day cure period", 30, "30 days"),
        ("two weeks", 14, "2 weeks"),
        (45, 45, "45 days"),
    ],
)
def test_durations_land_as_days(raw: object, days: int, text: str) -> None:
    value = typed_value("duration", raw)
    assert (value.status, value.days, value.text) == ("ok", days, text)


def test_business_days_say_how_they_were_counted() -> None:
    value = typed_value("duration", "ten (10) business days")
    assert (value.days, value.text) == (10, "10 business days")
    assert value.reason == "business days counted as days"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2027-03-31", date(2027, 3, 31)),
        ("entered into as of March 3, 2023 (the Agreement Date)", date(2023, 3, 3)),
        ("made on the 1st day of March, 2025", date(2025, 3, 1)),
        ("31 March 2027", date(2027, 3, 31)),
        ("03/31/2027", date(2027, 3, 31)),
    ],
)
def test_dates(raw: str, expected: date) -> None:
    value = typed_value("date", raw)
    assert (value.status, value.date, value.text) == ("ok", expected, expected.isoformat())


def test_a_perpetual_term_is_a_date_field_without_a_date() -> None:
    value = typed_value("date", "This Agreement shall continue in perpetuity.")
    assert (value.status, value.date, value.text) == ("ok", None, "perpetual")


@pytest.mark.parametrize(
    ("field_type", "raw", "reason"),
    [
        ("date", "on the date stated at the beginning", "no calendar date"),
        ("date", "02/30/2024", "not a valid date"),
        ("duration", "promptly", "no duration"),
        ("money", "the fees paid in the twelve months before the claim", "no amount"),
        ("jurisdiction", "the laws of Ruritania", "not a jurisdiction"),
        ("party_list", "", "no value given"),
        ("money", None, "no value given"),
    ],
)
def test_an_unreadable_value_is_flagged_and_kept(field_type, raw, reason) -> None:  # type: ignore[no-untyped-def]
    value = typed_value(field_type, raw)
    assert value.status == "invalid"
    assert reason in (value.reason or "")
    if raw:
        assert value.text  # the answer is kept, as text, beside the flag


@pytest.mark.parametrize(
    ("raw", "amount", "currency"),
    [
        ("shall not exceed One Million Dollars ($1,000,000)", 1_000_000.0, "USD"),
        ("USD 2.5 million", 2_500_000.0, "USD"),
        ("€500,000", 500_000.0, "EUR"),
        ("C$10,000", 10_000.0, "CAD"),
        ("250,000 pounds sterling", 250_000.0, "GBP"),
    ],
)
def test_money(raw: str, amount: float, currency: str) -> None:
    value = typed_value("money", raw)
    assert (value.status, value.amount, value.currency) == ("ok", amount, currency)


def test_parties_from_a_list_or_a_preamble() -> None:
    assert typed_value("party_list", ["A Corp", " B  LLC "]).items == ("A Corp", "B LLC")
    preamble = (
        "entered into by and between Harrowgate Analytics Corporation, a Delaware corporation "
        '("Provider"), and Bellwether Freight Systems LLC, an Illinois limited liability '
        'company ("Customer").'
    )
    assert typed_value("party_list", preamble).items == (
        "Harrowgate Analytics Corporation", "Bellwether Freight Systems LLC",
    )  # fmt: skip
    assert typed_value("party_list", "between Acme, Inc. and Beta Ltd.").items == (
        "Acme, Inc.", "Beta Ltd.",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "flag"),
    [("Yes", True), ("no", False), (True, True), ("Neither party may assign", True)],
)
def test_yes_no(raw: object, flag: bool) -> None:
    assert typed_value("yes_no", raw).flag is flag


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("governed by the laws of the State of Delaware, without regard to conflicts", "Delaware"),
        ("the laws of the State of New York; the courts of Delaware", "New York"),
        ("the laws of the State of West Virginia", "West Virginia"),
        ("the laws of England and Wales", "England and Wales"),
        ("the laws of the Province of Ontario and the federal laws of Canada", "Ontario"),
        ("Commonwealth of Massachusetts", "Massachusetts"),
    ],
)
def test_jurisdictions(raw: str, name: str) -> None:
    assert typed_value("jurisdiction", raw).text == name


def test_text_is_whitespace_collapsed_and_structures_are_json() -> None:
    assert typed_value("text", "a\n  clause").text == "a clause"
    assert typed_value("text", {"cwe": "CWE-89", "severity": "high"}).text == (
        '{"cwe": "CWE-89", "severity": "high"}'
    )
