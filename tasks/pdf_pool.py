"""PDF parsing in worker processes with a time and a memory limit per document.

A hostile PDF can make a parser loop, allocate without bound or (a native engine) crash. Each
worker is a separate process with an address-space limit; the parent watches two clocks per
document and kills a worker that passes either:

- the document's budget: ``max(min_seconds, pages * seconds_per_page)``, because real contracts
  of 150 pages legitimately take over a minute with pypdf and a flat per-file limit would throw
  them away;
- the page limit: no single page may take longer than ``page_seconds`` (a stuck page is caught
  long before a 150-page budget runs out).

A page count over ``max_pages`` ends the document as soon as the worker reports it: a page tree
that points 300,000 times at one page parses fast per page, so neither clock would stop it, and
its text (300,000 pages) would then cost the ingest process dearly to count and store.

With OCR on (``tasks.ocr``), a worker also renders and reads the pages without text; each such
page has its own OCR budget inside the worker, and both clocks grow by that budget per page,
so that a slow scan ends with its slow pages recorded rather than the whole document killed.

A killed or crashed worker is replaced and the document ends with a status and a reason naming
the limit; the run goes on.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Any

from nightshift.errors import NightshiftError
from nightshift.models import DocStatus
from nightshift.settings import (
    DEFAULT_PDF_MAX_PAGES,
    DEFAULT_PDF_MEMORY_MB,
    DEFAULT_PDF_MIN_SECONDS,
    DEFAULT_PDF_PAGE_SECONDS,
    DEFAULT_PDF_SECONDS_PER_PAGE,
)
from tasks.ocr import OcrConfig, check_ocr_engine
from tasks.pdf_text import EXTRACTORS, PdfText, with_ocr

WORKER_STARTUP_SECONDS = 120.0


@dataclass(frozen=True)
class PdfLimits:
    """Per-document limits of the parser processes; the defaults are the settings' defaults."""

    seconds_per_page: float = DEFAULT_PDF_SECONDS_PER_PAGE
    min_seconds: float = DEFAULT_PDF_MIN_SECONDS
    page_seconds: float = DEFAULT_PDF_PAGE_SECONDS
    memory_mb: int = DEFAULT_PDF_MEMORY_MB
    max_pages: int = DEFAULT_PDF_MAX_PAGES


@dataclass(frozen=True)
class PdfOutcome:
    key: str
    text: PdfText
    seconds: float


def _worker_main(
    conn: Connection, engine: str, passwords: tuple[str, ...], memory_mb: int, ocr: OcrConfig
) -> None:
    # pypdf logs every odd font at WARNING; the outcome carries what matters.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    # Import the engine before the limit so that the limit bounds parsing, not the import.
    extractor = EXTRACTORS[engine]
    if engine == "pdfium" or ocr.enabled:
        import pypdfium2  # noqa: F401
    if engine == "pypdf":
        import pypdf  # noqa: F401
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        key, path = job

        def on_page(done: int, total: int, key: str = key) -> None:
            conn.send(("progress", key, done, total))

        try:
            result = extractor(path, passwords, on_page)
            result = with_ocr(path, passwords, result, ocr, on_page)
        except MemoryError:
            result = PdfText(DocStatus.TIMEOUT, f"memory limit of {memory_mb} MB exceeded")
        except RecursionError:
            result = PdfText(DocStatus.CORRUPT, "structure nested too deeply to parse")
        conn.send(("done", key, result))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    key: str | None = None
    started: float = 0.0
    last_progress: float = 0.0
    pages_done: int = 0
    pages_total: int | None = None


@dataclass
class PdfParserPool:
    """Parse PDFs on ``workers`` processes. ``submit`` jobs, ``collect`` outcomes as they finish."""

    workers: int
    engine: str = "pypdf"
    passwords: Sequence[str] = ("",)
    limits: PdfLimits = field(default_factory=PdfLimits)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    _pool: list[_Worker] = field(default_factory=list, init=False)
    _context: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.engine not in EXTRACTORS:
            raise ValueError(
                f"unknown PDF engine {self.engine!r}; choose one of {list(EXTRACTORS)}"
            )
        # Not fork: the parent holds threads (tokenizers, Prefect) that fork would copy. A fork
        # server starts once with the parsers preloaded and forks each worker from that clean
        # state. (multiprocessing still imports the parent's __main__ in each worker, as it
        # does for spawn: about a second per worker under a Prefect worker, once per run.)
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["tasks.pdf_text", "pypdf"])
        if self.ocr.enabled:  # fails at once, with what to install, when OCR cannot run
            self.ocr = check_ocr_engine(self.ocr)

    def __enter__(self) -> PdfParserPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def busy(self) -> int:
        return sum(1 for worker in self._pool if worker.key is not None)

    @property
    def has_room(self) -> bool:
        return self.busy < self.workers

    def submit(self, key: str, path: str) -> None:
        worker = next((w for w in self._pool if w.key is None), None)
        if worker is None:
            if len(self._pool) >= self.workers:
                raise RuntimeError("no idle parser worker; collect() first")
            worker = self._spawn()
        now = time.monotonic()
        worker.key, worker.started, worker.last_progress = key, now, now
        worker.pages_done, worker.pages_total = 0, None
        worker.conn.send((key, path))

    def collect(self, timeout: float | None = None) -> list[PdfOutcome]:
        """Wait up to ``timeout`` seconds for at least one outcome; enforce the limits meanwhile."""
        outcomes: list[PdfOutcome] = []
        give_up_at = None if timeout is None else time.monotonic() + timeout
        while not outcomes and self.busy:
            now = time.monotonic()
            wake = min(self._deadline(w)[0] for w in self._pool if w.key is not None)
            if give_up_at is not None:
                wake = min(wake, give_up_at)
            ready = wait([w.conn for w in self._pool if w.key is not None], max(0.0, wake - now))
            for conn in ready:
                worker = next(w for w in self._pool if w.conn is conn)
                outcome = self._receive(worker)
                if outcome is not None:
                    outcomes.append(outcome)
            outcomes.extend(self._enforce_deadlines())
            if give_up_at is not None and time.monotonic() >= give_up_at:
                break
        return outcomes

    def close(self) -> None:
        for worker in self._pool:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.conn.send(None)
        for worker in self._pool:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._pool.clear()

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main,
            args=(child, self.engine, tuple(self.passwords), self.limits.memory_mb, self.ocr),
            daemon=True,
        )
        process.start()
        child.close()
        # A worker's start-up (a new interpreter, the engine's import) is not the document's
        # time: wait for it before any clock starts.
        try:
            started = parent.poll(WORKER_STARTUP_SECONDS) and parent.recv()[0] == "ready"
        except (EOFError, OSError):
            started = False
        if not started:
            process.kill()
            process.join()
            raise NightshiftError(
                f"a {self.engine} PDF parser process did not start (exit code "
                f"{process.exitcode}); is the engine installed?"
            )
        worker = _Worker(process=process, conn=parent)
        self._pool.append(worker)
        return worker

    def _receive(self, worker: _Worker) -> PdfOutcome | None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            code = worker.process.exitcode
            reason = f"the {self.engine} parser process crashed (exit code {code})"
            return self._replace(worker, PdfText(DocStatus.CORRUPT, reason))
        kind, key = message[0], message[1]
        if key != worker.key:
            return None
        if kind == "progress":
            worker.pages_done, worker.pages_total = message[2], message[3]
            worker.last_progress = time.monotonic()
            if worker.pages_total > self.limits.max_pages:
                reason = (
                    f"{worker.pages_total} pages is over the limit of {self.limits.max_pages} "
                    "pages per PDF; not parsed"
                )
                return self._replace(worker, PdfText(DocStatus.TOO_LARGE, reason))
            return None
        outcome = PdfOutcome(key, message[2], time.monotonic() - worker.started)
        worker.key = None
        return outcome

    def _deadline(self, worker: _Worker) -> tuple[float, str]:
        limits = self.limits
        if self.ocr.enabled:  # each page may also be rendered and read within its OCR budget
            extra = self.ocr.page_seconds
            limits = replace(limits, seconds_per_page=limits.seconds_per_page + extra,
                             page_seconds=limits.page_seconds + extra)  # fmt: skip
        if worker.pages_total is None:
            return (
                worker.started + limits.min_seconds,
                f"could not open the PDF within {limits.min_seconds:.0f} s",
            )
        budget = max(limits.min_seconds, worker.pages_total * limits.seconds_per_page)
        document_deadline = worker.started + budget
        page_deadline = worker.last_progress + limits.page_seconds
        if page_deadline < document_deadline:
            return (
                page_deadline,
                f"page {worker.pages_done + 1} of {worker.pages_total} took over "
                f"{limits.page_seconds:.0f} s (per-page limit)",
            )
        return (
            document_deadline,
            f"{worker.pages_total}-page PDF passed its budget of {budget:.0f} s "
            f"({limits.seconds_per_page:g} s per page, {limits.min_seconds:.0f} s minimum) "
            f"after {worker.pages_done} pages",
        )

    def _enforce_deadlines(self) -> list[PdfOutcome]:
        now = time.monotonic()
        outcomes = []
        for worker in list(self._pool):
            if worker.key is None:
                continue
            deadline, reason = self._deadline(worker)
            if now >= deadline:
                outcomes.append(self._replace(worker, PdfText(DocStatus.TIMEOUT, reason)))
        return outcomes

    def _replace(self, worker: _Worker, text: PdfText) -> PdfOutcome:
        """End a stuck or dead worker; a fresh one is spawned on the next submit."""
        outcome = PdfOutcome(worker.key or "", text, time.monotonic() - worker.started)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()
        self._pool.remove(worker)
        return outcome
