"""Secrets inside text and code are replaced by placeholders before the text is stored or sent.

Key and credential *files* never get this far (``tasks.secret_files``); this is for the secret
written into an ordinary file: ``SECRET_KEY = "..."`` in a settings module, an AWS key pair in
a deploy script, a password inside a database URL. Detection is Yelp's ``detect-secrets`` (its
plugins and false-positive filters, the same ones its pre-commit hook runs), line by line.

A secret becomes ``«redacted:<kind>»`` in place, inside its quotes, so that

- the line count and every line number stay as they were (findings cite ``file:line``);
- the line keeps its shape (``SECRET_KEY = "«redacted:Secret Keyword»"``): a reviewer, model or
  person, still sees that a literal secret is assigned there and reports it at its line;
- the placeholder names the kind, never anything derived from the value (no hash, no length).

A private key block inside a file (past the head that ``secret_files`` checks) is redacted
whole, each of its lines becoming one placeholder line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from detect_secrets.core.scan import _process_line_based_plugins
from detect_secrets.settings import default_settings

from nightshift.models import DocStatus
from tasks.parse import TextParse

PLACEHOLDER = "«redacted:{kind}»"
PRIVATE_KEY_KIND = "Private Key"
# Detectors that only say "this string is random": a more specific kind found on the same
# span names the placeholder.
_VAGUE_KINDS = frozenset({"Base64 High Entropy String", "Hex High Entropy String"})
# Some detectors report part of a token (the GitHub one reports its "ghp" prefix): a secret is
# widened to the whole run of token characters around it. Quotes, spaces, ':' '@' and '/' stop
# it, so the password inside "postgres://user:pw@host/db" stays the password alone.
_TOKEN_CHAR = re.compile(r"[A-Za-z0-9_\-+=.~]")
_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_KEY_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")


@dataclass(frozen=True)
class Redaction:
    """What was replaced: the line (1-based) and the detector's kind, never the value."""

    line: int
    kind: str


@dataclass(frozen=True)
class RedactedText:
    text: str
    redactions: tuple[Redaction, ...]

    @property
    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for redaction in self.redactions:
            counts[redaction.kind] = counts.get(redaction.kind, 0) + 1
        return counts


def redact_secrets(text: str, relpath: str) -> RedactedText:
    """``text`` with every secret detect-secrets finds replaced by a placeholder, line for line.

    ``relpath`` lets detect-secrets' filename filters apply (lock files, swagger specs).
    """
    lines = text.split("\n")
    redactions: list[Redaction] = []
    for index in _private_key_lines(lines):
        lines[index] = PLACEHOLDER.format(kind=PRIVATE_KEY_KIND)
        redactions.append(Redaction(index + 1, PRIVATE_KEY_KIND))
    found = _detect(lines, relpath)
    for number, secrets in sorted(found.items()):
        line = lines[number - 1]
        spans = _spans(line, secrets)
        if not spans:
            continue
        for start, end, kind in reversed(spans):
            line = line[:start] + PLACEHOLDER.format(kind=kind) + line[end:]
            redactions.append(Redaction(number, kind))
        lines[number - 1] = line
    redactions.sort(key=lambda r: r.line)
    return RedactedText("\n".join(lines), tuple(redactions))


def _private_key_lines(lines: list[str]) -> Iterator[int]:
    """Indexes of the lines of every ``-----BEGIN ... PRIVATE KEY-----`` block, both ends
    included; an unterminated block runs to the end of the text."""
    inside = False
    for index, line in enumerate(lines):
        if not inside and _KEY_BEGIN.search(line):
            inside = True
        if inside:
            yield index
            if _KEY_END.search(line):
                inside = False


def _detect(lines: list[str], relpath: str) -> dict[int, list[tuple[str, str]]]:
    """(kind, value) of every secret found, by line number."""
    numbered = list(enumerate(lines, start=1))
    found: dict[int, list[tuple[str, str]]] = {}
    # detect-secrets keeps its configuration in one process-wide object: this sets every
    # plugin and the default filters for the scan and restores what was there after.
    with default_settings():
        for secret in _process_line_based_plugins(numbered, filename=relpath):
            if secret.secret_value:
                found.setdefault(secret.line_number, []).append((secret.type, secret.secret_value))
    return found


def _spans(line: str, secrets: list[tuple[str, str]]) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) spans to replace in ``line``, in order."""
    raw: list[tuple[int, int, str]] = []
    for kind, value in secrets:
        start = line.find(value)
        while start != -1:
            end = start + len(value)
            while start > 0 and _TOKEN_CHAR.match(line[start - 1]):
                start -= 1
            while end < len(line) and _TOKEN_CHAR.match(line[end]):
                end += 1
            raw.append((start, end, kind))
            start = line.find(value, end)
    raw.sort()
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in raw:
        if merged and start < merged[-1][1]:
            last_start, last_end, last_kind = merged[-1]
            best = last_kind if kind in _VAGUE_KINDS or last_kind not in _VAGUE_KINDS else kind
            merged[-1] = (last_start, max(end, last_end), best)
        else:
            merged.append((start, end, kind))
    return merged


def redact_pages(pages: Sequence[str], relpath: str) -> tuple[list[str], str | None]:
    """Every page of a document (a text file is one page) with its secrets redacted, and the
    note saying how many of which kind, or None when there were none. Pages are redacted one
    by one, so page boundaries stay where they were: the one path every text takes before it
    is stored or sent, whatever its kind."""
    redacted = [redact_secrets(page, relpath) for page in pages]
    kinds: dict[str, int] = {}
    for page in redacted:
        for kind, count in page.kinds.items():
            kinds[kind] = kinds.get(kind, 0) + count
    if not kinds:
        return list(pages), None
    note = "secrets redacted: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return [page.text for page in redacted], note


def redact_parsed(parsed: TextParse, relpath: str) -> TextParse:
    """A parsed text file with its secrets redacted, the reason saying how many of which kind
    (the doc_id stays the hash of the file's bytes, so an unchanged file stays unchanged)."""
    if parsed.status is not DocStatus.OK:
        return parsed
    (text,), note = redact_pages([parsed.text], relpath)
    if note is None:
        return parsed
    return replace(parsed, text=text, reason=f"{parsed.reason}; {note}" if parsed.reason else note)
