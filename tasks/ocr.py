"""OCR of PDF pages without a text layer: pages rendered with pdfium, read by Tesseract.

Runs inside a PDF parser worker (``tasks.pdf_pool``) after the text layer is extracted, so the
worker's memory limit and the pool's clocks hold for it too. Per page:

- ``auto`` reads only pages whose text layer has fewer than ``MIN_TEXT_CHARS`` non-space
  characters (a scanned signature page in a typed contract); ``always`` reads every page and
  keeps OCR's text (a text layer of unmapped glyphs is worse than none);
- the page is rendered in grey at ``dpi``, smaller when that would pass ``max_pixels``: the cap
  is on the rendered page, so a poster-size page or a 2400-dpi scan costs what a large page costs;
- Tesseract runs as a child process with a wall-clock budget (``page_seconds``); a page that
  passes it is killed and recorded as ``timeout``, and the document goes on. The child inherits
  the worker's address-space limit, so the worker's memory budget bounds it as well.

Why the Tesseract command rather than pytesseract: pytesseract shells out to the same command
through temporary image files and wants Pillow images; calling it directly with the page on
stdin and ``tsv`` output gives the per-word confidences, and ``subprocess``'s timeout kills a
stuck page. ``--psm 1`` (page segmentation with orientation and script detection, from the
``osd`` data) reads pages scanned sideways or upside down; Tesseract deskews lines itself.
``OMP_THREAD_LIMIT=1``: the pool already runs one worker per core, and Tesseract's OpenMP
threads on top of that only contend (Tesseract's own advice for parallel use).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from nightshift.errors import ConfigError
from nightshift.models import DocStatus, PageOcr, PageSource
from nightshift.settings import (
    DEFAULT_OCR_DPI,
    DEFAULT_OCR_LANGUAGES,
    DEFAULT_OCR_MAX_PIXELS,
    DEFAULT_OCR_PAGE_SECONDS,
    OcrMode,
)

MIN_TEXT_CHARS = 16  # a text layer with fewer non-space characters is "empty or nearly so"
LOW_CONFIDENCE = 60.0  # Tesseract's mean word confidence (0-100) under which a page is noted
LISTED_PAGES = 8  # pages named one by one in a reason; more are counted
INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd"
PSM_WITH_ORIENTATION = "1"  # automatic page segmentation with orientation detection (osd)
PSM_WITHOUT_ORIENTATION = "3"  # the same without it, when the osd data is not installed

PageCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class OcrConfig:
    """How pages are OCR'd; ``engine`` and ``detect_rotation`` are filled in by
    ``check_ocr_engine`` from what is installed."""

    mode: OcrMode = "never"
    languages: str = DEFAULT_OCR_LANGUAGES
    dpi: int = DEFAULT_OCR_DPI
    max_pixels: int = DEFAULT_OCR_MAX_PIXELS
    page_seconds: float = DEFAULT_OCR_PAGE_SECONDS
    command: str = "tesseract"
    engine: str = "tesseract"
    detect_rotation: bool = True

    @property
    def enabled(self) -> bool:
        return self.mode != "never"


@dataclass(frozen=True)
class PageReading:
    """Tesseract's text of one page and its mean word confidence (None: no word read)."""

    text: str
    confidence: float | None
    words: int


def check_ocr_engine(config: OcrConfig) -> OcrConfig:
    """``config`` with the installed engine's version, or ``ConfigError`` naming what to
    install when Tesseract, a language's data or pypdfium2 is missing."""
    path = shutil.which(config.command)
    if path is None:
        raise ConfigError(
            f"--ocr {config.mode} needs the Tesseract OCR engine, which is not installed "
            f"(no {config.command!r} on PATH): install it with `{INSTALL_HINT}`"
        )
    try:
        version = _run_quick([path, "--version"]).splitlines()[0].strip()
        listed = _run_quick([path, "--list-langs"]).splitlines()[1:]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        raise ConfigError(f"Tesseract at {path} does not run: {exc}; reinstall it") from None
    installed = {line.strip() for line in listed}
    missing = [lang for lang in config.languages.split("+") if lang not in installed]
    if missing:
        packages = " ".join(f"tesseract-ocr-{lang.lower().replace('_', '-')}" for lang in missing)
        raise ConfigError(
            f"Tesseract has no language data for {', '.join(missing)} "
            f"(NIGHTSHIFT_OCR_LANGUAGES={config.languages}): install {packages}"
        )
    try:
        import pypdfium2  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--ocr renders pages with pypdfium2, which is not installed: "
            "pip install 'nightshift[ocr]'"
        ) from None
    return replace(config, command=path, engine=version, detect_rotation="osd" in installed)


def _run_quick(args: list[str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout or done.stderr


def text_chars(text: str) -> int:
    return sum(1 for char in text if not char.isspace())


def parse_tsv(tsv: str) -> PageReading:
    """Text and mean word confidence from Tesseract's ``tsv`` output.

    Words (level 5) are joined by spaces, lines by a line break, and paragraphs and blocks by a
    blank line; words Tesseract gives a confidence of -1 (not a word) are left out of the mean.
    """
    lines: list[tuple[tuple[str, str, str], list[str]]] = []
    confidences: list[float] = []
    current: tuple[str, str, str, str] | None = None
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) != 12 or cells[0] != "5" or not cells[11].strip():
            continue
        key = (cells[1], cells[2], cells[3], cells[4])  # page, block, paragraph, line
        if key != current:
            lines.append((key[:3], []))
            current = key
        lines[-1][1].append(cells[11].strip())
        confidence = float(cells[10])
        if confidence >= 0:
            confidences.append(confidence)
    parts: list[str] = []
    previous: tuple[str, str, str] | None = None
    for paragraph, words in lines:
        if previous is not None:
            parts.append("\n" if paragraph == previous else "\n\n")
        parts.append(" ".join(words))
        previous = paragraph
    mean = sum(confidences) / len(confidences) if confidences else None
    return PageReading("".join(parts), mean, len(confidences))


def render_page(page: Any, config: OcrConfig) -> tuple[bytes, int]:
    """The page as a binary PGM (grey) image for Tesseract, and the resolution it was drawn at.

    The scale is chosen from the page's size before anything is drawn, so a huge page is never
    allocated at full resolution.
    """
    width, height = page.get_size()  # points, 1/72 inch
    if width <= 0 or height <= 0:
        raise ValueError(f"the page has no size ({width} x {height} pt)")
    scale = config.dpi / 72
    pixels = width * height * scale * scale
    if pixels > config.max_pixels:
        scale *= math.sqrt(config.max_pixels / pixels)
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        columns, rows, stride = bitmap.width, bitmap.height, bitmap.stride
        channels = bitmap.n_channels
        raw = memoryview(bitmap.buffer).cast("B")
        if channels == 1 and stride == columns:
            pixels_bytes = bytes(raw[: columns * rows])
        else:  # padded rows, or a colour bitmap: take the first channel of each pixel
            pixels_bytes = b"".join(
                bytes(raw[r * stride : r * stride + columns * channels : channels])
                for r in range(rows)
            )
    finally:
        bitmap.close()
    header = b"P5 %d %d 255\n" % (columns, rows)
    return header + pixels_bytes, max(1, round(scale * 72))


def read_image(image: bytes, dpi: int, config: OcrConfig) -> PageReading:
    """Tesseract's reading of one PGM image; ``subprocess.TimeoutExpired`` past the budget
    (the child is killed), ``RuntimeError`` when Tesseract fails."""
    psm = PSM_WITH_ORIENTATION if config.detect_rotation else PSM_WITHOUT_ORIENTATION
    args = [config.command, "stdin", "stdout", "-l", config.languages, "--psm", psm,
            "--dpi", str(dpi), "tsv"]  # fmt: skip
    environment = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    done = subprocess.run(
        args, input=image, capture_output=True, timeout=config.page_seconds, env=environment
    )
    if done.returncode != 0:
        message = " ".join(done.stderr.decode("utf-8", "replace").split())[-200:]
        raise RuntimeError(f"tesseract exited with {done.returncode}: {message}")
    return parse_tsv(done.stdout.decode("utf-8", "replace"))


def ocr_page(document: Any, index: int, layer_text: str, config: OcrConfig) -> tuple[PageOcr, str]:
    """OCR page ``index`` (0-based): its record and the text the page keeps."""
    chars = text_chars(layer_text)
    record = PageOcr(index + 1, chars, PageSource.TEXT_LAYER, config.engine, config.languages)
    started = time.monotonic()
    page = document[index]
    try:
        image, dpi = render_page(page, config)
        reading = read_image(image, dpi, config)
    except subprocess.TimeoutExpired:
        seconds = time.monotonic() - started
        detail = f"passed the OCR budget of {config.page_seconds:g} s per page"
        return replace(record, source=PageSource.TIMEOUT, seconds=seconds, detail=detail), (
            layer_text
        )
    except (RuntimeError, ValueError, OSError) as exc:
        detail = " ".join(str(exc).split())[:300]
        seconds = time.monotonic() - started
        return replace(record, source=PageSource.FAILED, seconds=seconds, detail=detail), (
            layer_text
        )
    finally:
        page.close()
    from tasks.pdf_text import clean_page_text  # one cleaning for every page's text

    text = clean_page_text(reading.text)
    record = replace(record, confidence=reading.confidence, seconds=time.monotonic() - started,
                     detail=f"{dpi} dpi")  # fmt: skip
    read_chars = text_chars(text)
    if read_chars == 0:
        return replace(record, source=PageSource.EMPTY if chars == 0 else record.source), (
            layer_text
        )
    if config.mode == "always" or read_chars > chars:
        return replace(record, source=PageSource.OCR), text
    return record, layer_text


def pages_needing_ocr(pages: Sequence[str], mode: OcrMode) -> list[int]:
    """0-based indexes of the pages OCR reads in ``mode``."""
    if mode == "never":
        return []
    return [
        i for i, text in enumerate(pages) if mode == "always" or text_chars(text) < MIN_TEXT_CHARS
    ]


def ocr_document(
    document: Any,
    pages: Sequence[str],
    config: OcrConfig,
    on_page: PageCallback,
) -> tuple[list[str], list[PageOcr]]:
    """The pages' texts with OCR's where it read better, and one record per page."""
    texts = list(pages)
    records = [PageOcr(i + 1, text_chars(t), PageSource.TEXT_LAYER) for i, t in enumerate(texts)]
    for index in pages_needing_ocr(texts, config.mode):
        on_page(index, len(texts))  # the pool's page clock starts on this page
        records[index], texts[index] = ocr_page(document, index, texts[index], config)
    on_page(len(texts), len(texts))
    return texts, records


def ocr_reason(records: Sequence[PageOcr], config: OcrConfig, status: DocStatus) -> str:
    """What OCR did to a document, for its ``status_reason``: which pages it read, how sure it
    was, and every page a reviewer should look at (low confidence, over budget, failed)."""
    read = [r for r in records if r.ocr]
    notes: list[str] = []
    if status is DocStatus.EMPTY_TEXT:
        notes.append(f"no text layer, and OCR read no text, on any of {len(records)} pages")
    if read:
        known = [r.confidence for r in read if r.confidence is not None]
        mean = f"; mean confidence {sum(known) / len(known):.0f}" if known else ""
        notes.append(f"text of {_pages(read)} by OCR ({config.engine}, {config.languages}{mean})")
    low = [r for r in read if r.confidence is not None and r.confidence < LOW_CONFIDENCE]
    if low:
        scores = ", ".join(f"{r.page}: {r.confidence:.0f}" for r in low[:LISTED_PAGES])
        notes.append(
            f"low OCR confidence (under {LOW_CONFIDENCE:.0f}) on {_pages(low)} ({scores}); "
            "check those quotes against the image"
        )
    budget = f"passed its OCR budget of {config.page_seconds:g} s"
    for source, what in ((PageSource.TIMEOUT, budget), (PageSource.FAILED, "failed OCR")):
        hit = [r for r in records if r.source is source]
        if hit:
            first = f" ({hit[0].detail})" if source is PageSource.FAILED and hit[0].detail else ""
            notes.append(f"{_pages(hit)} {what}{first}")
    return "; ".join(notes)


def _pages(records: Sequence[PageOcr]) -> str:
    if len(records) == 1:
        return f"page {records[0].page}"
    if len(records) > LISTED_PAGES:
        return f"{len(records)} pages"
    return "pages " + ", ".join(str(r.page) for r in records)
