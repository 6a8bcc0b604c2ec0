"""Small value objects that cross module lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class DocStatus(StrEnum):
    """What became of a file. Every discovered file ends as a row with one of these."""

    OK = "ok"
    EMPTY_TEXT = "empty_text"  # a scan with no text layer, or a blank file
    ENCRYPTED = "encrypted"  # no configured password (nor the empty one) opens it
    CORRUPT = "corrupt"  # the parser cannot read it
    TOO_LARGE = "too_large"  # over the configured size limit, never read
    UNSUPPORTED = "unsupported"  # binary, or a kind nightshift does not read
    TIMEOUT = "timeout"  # the parser passed its time or memory limit
    UNREADABLE = "unreadable"  # a symlink loop or escape, a permission error, deleted meanwhile
    SECRET = "secret"  # a key or credential file (by name or content): never read, never stored


class RunStatus(StrEnum):
    """How a run ended (``running`` while it runs)."""

    RUNNING = "running"
    PLANNED = "planned"  # a plan only: nothing was sent
    COMPLETED = "completed"
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    DEFERRED = "deferred"  # the window or the budget held work back; it stays pending
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the process ended before the run finished


class WorkItemStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"
    PENDING = "pending"  # held back by the gate or a stopped run; the next run takes it first


class DocKind(StrEnum):
    PDF = "pdf"
    TEXT = "text"
    MARKDOWN = "markdown"
    CODE = "code"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DocumentRef:
    """A file found by a source, before it is read.

    ``uri`` names it for people and for the database (``/abs/path`` or ``s3://bucket/key``);
    ``relpath`` is its path under the source's root, used for grouping and citations.
    A ref that could not even be opened carries ``problem`` (status, reason) instead.
    """

    uri: str
    relpath: str
    size: int
    modified: datetime | None = None
    etag: str | None = None
    problem: tuple[DocStatus, str] | None = None


class PageSource(StrEnum):
    """Where the stored text of a PDF page parsed with OCR on came from."""

    TEXT_LAYER = "text_layer"  # its own text layer (OCR not needed, or not better)
    OCR = "ocr"  # OCR's text
    EMPTY = "empty"  # OCR ran and found no text (a blank page)
    TIMEOUT = "timeout"  # OCR passed the page's time budget; the text layer (if any) is kept
    FAILED = "failed"  # the engine failed (its memory limit, a page it cannot render)


@dataclass(frozen=True)
class PageOcr:
    """What OCR did on one page (1-based ``page``); ``confidence`` is the engine's mean word
    confidence, 0-100, when it read any word."""

    page: int
    text_chars: int  # non-space characters of the page's text layer
    source: PageSource
    engine: str | None = None
    languages: str | None = None
    confidence: float | None = None
    seconds: float | None = None
    detail: str | None = None

    @property
    def ocr(self) -> bool:
        return self.source is PageSource.OCR


@dataclass(frozen=True)
class ParsedDocument:
    """A file after parsing: its identity, its status and, when ``ok``, its text.

    ``page_starts`` holds the character offset where each PDF page begins (empty for text and
    code, whose structure is their lines). ``warnings`` records recoverable oddities such as a
    decoding fallback.
    """

    uri: str
    relpath: str
    doc_id: str | None  # None for a file never read (too large, unreadable, a secret)
    kind: DocKind
    size: int
    status: DocStatus
    status_reason: str = ""
    text: str = ""
    page_starts: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()
    etag: str | None = None
    modified: datetime | None = None
    page_ocr: tuple[PageOcr, ...] = ()  # one per page when parsed with OCR on

    @property
    def pages(self) -> int:
        return len(self.page_starts)


@dataclass(frozen=True)
class TokenCount:
    """Exact DeepSeek-V4 token count of a document, with the token offset of each page start."""

    doc_id: str
    tokens: int
    page_token_starts: tuple[int, ...] = field(default_factory=tuple)


# The model ids nightshift asks for unless settings say otherwise.
DEFAULT_FLASH_MODEL = "deepseek-v4-flash"
DEFAULT_PRO_MODEL = "deepseek-v4-pro"


@dataclass(frozen=True)
class ModelIds:
    """The ids a backend serves for each model family."""

    flash: str = DEFAULT_FLASH_MODEL
    pro: str = DEFAULT_PRO_MODEL

    def of(self, family: str) -> str:
        return self.flash if family == "flash" else self.pro
