"""Turning the bytes of a text, markdown or code file into text, robustly.

PDFs are parsed in worker processes (``tasks.pdf_pool``); everything else is cheap and is
parsed here. Decoding never fails: UTF-8 (with or without a BOM), UTF-16 with a BOM, and
otherwise cp1252/latin-1 with a warning recorded in the row's reason.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from nightshift.models import DocKind, DocStatus
from tasks.normalize import normalize_code, normalize_text

BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class TextParse:
    status: DocStatus
    reason: str = ""
    text: str = ""
    warning: str | None = None


def decode_text(data: bytes) -> tuple[str, str | None]:
    """The text of ``data`` and, when it was not clean UTF-8, a warning naming the fallback."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), None
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        where = exc.start
    try:
        return data.decode("cp1252"), f"not valid UTF-8 (byte {where}); decoded as cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), f"not valid UTF-8 (byte {where}); decoded as latin-1"


def looks_binary(data: bytes) -> bool:
    head = data[:BINARY_SNIFF_BYTES]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
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
