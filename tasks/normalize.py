"""Text normalisation at ingest: one spelling for characters that look and mean the same.

Text extracted from PDFs carries Unicode look-alikes: U+037E GREEK QUESTION MARK for ";",
NO-BREAK SPACE between every word, ligatures ("ﬁ"), soft hyphens. They cost tokens (NBSP alone
is about an eighth of the tokens of some filings) and break quote matching, since a model
answers with the plain characters. Documents are therefore normalised before they are counted,
stored and sent, and every offset (pages, lines, grounded quotes) refers to the normalised text.

- ``normalize_text`` (PDF pages, text, markdown): NFKC, then every Unicode space separator
  (NBSP, thin, em, ideographic, ...) becomes " ", invisible format characters (soft hyphen,
  zero-width space and joiners, BOM, word joiner) are removed, U+2028/U+2029 become "\\n".
  "\\f" (our page separator), "\\n" and "\\t" are kept. NFKC also maps "…" to "..." and
  full-width letters to ASCII, which is what a model writes back.
- ``normalize_code`` (source files): NFC only, plus removing a BOM. NFKC would rewrite
  characters inside identifiers and string literals (``"ﬁ"`` becomes ``"fi"``, "²" becomes "2"),
  changing what the code means and making quoted lines differ from the file; NFC only
  recomposes canonically equivalent sequences (and maps U+037E to ";", its canonical twin), so
  the stored code is the file's code. Grounding folds the remaining look-alikes on both sides.
"""

from __future__ import annotations

import unicodedata

# Format characters (Unicode category Cf) that a PDF or editor leaves in words; removing them
# joins the word back. ZWJ/ZWNJ shape emoji and some scripts, but in extracted contract text
# they are debris, and a model never writes them back.
INVISIBLE = ("\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e")
KEEP_SPACES = frozenset("\n\t\f")


def _space_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(char): None for char in INVISIBLE}
    for code in range(0x80, 0x3001):
        char = chr(code)
        if unicodedata.category(char) == "Zs":
            table[code] = " "
    table[0x2028] = "\n"  # LINE SEPARATOR
    table[0x2029] = "\n"  # PARAGRAPH SEPARATOR
    table[0x037E] = ";"  # NFKC does this too; explicit because it is the common case
    return table


SPACE_TABLE = _space_table()


def normalize_text(text: str) -> str:
    """``text`` in one spelling (see the module docstring); "\\f" and "\\n" are kept."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text.translate(SPACE_TABLE)).translate(SPACE_TABLE)


def normalize_code(text: str) -> str:
    """Source code, lightly: NFC and no byte-order mark; identifiers and literals unchanged."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text.removeprefix("\ufeff"))
