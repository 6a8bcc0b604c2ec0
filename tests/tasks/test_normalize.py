"""Normalisation at ingest: look-alike characters get one spelling; structure is kept."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from nightshift.models import DocKind, DocStatus
from tasks.normalize import normalize_code, normalize_text
from tasks.parse import parse_text_bytes
from tasks.pdf_text import clean_page_text


def test_pdf_look_alikes_become_plain_characters():
    raw = "Term\u00a0of\u2009this\u3000Agreement\u037e the Li\u00adcensee\u200b \ufb01les \u2026"
    assert normalize_text(raw) == "Term of this Agreement; the Licensee files ..."


def test_page_separators_newlines_and_tabs_are_kept():
    assert normalize_text("a\u00a0b\fc\nd\te\u2028f") == "a b\fc\nd\te\nf"


def test_ascii_text_is_returned_unchanged():
    text = "plain\fASCII\ntext; with (marks)."
    assert normalize_text(text) is text


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalisation_is_idempotent_and_leaves_no_odd_spaces(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert not any(unicodedata.category(c) == "Zs" and c != " " for c in once)
    assert "\u00ad" not in once and "\u037e" not in once


def test_code_keeps_compatibility_characters_in_identifiers_and_literals():
    source = 'ﬁle_name = "x²\u00a0y"  # café\n'
    decomposed = source.replace("é", "e\u0301")
    assert normalize_code(source) == source  # NFKC would have written "file_name" and "x2 y"
    assert normalize_code(decomposed) == source  # canonical composition only
    assert normalize_code("\ufeffimport os\n") == "import os\n"


def test_ingest_applies_prose_normalisation_to_text_and_the_light_one_to_code():
    data = "Fees\u00a0are due\u037e within 30 days. ﬁnal\n".encode()
    text = parse_text_bytes(data, DocKind.TEXT, "a.txt")
    assert text.status is DocStatus.OK and text.text == "Fees are due; within 30 days. final\n"
    code = parse_text_bytes(data, DocKind.CODE, "a.py")
    assert code.text == "Fees\u00a0are due; within 30 days. ﬁnal\n"


def test_pdf_pages_are_normalised_and_keep_no_form_feed():
    assert clean_page_text("a\u00a0b\u037e\fc\r\nd\x00") == "a b;\nc\nd"
