"""Token counts and page token starts against the reference tokenizer, on real V4 encodings."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from tokenizers import Encoding

from nightshift.models import DocKind, DocStatus, ParsedDocument
from nightshift.tokenizer import load_tokenizer
from tasks.count import count_documents, split_points

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"


def document(pages: list[str]) -> ParsedDocument:
    starts, position = [], 0
    for page in pages:
        starts.append(position)
        position += len(page) + 1
    text = "\f".join(pages)
    return ParsedDocument("u", "r", "d", DocKind.PDF, len(text), DocStatus.OK, text=text,
                          page_starts=tuple(starts))  # fmt: skip


def slow_first_token_at(encoding: Encoding, position: int, length: int) -> int:
    """The method counting used before (char-to-token, then the token's offset): the reference."""
    for char in range(position, length):
        token = encoding.char_to_token(char)
        if token is None:
            continue
        start, _end = encoding.offsets[token]
        return token if start >= position else token + 1
    return len(encoding.ids)


TRICKY_PAGES = [
    "MASTER AGREEMENT between Alpha Ltd and Beta Inc.",
    "   indented start of a page, 1,234.56 dollars",
    "",  # an empty page
    "\nstarts with a newline; ends mid-word hyphen-",
    "ation continues here. 契約 and ﬁ ligatures",
    "12345678 digits run across",
    "",
]


def test_page_token_starts_equal_the_slow_reference_method():
    doc = document(TRICKY_PAGES)
    [count] = count_documents([doc])
    encoding = load_tokenizer().encode(doc.text, add_special_tokens=False)
    expected = tuple(slow_first_token_at(encoding, p, len(doc.text)) for p in doc.page_starts)
    assert count.page_token_starts == expected
    assert count.tokens == len(encoding.ids)


def sample_texts() -> list[str]:
    paths = sorted(SAMPLE_DATA.glob("**/*.md")) + sorted(SAMPLE_DATA.glob("**/*.py"))
    texts = [path.read_text(encoding="utf-8") for path in paths]
    assert texts
    return texts


@pytest.mark.parametrize("piece_chars", [500, 2_000])
def test_counting_in_pieces_changes_no_count_and_no_page_start(piece_chars: int):
    # Real prose and code cut into many small pieces: every cut must be a pre-token boundary.
    docs = [document(text.split("\n\n")) for text in sample_texts()]
    assert sum(len(split_points(doc.text, piece_chars)) for doc in docs) > 20
    tokenizer = load_tokenizer()
    for doc, count in zip(docs, count_documents(docs, piece_chars=piece_chars), strict=True):
        encoding = tokenizer.encode(doc.text, add_special_tokens=False)
        assert count.tokens == len(encoding.ids)
        offsets = encoding.offsets
        starts = [start for start, _end in offsets]
        for position, token in zip(doc.page_starts, count.page_token_starts, strict=True):
            assert token == len(starts) or starts[token] >= position
            assert token == 0 or starts[token - 1] < position


def test_split_points_bound_every_piece_even_without_newlines():
    blob = "QUJD" * 10_000  # base64-like: no newline, no space
    points = split_points(blob, 1_000)
    bounds = [0, *points, len(blob)]
    assert max(b - a for a, b in pairwise(bounds)) <= 1_000
    prose = ("word " * 50 + "\n") * 400
    cuts = split_points(prose, 1_000)
    assert all(prose[cut - 1].isalpha() and prose[cut] in " \n" for cut in cuts)


def test_a_3000_page_document_gets_every_page_token_start():
    pages = [f"Page {n}. The supplier shall deliver {n} units under clause {n % 40}." for n in
             range(3_000)]  # fmt: skip
    doc = document(pages)
    [count] = count_documents([doc], piece_chars=16_384)  # many pieces, as a huge file would
    starts = [start for start, _end in
              load_tokenizer().encode(doc.text, add_special_tokens=False).offsets]  # fmt: skip
    assert len(count.page_token_starts) == 3_000
    assert count.tokens == len(starts)
    for position, token in zip(doc.page_starts, count.page_token_starts, strict=True):
        assert starts[token] >= position
        assert token == 0 or starts[token - 1] < position
