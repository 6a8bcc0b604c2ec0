"""Turning the bytes of a text, markdown or code file into text, robustly.

PDFs are parsed in worker processes (``tasks.pdf_pool``); everything else is cheap and is
parsed here. Decoding never fails: UTF-8 (with or without a BOM), UTF-16 with a BOM, and
otherwise cp1252/latin-1 with a warning recorded in the row's reason.
"""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass

from nightshift.models import DocKind, DocStatus
from tasks.normalize import normalize_code, normalize_text

BINARY_SNIFF_BYTES = 8192
UTF16_SAMPLE_CHARS = 4096  # how much of a would-be UTF-16 text is checked for plausibility
UTF16_MAX_ODD_SHARE = 0.02  # unassigned, private-use or control characters allowed in it


@dataclass(frozen=True)
class TextParse:
    status: DocStatus
    reason: str = ""
    text: str = ""
    warning: str | None = None


def utf16_text(data: bytes) -> str | None:
    """``data`` decoded as UTF-16 (its BOM picks the byte order), or None when it is not UTF-16.

    ``FF FE`` also begins cp1252 text ("ÿþ") and binary files: decoded as UTF-16 those give lone
    surrogates (strict decoding fails), unassigned code points, or CJK-looking noise without a
    single space or line break; real text in any script has some.
    """
    try:
        text = data.decode("utf-16")
    except UnicodeDecodeError:
        return None
    sample = text[:UTF16_SAMPLE_CHARS]
    odd = sum(1 for char in sample if _is_odd(char))
    if odd > len(sample) * UTF16_MAX_ODD_SHARE:
        return None
    if len(sample) >= 32 and not any(char in " \n\t\u3000" for char in sample):
        return None
    return text


def _is_odd(char: str) -> bool:
    category = unicodedata.category(char)
    return category in ("Cn", "Co", "Cs") or (category == "Cc" and char not in "\t\n\r\f")


def decode_text(data: bytes) -> tuple[str, str | None]:
    """The text of ``data`` and, when it was not clean UTF-8, a warning naming the fallback."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), None
    note = ""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = utf16_text(data)
        if text is not None:
            return text, None
        note = "starts like UTF-16 (FF FE or FE FF) but is not UTF-16 text; "
    try:
        return data.decode("utf-8"), note.removesuffix("; ") or None
    except UnicodeDecodeError as exc:
        where = exc.start
    try:
        return data.decode("cp1252"), f"{note}not valid UTF-8 (byte {where}); decoded as cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), f"{note}not valid UTF-8 (byte {where}); decoded as latin-1"


def looks_binary(data: bytes) -> bool:
    head = data[:BINARY_SNIFF_BYTES]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and utf16_text(data):
        return False  # UTF-16 text is full of NUL bytes
    return b"\x00" in head


def parse_text_bytes(data: bytes, kind: DocKind, name: str) -> TextParse:
    """Parse a text, markdown or code file (``kind`` from its name; content checked here)."""
    if not data:
        return TextParse(DocStatus.EMPTY_TEXT, "zero-byte file")
    if data.startswith(b"%PDF-"):
        return TextParse(DocStatus.UNSUPPORTED, f"{name} is a PDF with a text file's name")
    if looks_binary(data):
        return TextParse(DocStatus.UNSUPPORTED, f"binary content (NUL bytes) in {name}")
    text, warning = decode_text(data)
    # NUL cannot be stored and is never content; line endings are normalised to \n.
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    # Code keeps its characters (NFC only); prose gets the full normalisation (tasks.normalize).
    text = normalize_code(text) if kind is DocKind.CODE else normalize_text(text)
    if not text.strip():
        return TextParse(DocStatus.EMPTY_TEXT, "only whitespace", warning=warning)
    return TextParse(DocStatus.OK, warning or "", text, warning)
