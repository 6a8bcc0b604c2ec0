"""Grounding: a quote found exactly or normalised, mapped to offsets, a page and a line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.ground import GroundingIndex, normalize

SETTINGS = settings(max_examples=150, deadline=None)
PAGES = [
    "MASTER AGREEMENT\nbetween Alpha Ltd and Beta Inc.",
    "1. Governing Law. This Agreement shall be governed by\nthe laws of Delaware.",
    "2. Term. The “Initial Term” is one year — renewable.",
]
TEXT = "\f".join(PAGES)
PAGE_STARTS = (0, len(PAGES[0]) + 1, len(PAGES[0]) + len(PAGES[1]) + 2)


@pytest.fixture
def index() -> GroundingIndex:
    return GroundingIndex(TEXT, PAGE_STARTS)


def test_exact_match(index):
    quote = "shall be governed by"
    found = index.locate(quote)
    assert found is not None and found.match == "exact"
    assert TEXT[found.char_start : found.char_end] == quote
    assert found.page == 2 and found.line == 2  # lines count "\n" only, not "\f"


def test_whitespace_case_and_curly_quotes_are_normalised_with_original_offsets(index):
    found = index.locate('"the  LAWS of delaware."')
    assert found is not None and found.match == "normalized"
    assert TEXT[found.char_start : found.char_end] == "the laws of Delaware"
    assert found.page == 2 and found.line == 3


def test_reflowed_line_break_and_straightened_punctuation(index):
    found = index.locate("governed by the laws of Delaware")
    assert found is not None
    assert TEXT[found.char_start : found.char_end] == "governed by\nthe laws of Delaware"
    found = index.locate('The "Initial Term" is one year - renewable')
    assert found is not None and found.page == 3
    assert TEXT[found.char_start : found.char_end] == "The “Initial Term” is one year — renewable"


def test_page_comes_from_page_starts(index):
    assert index.locate("MASTER AGREEMENT").page == 1
    assert index.locate("Governing Law").page == 2
    assert index.locate("2. Term.").page == 3
    assert GroundingIndex(TEXT).locate("2. Term.").page is None


def test_line_numbers_count_from_one():
    code = "import os\n\ndef run(cmd):\n    os.system(cmd)\n"
    found = GroundingIndex(code).locate("os.system(cmd)")
    assert found.line == 4
    assert GroundingIndex(code).locate("import os").line == 1


def test_quote_in_the_window_is_preferred():
    text = "Payment within 30 days.\n" * 2
    second = len(text) // 2
    found = GroundingIndex(text).locate("Payment within 30 days", second, len(text))
    assert found.char_start == second and found.line == 2


def test_quote_outside_the_window_is_still_found_elsewhere(index):
    window = (PAGE_STARTS[2], len(TEXT))
    found = index.locate("Alpha Ltd and Beta Inc", *window)
    assert found is not None and found.page == 1
    found = index.locate("alpha ltd  AND beta inc", *window)  # normalised, outside the window
    assert found is not None and found.page == 1 and found.match == "normalized"


@pytest.mark.parametrize("quote", ["Gamma Corp", "the laws of Texas", "", "   ", "\"'"])
def test_absent_or_empty_quote_is_none(index, quote):
    assert index.locate(quote) is None


def test_greek_upper_case_is_found_case_insensitively():
    index = GroundingIndex("ΟΔΟΣ ΑΘΗΝΩΝ 12")
    assert index.locate("οδος αθηνων 12") is not None
    assert index.locate("ΟΔΟΣ  ΑΘΗΝΩΝ 12") is not None  # the same words, re-spaced


# The characters the normaliser treats specially, and some that it does not.
ALPHABET = st.sampled_from([*"abcXYZ019 .,;:-\n\t\u00a0\f'\"“”‘’–—", "ab", "The "])
texts = st.lists(ALPHABET, min_size=1, max_size=80).map("".join)
STRAIGHT = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})


def garble(quote: str, how: int) -> str:
    """What a model does to a quote: re-flow whitespace, change case, straighten punctuation."""
    if how == 0:
        return " ".join(quote.split())
    if how == 1:
        return quote.swapcase()
    if how == 2:
        return quote.translate(STRAIGHT)
    return "  ".join(quote.translate(STRAIGHT).upper().split("\n"))


@SETTINGS
@given(texts, st.data())
def test_any_substring_is_found_where_the_text_normalises_equal(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    quote = text[start:end]
    found = GroundingIndex(text).locate(quote)
    if not quote.strip():
        assert found is None
        return
    assert found is not None
    assert normalize(text[found.char_start : found.char_end]) == normalize(quote)


@SETTINGS
@given(texts, st.data(), st.integers(0, 3))
def test_a_garbled_substring_is_found_where_the_text_normalises_equal(text, data, how):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    quote = garble(text[start:end], how)
    found = GroundingIndex(text).locate(quote)
    if not normalize(quote):
        return  # nothing left to look for (only punctuation and spaces)
    assert found is not None, quote
    assert normalize(text[found.char_start : found.char_end]) == normalize(quote)
    assert 0 <= found.char_start < found.char_end <= len(text)
