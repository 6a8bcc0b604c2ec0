"""Exact DeepSeek-V4 token counts, with the token offset where each page starts.

Counting runs in the ingest process, outside the PDF parser's limits, so its cost must be bounded
by the text's length alone, whatever the page count:

- a document is encoded in pieces of at most ``PIECE_CHARS`` characters, cut only where the V4
  pre-tokenizer always cuts (see :func:`split_points`), so the pieces' counts add up to the
  whole text's count, and the memory an encoding holds is bounded by the piece, not the document;
- a page's first token is found by bisecting the piece's token start offsets, read once per
  piece: linear in tokens plus ``pages * log(tokens)``, where reading ``encoding.offsets`` per
  page (it copies every offset each time) was quadratic (135 s for a 3,000-page PDF).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from nightshift.models import ParsedDocument, TokenCount
from nightshift.tokenizer import load_tokenizer

# A batch holds every encoding in memory at once; bound the characters per batch.
MAX_BATCH_CHARS = 16 * 1024 * 1024
# The largest piece of one document encoded at once (about 250k tokens of prose).
PIECE_CHARS = 1024 * 1024


@dataclass(frozen=True)
class _Piece:
    index: int  # the document's position in the caller's sequence
    start: int  # character offset of the piece in the document's text
    text: str
    page_starts: tuple[int, ...]  # the document's page starts that fall in this piece


def split_points(text: str, piece_chars: int = PIECE_CHARS) -> list[int]:
    """Character offsets at which ``text`` can be encoded in separate pieces without changing
    its tokens; each piece at most ``piece_chars`` long where the text allows it.

    The V4 pre-tokenizer (its ``tokenizer.json``) ends a run of letters at the first character
    that is neither a letter nor a combining mark, and no later pattern reaches back across that
    end, so a cut between a letter and a space, newline or ASCII punctuation mark changes no
    token (``tests/tasks/test_count.py`` checks this on real text). A stretch without such a place
    (a base64 blob) is cut hard at ``piece_chars``: its count may then be off by a token or two
    at the cut, the price of bounded memory on untrusted input.
    """
    points = []
    start = 0
    while len(text) - start > piece_chars:
        limit = start + piece_chars
        cut = _last_cut(text, start + piece_chars // 2, limit)
        points.append(limit if cut is None else cut)
        start = points[-1]
    return points


# A letter, then a character that ends its pre-token; the cut falls between the two.
_CUT = re.compile(r"(?<=[^\W\d_])[\s.,;:!?()\[\]{}\"'/<>=+*&|-]")
_CUT_SEARCH_STEP = 4096


def _last_cut(text: str, floor: int, limit: int) -> int | None:
    """The last cut in ``text[floor:limit]``, searched backwards a step at a time."""
    high = limit
    while high > floor:
        low = max(floor, high - _CUT_SEARCH_STEP)
        found = None
        for match in _CUT.finditer(text, low, high):
            found = match.start()
        if found is not None and found > floor:
            return found
        high = low
    return None


def _pieces(index: int, document: ParsedDocument, piece_chars: int) -> Iterator[_Piece]:
    text, page_starts = document.text, document.page_starts
    bounds = [0, *split_points(text, piece_chars), len(text)]
    first_page = 0
    for start, end in pairwise(bounds):
        last_page = bisect_left(page_starts, end, first_page)
        # The last piece also owns page starts at the very end (an empty last page).
        if end == len(text):
            last_page = len(page_starts)
        yield _Piece(index, start, text[start:end], page_starts[first_page:last_page])
        first_page = last_page


def count_documents(
    documents: Sequence[ParsedDocument], piece_chars: int = PIECE_CHARS
) -> list[TokenCount]:
    """Token counts of ``documents`` (batch-encoded in Rust, in parallel), in the same order."""
    tokens = [0] * len(documents)
    page_token_starts: list[list[int]] = [[] for _ in documents]
    batch: list[_Piece] = []
    size = 0

    def encode(pieces: list[_Piece]) -> None:
        encodings = load_tokenizer().encode_batch(
            [piece.text for piece in pieces], add_special_tokens=False
        )
        for piece, encoding in zip(pieces, encodings, strict=True):
            if piece.page_starts:
                base = tokens[piece.index]
                page_token_starts[piece.index].extend(
                    base + token for token in first_tokens_at(encoding.offsets, piece)
                )
            tokens[piece.index] += len(encoding.ids)

    for index, document in enumerate(documents):
        # Pieces of one document are encoded in order: each page start adds the tokens before it.
        for piece in _pieces(index, document, piece_chars):
            if batch and size + len(piece.text) > MAX_BATCH_CHARS:
                encode(batch)
                batch, size = [], 0
            batch.append(piece)
            size += len(piece.text)
    if batch:
        encode(batch)
    counts = []
    for i, document in enumerate(documents):
        assert document.doc_id is not None, "only documents that were read are counted"
        counts.append(TokenCount(document.doc_id, tokens[i], tuple(page_token_starts[i])))
    return counts


def first_tokens_at(offsets: Sequence[tuple[int, int]], piece: _Piece) -> list[int]:
    """For each page start in ``piece``, the index of the piece's first token that starts at or
    after it (the token count when none does). Token starts never decrease (byte-level BPE over
    left-to-right pre-tokens), so a bisection finds it."""
    starts = [start for start, _end in offsets]
    return [bisect_left(starts, position - piece.start) for position in piece.page_starts]
