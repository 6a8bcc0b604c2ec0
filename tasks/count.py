"""Exact DeepSeek-V4 token counts, with the token offset where each page starts."""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Encoding

from nightshift.models import ParsedDocument, TokenCount
from nightshift.tokenizer import load_tokenizer

# Encoding a batch holds every encoding in memory at once; bound the characters per batch.
MAX_BATCH_CHARS = 64 * 1024 * 1024


def count_documents(documents: Sequence[ParsedDocument]) -> list[TokenCount]:
    """Token counts of ``documents`` (batch-encoded in Rust, in parallel), in the same order."""
    results: list[TokenCount] = []
    batch: list[ParsedDocument] = []
    size = 0
    for document in documents:
        if batch and size + len(document.text) > MAX_BATCH_CHARS:
            results.extend(_count_batch(batch))
            batch, size = [], 0
        batch.append(document)
        size += len(document.text)
    if batch:
        results.extend(_count_batch(batch))
    return results


def _first_token_at(encoding: Encoding, position: int, length: int) -> int:
    """Index of the first token that starts at or after ``position`` (a page start), found
    through the encoding's char-to-token map rather than by copying every token offset."""
    for char in range(position, length):
        token = encoding.char_to_token(char)
        if token is None:
            continue
        start, _end = encoding.offsets[token]
        return token if start >= position else token + 1
    return len(encoding.ids)


def _count_batch(batch: list[ParsedDocument]) -> list[TokenCount]:
    encodings = load_tokenizer().encode_batch([d.text for d in batch], add_special_tokens=False)
    counts = []
    for document, encoding in zip(batch, encodings, strict=True):
        page_token_starts: tuple[int, ...] = ()
        if document.page_starts:
            page_token_starts = tuple(
                _first_token_at(encoding, position, len(document.text))
                for position in document.page_starts
            )
        counts.append(TokenCount(document.doc_id, len(encoding.ids), page_token_starts))
    return counts
