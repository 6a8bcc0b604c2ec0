"""The ingest stage: discover, read, parse, count and land every file of a source.

Every discovered file ends as one ``documents`` row with a status and a reason. Unchanged
files (same uri and content, or same S3 ETag) are not parsed, counted or even downloaded again:
their row's ``last_seen`` moves. Content already parsed under another name is copied, not
parsed. PDFs are parsed in worker processes with time and memory limits while text files are
read here, and rows are landed in batches as they complete.

What a run guarantees:

- a batch's ``documents`` rows and their ``document_texts`` land in one transaction, so a process
  killed at any moment leaves no ``ok`` row without its text; and a database damaged that way by
  an older version heals: an ``ok`` row whose text is missing is parsed again, never "unchanged";
- a file named like a key or credential (``tasks.secret_files``) is never opened, and any other
  file is checked for a private key in its head before it is hashed or parsed: either way it is a
  ``secret`` row, its content stored nowhere;
- a file is read only if it is still a regular file when opened (a FIFO swapped in after
  discovery would block forever) and only up to the size limit, counted while reading: a file
  that grew past it after discovery is ``too_large``, never landed with a stale size;
- with OCR on, each PDF page's OCR record lands with the document's text, and a PDF content
  parsed earlier without OCR that OCR could add text to (no text, or a page nearly without) is
  parsed again, its old row and text replaced.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.paths import SkipRules, kind_of
from connectors.sources import Fetched, Source, fetch_ahead
from connectors.store import Store, utc_now
from connectors.tables import DocumentPageRow, DocumentRow, DocumentTextRow
from nightshift.errors import ObjectFetchError, StorageError
from nightshift.models import DocKind, DocStatus, DocumentRef, ParsedDocument
from nightshift.settings import DEFAULT_FETCH_WORKERS
from tasks.count import count_documents
from tasks.ocr import MIN_TEXT_CHARS, OcrConfig
from tasks.parse import parse_text_bytes
from tasks.pdf_pool import PdfLimits, PdfParserPool
from tasks.redact import redact_pages, redact_parsed
from tasks.secret_files import HEAD_BYTES, secret_by_content, secret_by_name

CHUNK_FILES = 256  # refs looked up in the database at once
FLUSH_DOCUMENTS = 64  # parsed documents landed at once
HASH_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class IngestOptions:
    max_file_bytes: int = 256 * 1024 * 1024
    pdf_engine: str = "pypdf"
    pdf_passwords: tuple[str, ...] = ("",)
    pdf_limits: PdfLimits = field(default_factory=PdfLimits)
    workers: int = 2
    fetch_workers: int = DEFAULT_FETCH_WORKERS  # downloads at once (connectors.sources.fetch_ahead)
    ocr: OcrConfig = field(default_factory=OcrConfig)


@dataclass(frozen=True)
class IngestProgress:
    files_done: int
    files_seen: int
    current: str


@dataclass
class IngestSummary:
    run_id: str
    files: int = 0
    parsed: int = 0
    unchanged: int = 0
    copied: int = 0
    pages: int = 0
    tokens: int = 0
    bytes: int = 0
    by_kind_status: Counter[tuple[str, str]] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "parsed": self.parsed,
            "unchanged": self.unchanged,
            "copied": self.copied,
            "pages": self.pages,
            "tokens": self.tokens,
            "bytes": self.bytes,
            "by_kind_status": {f"{k}/{s}": n for (k, s), n in sorted(self.by_kind_status.items())},
        }


ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True)
class FileRead:
    """A file read once: its doc_id and (when asked for) its bytes, or why it was not taken."""

    doc_id: str | None = None
    data: bytes | None = None
    problem: tuple[DocStatus, str] | None = None


def read_file(path: Path, relpath: str, max_bytes: int, keep_bytes: bool) -> FileRead:
    """Hash ``path`` (keeping its bytes if ``keep_bytes``), refusing what must not be read.

    Opened without blocking and checked with ``fstat`` on the open descriptor, so a FIFO or device
    put in a file's place after discovery is refused rather than waited on; the size limit is
    counted on the bytes actually read; the head is checked for a private key before any byte
    is hashed or kept.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return FileRead(problem=(DocStatus.UNREADABLE, "not a regular file when read"))
        head = handle.read(HEAD_BYTES)
        rule = secret_by_content(relpath, head)
        if rule is not None:
            return FileRead(problem=(DocStatus.SECRET, f"{rule}; never read further or stored"))
        digest, kept, size = hashlib.sha256(head), [head], len(head)
        while size <= max_bytes and (block := handle.read(HASH_BLOCK)):
            size += len(block)
            digest.update(block)
            if keep_bytes:
                kept.append(block)
        if size > max_bytes:
            return FileRead(problem=(DocStatus.TOO_LARGE, _too_large(max_bytes)))
    return FileRead(digest.hexdigest(), b"".join(kept) if keep_bytes else None)


def _too_large(max_bytes: int, size: int | None = None) -> str:
    """The reason of a file over the limit: by its listed ``size``, or (None) found while read."""
    limit = f"the {max_bytes / 1e6:g} MB limit (NIGHTSHIFT_MAX_FILE_BYTES)"
    if size is None:
        return f"grew past {limit} while read; not ingested"
    return f"{size / 1e6:.1f} MB is over {limit}; not read"


def skip_rules_of(source: Source) -> SkipRules:
    """The default skip rules with a local repository's root ``.gitattributes`` markers."""
    attributes = Path(source.uri) / ".gitattributes"
    if "://" in source.uri:
        return SkipRules()
    try:
        text = attributes.read_text(encoding="utf-8", errors="replace")
    except OSError:  # none, or unreadable: the built-in rules alone
        return SkipRules()
    return SkipRules.from_gitattributes(text)


def _chunks(refs: Iterator[DocumentRef], size: int) -> Iterator[list[DocumentRef]]:
    chunk: list[DocumentRef] = []
    for ref in refs:
        chunk.append(ref)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Ingest:
    """One ingest run's state: the pool, the open fetches, the rows waiting to land."""

    def __init__(
        self,
        source: Source,
        store: Store,
        options: IngestOptions,
        run_id: str,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.source, self.store, self.options, self.run_id = source, store, options, run_id
        self.on_progress = on_progress
        self.summary = IngestSummary(run_id)
        # Content already parsed under any name, by doc_id: one query per run, not per file.
        self.known = store.known_contents_all()
        # ``ok`` rows whose text never landed (killed between two commits by an older version):
        # such content is parsed again, and the damaged rows are replaced when it lands.
        self.textless = store.textless_doc_ids()
        # Contents parsed without OCR that OCR could add text to, when OCR is on: parsed again.
        self.reocr: set[str] = set()
        if options.ocr.enabled:
            self.reocr = store.ocr_candidates(options.ocr.mode == "always", MIN_TEXT_CHARS)
        for doc_id in self.textless | self.reocr:
            self.known.pop(doc_id, None)
        self.healed: set[tuple[str, str]] = set()  # (uri, doc_id) of damaged rows to replace
        self.reparsed: set[tuple[str, str]] = set()  # (uri, doc_id) parsed again with OCR
        self.now = utc_now()
        self.pending: list[ParsedDocument] = []  # parsed, waiting for counts and landing
        self.rows: list[dict[str, Any]] = []  # rows ready to land as they are
        self.touched: list[dict[str, Any]] = []
        self.in_pool: dict[str, tuple[ParsedDocument, Fetched[FileRead]]] = {}
        self.seen_rows: dict[str, list[dict[str, Any]]] = {}  # of refs being fetched, by uri
        self.files_seen = 0
        self.skips = skip_rules_of(source)

    def run(self) -> IngestSummary:
        with PdfParserPool(
            self.options.workers,
            self.options.pdf_engine,
            self.options.pdf_passwords,
            self.options.pdf_limits,
            self.options.ocr,
        ) as pool:
            self.pool = pool
            unfetched = self._unfetched(self.source.discover())
            for fetched in fetch_ahead(self.source, unfetched, self.options.fetch_workers,
                                       self._read):  # fmt: skip
                self._ingest_fetched(fetched)
                self._between_files()
            while pool.busy:
                self._take_pdf_outcomes(pool.collect())
        self._flush(final=True)
        return self.summary

    def _unfetched(self, refs: Iterator[DocumentRef]) -> Iterator[DocumentRef]:
        """The refs that must be downloaded; every other ref is settled on the way (a row, or a
        touch), so nothing over the size limit or already landed is ever fetched."""
        for chunk in _chunks(refs, CHUNK_FILES):
            self.files_seen += len(chunk)
            seen = self.store.seen_files(ref.uri for ref in chunk)
            for ref in chunk:
                rows = seen.get(ref.uri, [])
                if not self._settled_unread(ref, rows):
                    self.seen_rows[ref.uri] = rows
                    yield ref
                self._between_files()

    def _between_files(self) -> None:
        self._take_pdf_outcomes(self.pool.collect(timeout=0))
        if len(self.pending) + len(self.rows) >= FLUSH_DOCUMENTS:
            self._flush()

    def _read(self, ref: DocumentRef, path: Path) -> FileRead:
        """Runs in a fetch thread: hashing (and keeping the bytes of) the file just fetched."""
        keep = kind_of(ref.relpath) is not DocKind.PDF
        return read_file(path, ref.relpath, self.options.max_file_bytes, keep_bytes=keep)

    def _settled_unread(self, ref: DocumentRef, seen: list[dict[str, Any]]) -> bool:
        """Land or touch ``ref`` if it needs no download; False when it must be fetched."""
        kind = kind_of(ref.relpath)
        unread = ref.problem
        if unread is None and (rule := secret_by_name(ref.relpath)) is not None:
            unread = (DocStatus.SECRET, f"{rule}; never read")
        if unread is None and (skipped := self.skips.reason(ref.relpath)) is not None:
            unread = (DocStatus.UNSUPPORTED, f"skipped by default: {skipped}")
        if unread is None and ref.size > self.options.max_file_bytes:
            unread = (DocStatus.TOO_LARGE, _too_large(self.options.max_file_bytes, ref.size))
        if unread is None and kind is DocKind.UNKNOWN and Path(ref.relpath).suffix:
            unread = (DocStatus.UNSUPPORTED, f"unsupported file type {Path(ref.relpath).suffix}")
        if unread is not None:
            if any(r["doc_id"] is None and r["status"] == unread[0] for r in seen):
                self._touch(ref, None)
            else:
                self._land_as_is(
                    ParsedDocument(ref.uri, ref.relpath, None, kind, ref.size, *unread), ref
                )
            return True
        if ref.etag is not None:
            for row in seen:
                if (row["etag"] == ref.etag and row["doc_id"] is not None
                        and row["doc_id"] not in self.textless | self.reocr):  # fmt: skip
                    self._touch(ref, row["doc_id"])
                    return True
        return False

    def _ingest_fetched(self, fetched: Fetched[FileRead]) -> None:
        ref, kind = fetched.ref, kind_of(fetched.ref.relpath)
        # Rows of this file whose content is whole in the store (a damaged row is not).
        damaged = self.textless | self.reocr
        seen = [r for r in self.seen_rows.pop(ref.uri, []) if r["doc_id"] not in damaged]
        exc = fetched.error
        if exc is not None:
            if isinstance(exc, StorageError) and not isinstance(exc, ObjectFetchError):
                raise exc  # the store itself failed (credentials, endpoint): stop, not a row
            if not isinstance(exc, StorageError | OSError):
                raise exc
            reason = str(exc) if isinstance(exc, StorageError) else f"cannot read: {exc}"
            document = ParsedDocument(
                ref.uri, ref.relpath, None, kind, ref.size, DocStatus.UNREADABLE, reason
            )
            return self._land_as_is(document, ref)
        read = fetched.value
        if read is None or read.problem is not None or read.doc_id is None:
            fetched.close()
            problem = (read.problem if read else None) or (DocStatus.UNREADABLE, "not read")
            if any(r["doc_id"] is None and r["status"] == problem[0] for r in seen):
                return self._touch(ref, None)
            document = ParsedDocument(ref.uri, ref.relpath, None, kind, ref.size, *problem)
            return self._land_as_is(document, ref)
        doc_id = read.doc_id
        if doc_id in self.textless:
            self.healed.add((ref.uri, doc_id))
        if doc_id in self.reocr:
            self.reparsed.add((ref.uri, doc_id))
        if any(row["doc_id"] == doc_id for row in seen):
            fetched.close()
            return self._touch(ref, doc_id)
        known = self.known.get(doc_id)
        if known is not None:
            fetched.close()
            return self._copy(ref, doc_id, known)
        base = ParsedDocument(
            ref.uri, ref.relpath, doc_id, kind, ref.size, DocStatus.OK,
            etag=ref.etag, modified=ref.modified,
        )  # fmt: skip
        if kind is DocKind.PDF:
            while not self.pool.has_room:
                self._take_pdf_outcomes(self.pool.collect())
            self.in_pool[doc_id + "|" + ref.uri] = (base, fetched)
            self.pool.submit(doc_id + "|" + ref.uri, str(fetched.path))
            return None
        fetched.close()
        parsed = redact_parsed(parse_text_bytes(read.data or b"", kind, ref.relpath), ref.relpath)
        if kind is DocKind.UNKNOWN and parsed.status is DocStatus.OK:
            base = replace(base, kind=DocKind.TEXT)
        self._parsed(replace(base, status=parsed.status, status_reason=parsed.reason,
                             text=parsed.text))  # fmt: skip
        return None

    def _take_pdf_outcomes(self, outcomes: list) -> None:
        for outcome in outcomes:
            base, fetched = self.in_pool.pop(outcome.key)
            fetched.close()
            # A PDF's text leaves the machine too: the same redaction as any text file.
            pages, redacted = outcome.text.pages, None
            if outcome.text.status is DocStatus.OK:
                pages, redacted = redact_pages(pages, base.relpath)
            reason = outcome.text.reason
            if redacted is not None:
                reason = f"{reason}; {redacted}" if reason else redacted
            text, starts = "\f".join(pages), []
            position = 0
            for page in pages:
                starts.append(position)
                position += len(page) + 1
            if outcome.text.status is not DocStatus.OK:
                text = ""
            document = replace(
                base,
                status=outcome.text.status,
                status_reason=reason,
                text=text,
                page_starts=tuple(starts),
                page_ocr=outcome.text.page_ocr,
            )
            self._parsed(document)

    def _parsed(self, document: ParsedDocument) -> None:
        self.summary.parsed += 1
        self.pending.append(document)
        self._progress(document.relpath)

    def _touch(self, ref: DocumentRef, doc_id: str | None) -> None:
        self.touched.append({"uri": ref.uri, "doc_id": doc_id})
        self.summary.unchanged += 1
        self.summary.files += 1
        self._progress(ref.relpath)

    def _copy(self, ref: DocumentRef, doc_id: str, known: dict[str, Any]) -> None:
        row = self._row_base(ref, doc_id)
        for column in ("kind", "pages", "lines", "tokens", "status", "status_reason", "parser"):
            row[column] = known[column]
        self.summary.copied += 1
        self._add_row(row)
        self._progress(ref.relpath)

    def _land_as_is(self, document: ParsedDocument, ref: DocumentRef) -> None:
        row = self._row_base(ref, document.doc_id)
        row.update(kind=str(document.kind), status=str(document.status),
                   status_reason=document.status_reason)  # fmt: skip
        self._add_row(row)
        self._progress(ref.relpath)

    def _row_base(self, ref: DocumentRef, doc_id: str | None) -> dict[str, Any]:
        return {
            "doc_id": doc_id, "uri": ref.uri, "relpath": ref.relpath, "source": self.source.uri,
            "kind": str(kind_of(ref.relpath)), "bytes": ref.size, "pages": None, "lines": None,
            "tokens": None, "status": "", "status_reason": None, "parser": None,
            "etag": ref.etag, "modified_at": ref.modified, "first_seen": self.now,
            "last_seen": self.now, "last_run_id": self.run_id,
        }  # fmt: skip

    def _add_row(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.summary.files += 1
        self.summary.bytes += row["bytes"] or 0
        self.summary.pages += row["pages"] or 0
        self.summary.tokens += row["tokens"] or 0
        self.summary.by_kind_status[(row["kind"], row["status"])] += 1

    def _flush(self, final: bool = False) -> None:
        ok = [d for d in self.pending if d.status is DocStatus.OK]
        counts = {c.doc_id: c for c in count_documents(ok)}
        texts: list[DocumentTextRow] = []
        pages: list[DocumentPageRow] = []
        for document in self.pending:
            ref = DocumentRef(document.uri, document.relpath, document.size, document.modified,
                              document.etag)  # fmt: skip
            row = self._row_base(ref, document.doc_id)
            count = counts.get(document.doc_id) if document.doc_id else None
            row.update(
                kind=str(document.kind),
                status=str(document.status),
                status_reason=document.status_reason or None,
                pages=document.pages or None,
                lines=document.text.count("\n") + 1 if document.text else None,
                tokens=count.tokens if count else None,
                parser=self._parser(document),
            )
            self._add_row(row)
            if document.doc_id is not None:
                pages.extend(page_rows(document.doc_id, document, self.now))
            if count is not None:
                texts.append(DocumentTextRow(
                    doc_id=count.doc_id, text=document.text,
                    page_starts=list(document.page_starts) or None,
                    page_token_starts=list(count.page_token_starts) or None,
                    tokens=count.tokens, created_at=self.now,
                ))  # fmt: skip
        # One transaction: a kill at any moment leaves every row with its text or neither.
        with self.store.transaction():
            for row in self.rows:
                if (row["uri"], row["doc_id"]) in self.healed:  # its replacement lands with it
                    self.store.drop_damaged_document(row["uri"], row["doc_id"])
                    self.healed.discard((row["uri"], row["doc_id"]))
            for row in self.rows:
                if (row["uri"], row["doc_id"]) in self.reparsed:
                    self.store.drop_parse(row["uri"], row["doc_id"])
                    self.reparsed.discard((row["uri"], row["doc_id"]))
            self.store.append([DocumentRow(**row) for row in self.rows])
            self.store.append(texts)
            self.store.append(pages)
            if self.touched:
                keys = pa.Table.from_pylist(self.touched, TOUCH_SCHEMA)
                self.store.touch_documents(keys, self.now, self.run_id)
        for row in self.rows:
            if row["doc_id"] is not None and row["status"] != "":
                self.known.setdefault(row["doc_id"], row)
        self.textless -= {text.doc_id for text in texts}
        self.reocr -= {page.doc_id for page in pages}
        self.pending, self.rows, self.touched = [], [], []

    def _parser(self, document: ParsedDocument) -> str:
        if document.kind is not DocKind.PDF:
            return "text"
        if any(page.ocr for page in document.page_ocr):
            return f"{self.options.pdf_engine}+tesseract"
        return self.options.pdf_engine

    def _progress(self, current: str) -> None:
        if self.on_progress is not None:
            done = self.summary.files + len(self.pending)
            self.on_progress(IngestProgress(done, self.files_seen, current))


def page_rows(doc_id: str, document: ParsedDocument, now: Any) -> list[DocumentPageRow]:
    """The ``document_pages`` rows of a PDF parsed with OCR on (none when it was off)."""
    return [
        DocumentPageRow(doc_id, p.page, p.text_chars, p.ocr, str(p.source), p.engine, p.languages,
                        p.confidence, p.seconds, p.detail, now)
        for p in document.page_ocr
    ]  # fmt: skip


TOUCH_SCHEMA = pa.schema([("uri", pa.string()), ("doc_id", pa.string())])


def ingest_source(
    source: Source,
    store: Store,
    options: IngestOptions,
    run_id: str,
    on_progress: ProgressCallback | None = None,
) -> IngestSummary:
    """Land every file of ``source`` in ``store``'s ``documents`` table; see the module doc."""
    return _Ingest(source, store, options, run_id, on_progress).run()
