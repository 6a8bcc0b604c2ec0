"""Grounding: finding a quote in its source and saying where it is.

A model's quote is looked up in stages, the first that succeeds wins:

1. ``exact``: the quote is a substring of the stored text.
2. ``normalized``: both sides folded the same way (Unicode compatibility forms, case,
   typographic quotes and dashes, runs of whitespace as one space, line-end hyphenation
   ``indem-\\nnification`` joined), including a clause that crosses a page break with page
   furniture (footer, header, page number) between its parts: up to ``PAGE_GAP_CHARS`` of text
   around a page boundary may be skipped, at most ``MAX_PAGE_BREAKS`` times per quote.
3. ``elided``: a quote with ``...``, ``…`` or ``[...]`` matched as its pieces in order, each
   gap at most ``ELISION_GAP_CHARS``.
4. ``fuzzy``: small differences (a changed word or character), through rapidfuzz's
   ``partial_ratio_alignment`` around anchor words of the quote, kept at a score of at least
   ``FUZZY_MIN_SCORE``; quotes shorter than ``FUZZY_MIN_CHARS`` never match fuzzily.

Every stage looks in the request's window first, then anywhere in the document. A match is
mapped back to character offsets in the stored text, then to a page (PDF) and a line. For
code, ``line_hint`` (the line number the model gave) chooses between identical lines.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz

# Typographic characters a model tends to straighten; invisible characters it never writes.
TRANSLATION = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "`": "'", "´": "'",
                             "“": '"', "”": '"', "„": '"', "″": '"', "«": '"', "»": '"',
                             "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-",
                             "−": "-", "\u00ad": "", "\u200b": "", "\u200c": "", "\u200d": "",
                             "\u2060": "", "\ufeff": ""})  # fmt: skip
TRIM = " \t\n\r\f\"'“”‘’.…"

MatchKind = Literal["exact", "normalized", "elided", "fuzzy"]

PAGE_GAP_CHARS = 400  # page furniture (footer + header + page number) skipped at a page break
MAX_PAGE_BREAKS = 3  # page breaks one quote may cross
ELISION_GAP_CHARS = 20_000  # text one "..." may stand for (a long clause)
ELISION_MIN_WORDS = 3  # an elided quote needs a piece this long, or it matches anything
FUZZY_MIN_SCORE = 0.90  # rapidfuzz partial_ratio / 100
FUZZY_MIN_CHARS = 24
FUZZY_ANCHORS = 8  # anchor phrases taken across the quote to find candidate regions
MAX_CANDIDATES = 200  # occurrences tried per stage, so a common phrase cannot stall a look-up

_WORD = re.compile(r"\S+")
_ELISION = re.compile(r"\s*(?:\[\s*(?:\.\s*){3,}\]|\[\s*…\s*\]|(?:\.\s?){2,}\.|…)\s*")


@dataclass(frozen=True)
class Location:
    char_start: int
    char_end: int
    match: MatchKind
    page: int | None = None  # 1-based, for paged documents
    line: int | None = None  # 1-based
    score: float = 1.0  # 1.0 except for fuzzy matches (their similarity, 0..1)


class _Folding(dict[int, str]):
    """``str.translate`` table folding each character on first sight (NFKD, typographic
    punctuation straightened, case-folded); a character may fold to several or none."""

    def __missing__(self, code: int) -> str:
        folded = unicodedata.normalize("NFKD", chr(code)).translate(TRANSLATION).casefold()
        folded = "".join(c for c in folded if not c.isspace())
        self[code] = folded
        return folded


FOLDING = _Folding()


def _joins_hyphenated(previous: str, gap: str, word: str) -> bool:
    """A word broken at a line end (``indem-\\nnification``): rejoin it without the hyphen."""
    return (
        len(previous) >= 2
        and previous[-1] == "-"
        and previous[-2].isalpha()
        and ("\n" in gap or "\f" in gap)
        and word[:1].islower()
    )


def _folded_words(text: str) -> Iterator[tuple[int, str, str, bool]]:
    """(start, word, folded word, joins the previous word) for each word of ``text``."""
    previous, previous_end = "", 0
    for match in _WORD.finditer(text):
        word = match.group()
        joined = _joins_hyphenated(previous, text[previous_end : match.start()], word)
        yield match.start(), word, word.translate(FOLDING), joined
        previous, previous_end = word, match.end()


def normalize(text: str) -> str:
    """``text`` folded as the index folds a document, without edge quotes and periods."""
    parts: list[str] = []
    for _start, _word, folded, joined in _folded_words(text):
        if joined and parts and parts[-1].endswith("-"):
            parts[-1] = parts[-1][:-1] + folded
        elif folded:
            parts.append(folded)
    return " ".join(parts).strip(TRIM)


class GroundingIndex:
    """One document's text, prepared once for many quote look-ups.

    Memory: the folded text (one to four bytes a character) and one 4-byte original offset per
    folded character, in an ``array``; plus one offset per line.
    """

    def __init__(self, text: str, page_starts: tuple[int, ...] = ()) -> None:
        self.text = text
        self.page_starts = page_starts
        chunks: list[str] = []
        positions = array("i")  # original offset of each folded character
        for start, word, folded, joined in _folded_words(text):
            if not folded:
                continue
            if joined and chunks and chunks[-1] == " " and chunks[-2].endswith("-"):
                chunks.pop()  # the space before this word
                positions.pop()
                chunks[-1] = chunks[-1][:-1]  # the hyphen
                positions.pop()
            if len(folded) == len(word):
                positions.extend(range(start, start + len(word)))
            else:
                for offset, char in enumerate(word):
                    positions.extend([start + offset] * len(char.translate(FOLDING)))
            chunks.append(folded)
            chunks.append(" ")
            positions.append(start + len(word))
        self.normalized = "".join(chunks)
        self.positions = positions
        # Page boundaries in folded coordinates, for clauses that cross a page.
        self._page_marks = array("i", (bisect_left(positions, s) for s in page_starts[1:]))
        self._newlines = array("i", (m.start() for m in re.finditer("\n", text)))

    # -- public ------------------------------------------------------------------------------

    def locate(
        self, quote: str, start: int = 0, end: int | None = None, line_hint: int | None = None
    ) -> Location | None:
        """Where ``quote`` is, preferring ``[start, end)`` (a window), else anywhere.

        ``line_hint`` (1-based) picks, among several equally good matches, the one closest to
        that line: a model's line number tells identical lines of code apart.
        """
        quote = quote.strip()
        if not quote:
            return None
        whole = (0, len(self.text))
        window = (start, len(self.text) if end is None else end)
        scopes = [window] if window == whole else [window, whole]
        for lo, hi in scopes:
            found = self._exact(quote, lo, hi, line_hint)
            if found is not None:
                return found
        needle = normalize(quote)  # only now: most quotes are found exactly
        stages = (
            lambda lo, hi: self._normalized(needle, lo, hi, line_hint),
            lambda lo, hi: self._elided(quote, lo, hi),
            lambda lo, hi: self._fuzzy(needle, lo, hi),
        )
        for stage in stages:
            for lo, hi in scopes:
                found = stage(lo, hi)
                if found is not None:
                    return found
        return None

    def line_of(self, offset: int) -> int:
        return bisect_right(self._newlines, offset - 1) + 1

    # -- stages ------------------------------------------------------------------------------

    def _exact(self, quote: str, lo: int, hi: int, line_hint: int | None) -> Location | None:
        spans = _occurrences(self.text, quote, lo, hi)
        best = self._closest(((i, i + len(quote)) for i in spans), line_hint, original=True)
        return None if best is None else self._location(best[0], best[1], "exact")

    def _normalized(self, needle: str, lo: int, hi: int, line_hint: int | None) -> Location | None:
        if not needle:
            return None
        nlo, nhi = self._folded_range(lo, hi)
        spans = ((i, i + len(needle)) for i in _occurrences(self.normalized, needle, nlo, nhi))
        best = self._closest(spans, line_hint, original=False)
        if best is None and self._page_marks:
            best = self._across_pages(needle, nlo, nhi)
        return None if best is None else self._folded_location(best, "normalized")

    def _elided(self, quote: str, lo: int, hi: int) -> Location | None:
        pieces = [normalize(p) for p in _ELISION.split(quote)]
        pieces = [p for p in pieces if p]
        if len(pieces) < 2 or max(len(p.split()) for p in pieces) < ELISION_MIN_WORDS:
            return None
        nlo, nhi = self._folded_range(lo, hi)
        for first in _occurrences(self.normalized, pieces[0], nlo, nhi):
            end = self._match_from(pieces[0], first, nhi, MAX_PAGE_BREAKS)
            for piece in pieces[1:]:
                if end is None:
                    break
                end = self._next_piece(piece, end, min(nhi, end + ELISION_GAP_CHARS))
            if end is not None:
                return self._folded_location((first, end), "elided")
        return None

    def _fuzzy(self, needle: str, lo: int, hi: int) -> Location | None:
        if len(needle) < FUZZY_MIN_CHARS:
            return None
        nlo, nhi = self._folded_range(lo, hi)
        slack = len(needle) // 4 + 16
        best: tuple[float, int, int] | None = None
        seen: set[int] = set()
        for offset, anchor in _anchors(needle):
            for at in _occurrences(self.normalized, anchor, nlo, nhi, limit=20):
                guess = at - offset
                if guess // 32 in seen:
                    continue
                seen.add(guess // 32)
                left = max(nlo, guess - slack)
                region = self.normalized[left : min(nhi, guess + len(needle) + slack)]
                aligned = fuzz.partial_ratio_alignment(
                    needle, region, score_cutoff=FUZZY_MIN_SCORE * 100
                )
                if aligned is not None and (best is None or aligned.score > best[0]):
                    best = (aligned.score, left + aligned.dest_start, left + aligned.dest_end)
            if len(seen) >= MAX_CANDIDATES:
                break
        if best is None:
            return None
        score, first, last = best
        start, end = _trimmed(self.normalized, first, last)
        return self._folded_location((start, end), "fuzzy", round(score / 100, 4))

    # -- helpers -----------------------------------------------------------------------------

    def _across_pages(self, needle: str, nlo: int, nhi: int) -> tuple[int, int] | None:
        head = _head(needle)
        for at in _occurrences(self.normalized, head, nlo, nhi):
            end = self._match_from(needle, at, nhi, MAX_PAGE_BREAKS)
            if end is not None:
                return at, end
        return None

    def _match_from(self, needle: str, at: int, nhi: int, breaks: int) -> int | None:
        """End of ``needle`` read from ``at``, skipping page furniture at up to ``breaks``
        page boundaries; None when it does not read on."""
        same = _common_prefix(needle, self.normalized, at)
        if same == len(needle):
            return at + same
        cut = needle.rfind(" ", 0, same + 1)  # back to the last whole word read
        if breaks <= 0 or cut <= 0:
            return None
        stop = at + cut  # folded offset where the furniture starts
        mark = bisect_left(self._page_marks, stop)
        if mark == len(self._page_marks) or self._page_marks[mark] - stop > PAGE_GAP_CHARS:
            return None
        boundary = self._page_marks[mark]
        rest = needle[cut + 1 :]
        limit = min(nhi, boundary + PAGE_GAP_CHARS + len(rest))
        for resume in _occurrences(self.normalized, _head(rest), boundary, limit):
            if resume - stop > 2 * PAGE_GAP_CHARS:
                break
            end = self._match_from(rest, resume, nhi, breaks - 1)
            if end is not None:
                return end
        return None

    def _next_piece(self, piece: str, lo: int, hi: int) -> int | None:
        for at in _occurrences(self.normalized, _head(piece), lo, hi):
            end = self._match_from(piece, at, hi + len(piece), MAX_PAGE_BREAKS)
            if end is not None:
                return end
        return None

    def _closest(
        self, spans: Iterator[tuple[int, int]], line_hint: int | None, *, original: bool
    ) -> tuple[int, int] | None:
        best: tuple[int, int] | None = None
        best_distance = 0
        for span in spans:
            if line_hint is None:
                return span
            offset = span[0] if original else self.positions[span[0]]
            distance = abs(self.line_of(offset) - line_hint)
            if best is None or distance < best_distance:
                best, best_distance = span, distance
            if distance == 0:
                break
        return best

    def _folded_range(self, lo: int, hi: int) -> tuple[int, int]:
        return bisect_left(self.positions, lo), bisect_left(self.positions, hi)

    def _folded_location(
        self, span: tuple[int, int], match: MatchKind, score: float = 1.0
    ) -> Location:
        first = self.positions[span[0]]
        last = self.positions[span[1] - 1]
        return self._location(first, last + 1, match, score)

    def _location(self, start: int, end: int, match: MatchKind, score: float = 1.0) -> Location:
        page = bisect_right(self.page_starts, start) if self.page_starts else None
        return Location(start, end, match, page, self.line_of(start), score)


def _occurrences(
    haystack: str, needle: str, lo: int, hi: int, limit: int = MAX_CANDIDATES
) -> Iterator[int]:
    """Start offsets of ``needle`` in ``haystack[lo:hi]``, first ``limit`` of them."""
    at = haystack.find(needle, lo, hi)
    found = 0
    while at >= 0 and found < limit:
        yield at
        found += 1
        at = haystack.find(needle, at + 1, hi)


def _head(needle: str, words: int = 4) -> str:
    """The first few words: enough to find where a quote starts without reading all of it."""
    parts = needle.split(" ", words)
    return " ".join(parts[:words])


def _anchors(needle: str) -> list[tuple[int, str]]:
    """(offset, phrase) pairs of three-word phrases spread evenly over ``needle``."""
    starts = [0] + [m.end() for m in re.finditer(" ", needle)]
    step = max(1, len(starts) // FUZZY_ANCHORS)
    anchors = []
    for index in range(0, len(starts), step):
        phrase = _head(needle[starts[index] :], 3)
        if len(phrase) >= 8:
            anchors.append((starts[index], phrase))
    return anchors


def _common_prefix(needle: str, haystack: str, at: int) -> int:
    """Length of the longest common prefix of ``needle`` and ``haystack[at:]``."""
    lo, hi = 0, min(len(needle), len(haystack) - at)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if haystack.startswith(needle[:mid], at):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _trimmed(folded: str, start: int, end: int) -> tuple[int, int]:
    """A fuzzy alignment without the spaces it may begin or end on."""
    while start < end and folded[start] == " ":
        start += 1
    while end > start and folded[end - 1] == " ":
        end -= 1
    return start, end
