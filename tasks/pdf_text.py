"""Text of every page of a PDF, with pypdf (default, best fidelity) or pypdfium2 (opt-in, fast).

These functions run inside a parser worker process (see ``tasks.pdf_pool``): they may be slow,
use a lot of memory or, for the native engine, crash, and the pool contains all three.
``on_page`` is called after each page so that the pool can enforce a per-page time limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nightshift.models import DocStatus, PageOcr, PageSource
from tasks.normalize import normalize_text
from tasks.ocr import OcrConfig, ocr_document, ocr_reason, pages_needing_ocr, text_chars

PageCallback = Callable[[int, int], None]  # (pages done, pages in all)


@dataclass(frozen=True)
class PdfText:
    status: DocStatus
    reason: str = ""
    pages: tuple[str, ...] = ()
    page_ocr: tuple[PageOcr, ...] = ()  # one per page when parsed with OCR on


def clean_page_text(text: str) -> str:
    # NUL and form feed are not text: NUL breaks storage, form feed is our page separator.
    text = text.replace("\x00", "").replace("\f", "\n").replace("\r\n", "\n").replace("\r", "\n")
    # One spelling for look-alike characters (U+037E, NBSP, ligatures): see tasks.normalize.
    return normalize_text(text)


def _result_from_pages(pages: list[str]) -> PdfText:
    if not any(page.strip() for page in pages):
        return PdfText(
            DocStatus.EMPTY_TEXT,
            f"no text layer on any of {len(pages)} pages (a scan or image-only PDF)",
            tuple(pages),
        )
    return PdfText(DocStatus.OK, "", tuple(pages))


def extract_with_pypdf(path: str, passwords: Sequence[str], on_page: PageCallback) -> PdfText:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not _decrypt_pypdf(reader, passwords):
            return PdfText(DocStatus.ENCRYPTED, _encrypted_reason(passwords))
        count = len(reader.pages)
        on_page(0, count)
        pages = []
        for index, page in enumerate(reader.pages):
            pages.append(clean_page_text(page.extract_text() or ""))
            on_page(index + 1, count)
    except PyPdfError as exc:
        return PdfText(DocStatus.CORRUPT, f"pypdf cannot read it: {_one_line(exc)}")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        # pypdf lets some malformed structures surface as plain Python errors.
        return PdfText(DocStatus.CORRUPT, f"pypdf cannot read it: {type(exc).__name__}: {exc}")
    return _result_from_pages(pages)


def _decrypt_pypdf(reader: object, passwords: Sequence[str]) -> bool:
    from pypdf.errors import PyPdfError

    for password in passwords:
        try:
            if reader.decrypt(password):  # type: ignore[attr-defined]
                return True
        except (PyPdfError, NotImplementedError, ValueError):
            continue
    return False


def extract_with_pdfium(path: str, passwords: Sequence[str], on_page: PageCallback) -> PdfText:
    import pypdfium2 as pdfium

    document = _open_pdfium(path, passwords)
    if isinstance(document, PdfText):
        return document
    try:
        count = len(document)
        on_page(0, count)
        pages = []
        for index in range(count):
            page = document[index]
            textpage = page.get_textpage()
            pages.append(clean_page_text(textpage.get_text_bounded()))
            textpage.close()
            page.close()
            on_page(index + 1, count)
    except pdfium.PdfiumError as exc:
        return PdfText(DocStatus.CORRUPT, f"pdfium cannot read it: {_one_line(exc)}")
    finally:
        document.close()
    return _result_from_pages(pages)


def _open_pdfium(path: str, passwords: Sequence[str]) -> Any:
    """An open pdfium document, or the ``PdfText`` saying why it does not open."""
    import pypdfium2 as pdfium

    for password in passwords:
        try:
            return pdfium.PdfDocument(path, password=password or None)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                continue
            return PdfText(DocStatus.CORRUPT, f"pdfium cannot read it: {_one_line(exc)}")
        except OSError as exc:
            return PdfText(DocStatus.UNREADABLE, f"cannot open: {exc.strerror or exc}")
    return PdfText(DocStatus.ENCRYPTED, _encrypted_reason(passwords))


def with_ocr(
    path: str, passwords: Sequence[str], parsed: PdfText, config: OcrConfig, on_page: PageCallback
) -> PdfText:
    """``parsed`` with OCR's text on the pages ``config.mode`` asks for (see ``tasks.ocr``).

    Whatever the text layer's engine, pages are rendered by pdfium; a PDF that pdfium cannot
    open keeps its text layer and says so on every page OCR would have read.
    """
    if not config.enabled or parsed.status not in (DocStatus.OK, DocStatus.EMPTY_TEXT):
        return parsed
    import pypdfium2 as pdfium

    document = _open_pdfium(path, passwords)
    problem = document.reason if isinstance(document, PdfText) else None
    if problem is None and len(document) != len(parsed.pages):
        problem = f"pdfium counts {len(document)} pages, the text layer {len(parsed.pages)}"
    try:
        if problem is None:
            pages, records = ocr_document(document, parsed.pages, config, on_page)
    except pdfium.PdfiumError as exc:
        problem = f"pdfium cannot render it: {_one_line(exc)}"
    finally:
        if not isinstance(document, PdfText):
            document.close()
    if problem is not None:
        pages = list(parsed.pages)
        wanted = set(pages_needing_ocr(pages, config.mode))
        records = [
            PageOcr(i + 1, text_chars(text), PageSource.FAILED if i in wanted else
                    PageSource.TEXT_LAYER, config.engine, config.languages,
                    detail=problem if i in wanted else None)
            for i, text in enumerate(pages)
        ]  # fmt: skip
    result = _result_from_pages(pages)
    reason = ocr_reason(records, config, result.status)
    return PdfText(result.status, reason, result.pages, tuple(records))


EXTRACTORS: dict[str, Callable[[str, Sequence[str], PageCallback], PdfText]] = {
    "pypdf": extract_with_pypdf,
    "pdfium": extract_with_pdfium,
}


def _encrypted_reason(passwords: Sequence[str]) -> str:
    tried = "the empty password" if len(passwords) <= 1 else "the empty and configured passwords"
    return f"encrypted; {tried} did not open it (set NIGHTSHIFT_PDF_PASSWORD)"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
