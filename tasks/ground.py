"""Grounding: finding a quote in its source and saying where it is.

A quote is looked up exactly first, then with whitespace, case and typographic punctuation
normalised (a model may re-flow a line break or straighten a curly quote). The match is
mapped back to character offsets in the original text, then to a page (PDF) or a line.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal

# Typographic characters a model tends to straighten.
TRANSLATION = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-",
                             "\u00a0": " ", "\f": " "})  # fmt: skip
TRIM = " \t\n\r\f\"'“”‘’.…"

MatchKind = Literal["exact", "normalized"]


@dataclass(frozen=True)
class Location:
    char_start: int
    char_end: int
    match: MatchKind
    page: int | None = None  # 1-based, for paged documents
    line: int | None = None  # 1-based


class GroundingIndex:
    """One document's text, prepared once for many quote look-ups."""

    def __init__(self, text: str, page_starts: tuple[int, ...] = ()) -> None:
        self.text = text
        self.page_starts = page_starts
        normalized: list[str] = []
        positions: list[int] = []  # original index of each normalized character
        previous_space = True
        for index, char in enumerate(text.translate(TRANSLATION)):
            if char.isspace():
                if previous_space:
                    continue
                normalized.append(" ")
                positions.append(index)
                previous_space = True
                continue
            normalized.append(fold(char))
            positions.append(index)
            previous_space = False
        self.normalized = "".join(normalized)
        self.positions = positions

    def locate(self, quote: str, start: int = 0, end: int | None = None) -> Location | None:
        """Where ``quote`` is, preferring ``[start, end)`` (a window), else anywhere."""
        quote = quote.strip()
        if not quote:
            return None
        found = self._exact(quote, start, end) or self._exact(quote, 0, None)
        if found is None:
            found = self._normalized(quote, start, end) or self._normalized(quote, 0, None)
        return found

    def _exact(self, quote: str, start: int, end: int | None) -> Location | None:
        index = self.text.find(quote, start, len(self.text) if end is None else end)
        if index < 0:
            return None
        return self._location(index, index + len(quote), "exact")

    def _normalized(self, quote: str, start: int, end: int | None) -> Location | None:
        needle = normalize(quote)
        if not needle:
            return None
        lo = bisect_right(self.positions, start - 1)
        hi = len(self.positions) if end is None else bisect_right(self.positions, end - 1)
        index = self.normalized.find(needle, lo, hi)
        if index < 0:
            return None
        first = self.positions[index]
        last = self.positions[index + len(needle) - 1]
        return self._location(first, last + 1, "normalized")

    def _location(self, start: int, end: int, match: MatchKind) -> Location:
        page = bisect_right(self.page_starts, start) if self.page_starts else None
        line = self.text.count("\n", 0, start) + 1
        return Location(start, end, match, page, line)


def fold(char: str) -> str:
    """Case-fold one character, keeping it when folding would change the length (ß -> ss), so
    that normalised offsets map one-to-one back to the original text."""
    folded = char.casefold()
    return folded if len(folded) == 1 else char


def normalize(text: str) -> str:
    words = text.translate(TRANSLATION).strip(TRIM).split()
    return "".join(fold(char) for char in " ".join(words))
