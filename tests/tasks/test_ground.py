"""Grounding: a quote found exactly or normalised, mapped to offsets, a page and a line."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
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
LINE_END_HYPHEN = re.compile(r"-\s*[\n\f]")
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
    # A hyphen at a line end is joined with the next word (tested on its own below), so a
    # garbled quote that stops at such a hyphen has nothing to match.
    assume(not LINE_END_HYPHEN.search(text))
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    quote = garble(text[start:end], how)
    found = GroundingIndex(text).locate(quote)
    if not normalize(quote):
        return  # nothing left to look for (only punctuation and spaces)
    assert found is not None, quote
    assert normalize(text[found.char_start : found.char_end]) == normalize(quote)
    assert 0 <= found.char_start < found.char_end <= len(text)


# -- real documents and model habits -------------------------------------------------------

CLAUSE_HEAD = "Either party may terminate this Agreement upon thirty (30) days written notice"
CLAUSE_TAIL = "to the other party if the other party materially breaches this Agreement."
FOOTER = "Source: ACME HOLDINGS CORP, S-1/A, 3/22/2000"


def _paged(pages: list[str]) -> GroundingIndex:
    starts, position = [], 0
    for page in pages:
        starts.append(position)
        position += len(page) + 1
    return GroundingIndex("\f".join(pages), tuple(starts))


def test_a_clause_across_a_page_break_skips_the_footer_and_page_number():
    index = _paged([f"1. Term.\n{CLAUSE_HEAD}\n{FOOTER}\n1", f"2\n{CLAUSE_TAIL}\n3. Fees."])
    found = index.locate(f"{CLAUSE_HEAD} {CLAUSE_TAIL}")
    assert found is not None and found.match == "normalized" and found.page == 1
    assert index.text[found.char_start : found.char_end].startswith(CLAUSE_HEAD)
    assert index.text[found.char_start : found.char_end].endswith(CLAUSE_TAIL[:-1])  # "." trimmed


def test_page_furniture_is_skipped_only_at_a_page_break():
    index = GroundingIndex(f"{CLAUSE_HEAD}\n{FOOTER}\n{CLAUSE_TAIL}")
    assert index.locate(f"{CLAUSE_HEAD} {CLAUSE_TAIL}") is None or (
        index.locate(f"{CLAUSE_HEAD} {CLAUSE_TAIL}").match == "fuzzy"
    )


def test_a_pdf_clause_across_a_page_break_under_a_footer_is_grounded(tmp_path):
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    from tasks.pdf_text import extract_with_pypdf

    path = tmp_path / "contract.pdf"
    pdf = canvas.Canvas(str(path), pagesize=letter)
    pdf.drawString(72, 700, "1. Term. The term of this Agreement is five years.")
    pdf.drawString(72, 100, CLAUSE_HEAD)
    pdf.drawString(72, 40, FOOTER)
    pdf.drawString(300, 25, "1")
    pdf.showPage()
    pdf.drawString(300, 760, "2")
    pdf.drawString(72, 700, CLAUSE_TAIL)
    pdf.save()
    pages = list(extract_with_pypdf(str(path), [""], lambda done, total: None).pages)
    found = _paged(pages).locate(f"{CLAUSE_HEAD} {CLAUSE_TAIL}")
    assert found is not None and found.match == "normalized" and found.page == 1


def test_nbsp_and_greek_question_mark_in_the_source_match_plain_quotes():
    text = "The\u00a0Licensee\u00a0shall\u00a0pay\u00a0all\u00a0fees\u037e and taxes."
    found = GroundingIndex(text).locate("The Licensee shall pay all fees; and taxes.")
    assert found is not None and found.match == "normalized"
    assert (found.char_start, found.char_end) == (0, len(text) - 1)


def test_line_end_hyphenation_is_joined():
    text = "Each party shall provide indem-\nnification for third-party claims."
    found = GroundingIndex(text).locate("shall provide indemnification for third-party claims")
    assert found is not None and found.match == "normalized"
    assert text[found.char_start : found.char_end].startswith("shall provide indem-\nnif")


LONG_CLAUSE = (
    "Licensor shall indemnify, defend and hold harmless Licensee and its officers, directors "
    "and employees from and against any and all losses, damages, liabilities, costs and "
    "expenses, including reasonable attorneys fees, arising out of any claim that the "
    "Licensed Technology infringes any patent, copyright or trade secret of a third party."
)


@pytest.mark.parametrize("mark", ["...", "…", "[...]", "[…]", ". . ."])
def test_elided_quotes_match_their_pieces_in_order(mark):
    text = f"Preamble.\n{LONG_CLAUSE}\nNext clause."
    quote = (
        f"Licensor shall indemnify, defend and hold harmless {mark} trade secret of a third party."
    )
    found = GroundingIndex(text).locate(quote)
    assert found is not None and found.match == "elided" and found.score == 1.0
    assert text[found.char_start : found.char_end] == LONG_CLAUSE[:-1]


def test_elided_pieces_out_of_order_or_too_short_do_not_match():
    index = GroundingIndex(LONG_CLAUSE)
    assert index.locate("trade secret of a third party ... Licensor shall indemnify") is None
    assert index.locate("Licensor ... party") is None  # no piece of three words


def test_a_small_difference_matches_fuzzily_with_its_score():
    index = GroundingIndex(f"Preamble.\n{LONG_CLAUSE}")
    quote = LONG_CLAUSE.replace("reasonable attorneys fees", "reasonable attorney's fees")
    found = index.locate(quote)
    assert found is not None and found.match == "fuzzy" and 0.9 <= found.score < 1.0
    assert abs(found.char_start - len("Preamble.\n")) <= 2


def test_a_paraphrase_is_not_grounded():
    paraphrase = (
        "The licensor will protect the licensee against every claim that the technology "
        "violates a patent, copyright or trade secret belonging to someone else."
    )
    assert GroundingIndex(LONG_CLAUSE).locate(paraphrase) is None


CODE = (
    "def a():\n    try:\n        run()\n    except Exception: pass\n\n"
    "def b():\n    try:\n        go()\n    except Exception: pass\n"
)


@pytest.mark.parametrize(("hint", "line"), [(None, 4), (4, 4), (9, 9), (8, 9), (11, 9), (1, 4)])
def test_line_hint_chooses_between_identical_lines(hint, line):
    found = GroundingIndex(CODE).locate("except Exception: pass", line_hint=hint)
    assert found is not None and found.line == line


def test_line_hint_also_applies_to_normalised_matches():
    found = GroundingIndex(CODE).locate("except  exception: PASS", line_hint=9)
    assert found is not None and found.match == "normalized" and found.line == 9


def test_the_index_keeps_four_bytes_per_character_of_offsets():
    index = GroundingIndex(LONG_CLAUSE * 50)
    assert index.positions.itemsize == 4 and len(index.positions) <= len(index.text) + 1
