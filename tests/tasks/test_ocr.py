"""The OCR stage on real Tesseract and pdfium, inside real parser worker processes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.pipelines import ingest_pipeline
from nightshift.errors import ConfigError
from nightshift.models import DocStatus, PageSource
from nightshift.settings import Settings
from tasks.ocr import OcrConfig, check_ocr_engine, parse_tsv, render_page
from tasks.pdf_pool import PdfParserPool
from tests.fixtures.pdfs import make_pdf, make_pdf_with_scan, write
from tests.tasks.test_pdf_pool import run_jobs

TYPED = ["This Services Agreement is entered into by Acme Corp and Beta LLC."]
SCANNED = [
    "12. Governing Law. This Agreement shall be governed by the",
    "laws of the State of Delaware, without regard to its conflict",
]


@pytest.fixture(scope="module")
def mixed_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("ocr") / "mixed.pdf", make_pdf_with_scan(TYPED, SCANNED))


def words(text: str) -> list[str]:
    return text.lower().replace(",", " ").replace(".", " ").split()


def test_auto_reads_only_the_page_without_text_and_records_its_confidence(mixed_pdf: Path):
    with PdfParserPool(workers=1, ocr=OcrConfig(mode="auto")) as pool:
        outcome = run_jobs(pool, [("mixed", mixed_pdf)])["mixed"].text
    with PdfParserPool(workers=1) as pool:  # the same file with OCR off
        plain = run_jobs(pool, [("mixed", mixed_pdf)])["mixed"].text
    assert outcome.status is DocStatus.OK
    typed, scanned = outcome.page_ocr
    assert (typed.source, typed.seconds) == (PageSource.TEXT_LAYER, None)  # never rendered
    assert outcome.pages[0] == plain.pages[0]
    assert plain.pages[1] == ""
    assert scanned.source is PageSource.OCR and scanned.engine.startswith("tesseract ")
    assert scanned.confidence is not None and 0 < scanned.confidence <= 100
    assert words(" ".join(SCANNED)) == words(outcome.pages[1])
    assert f"mean confidence {scanned.confidence:.0f}" in outcome.reason


def test_always_reads_the_typed_page_too(mixed_pdf: Path):
    with PdfParserPool(workers=1, ocr=OcrConfig(mode="always")) as pool:
        outcome = run_jobs(pool, [("mixed", mixed_pdf)])["mixed"].text
    assert [page.source for page in outcome.page_ocr] == [PageSource.OCR, PageSource.OCR]
    assert words(outcome.pages[0]) == words(TYPED[0])


def test_a_page_over_its_ocr_budget_is_recorded_and_the_document_goes_on(mixed_pdf: Path):
    config = OcrConfig(mode="auto", page_seconds=0.01)  # no page is read that fast
    with PdfParserPool(workers=1, ocr=config) as pool:
        outcomes = run_jobs(pool, [("slow", mixed_pdf), ("after", mixed_pdf)])
    slow = outcomes["slow"].text
    assert slow.status is DocStatus.OK  # the typed page still carries the document
    assert slow.page_ocr[1].source is PageSource.TIMEOUT
    assert "page 2 passed its OCR budget of 0.01 s" in slow.reason
    assert slow.pages[1] == ""
    assert outcomes["after"].text.page_ocr[1].source is PageSource.TIMEOUT  # same worker, alive


def test_a_scan_with_no_text_at_all_says_so(tmp_path: Path):
    blank = write(tmp_path / "blank.pdf", make_pdf([[]]))
    with PdfParserPool(workers=1, ocr=OcrConfig(mode="auto")) as pool:
        outcome = run_jobs(pool, [("blank", blank)])["blank"].text
    assert outcome.status is DocStatus.EMPTY_TEXT
    assert outcome.page_ocr[0].source is PageSource.EMPTY
    assert "OCR read no text" in outcome.reason


def test_a_huge_page_is_rendered_under_the_pixel_cap(tmp_path: Path):
    import pypdfium2 as pdfium

    poster = make_pdf([["poster"]]).replace(
        b"/MediaBox [0 0 612 792]", b"/MediaBox [0 0 14400 14400]"
    )
    document = pdfium.PdfDocument(write(tmp_path / "poster.pdf", poster))
    try:
        image, dpi = render_page(document[0], OcrConfig(mode="auto", max_pixels=1_000_000))
    finally:
        document.close()
    header = image.split(b"\n", 1)[0].split()
    width, height = int(header[1]), int(header[2])
    assert width * height <= 1_000_000
    assert len(image) == len(b"P5 %d %d 255\n" % (width, height)) + width * height
    assert dpi < 10  # 200 inches a side at 300 dpi would be 3.6 billion pixels


def test_tsv_words_join_into_lines_and_paragraphs_and_non_words_leave_the_mean():
    columns = "level page_num block_num par_num line_num word_num left top width height conf text"
    header = columns.replace(" ", "\t")
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t10\t10\t-1\t",
        "5\t1\t1\t1\t1\t1\t0\t0\t1\t1\t90\tGoverning",
        "5\t1\t1\t1\t1\t2\t0\t0\t1\t1\t80\tLaw.",
        "5\t1\t1\t1\t2\t1\t0\t0\t1\t1\t70\tThis",
        "5\t1\t2\t1\t1\t1\t0\t0\t1\t1\t-1\t ",
        "5\t1\t2\t1\t1\t2\t0\t0\t1\t1\t60\tDelaware",
    ]
    reading = parse_tsv("\n".join([header, *rows]))
    assert reading.text == "Governing Law.\nThis\n\nDelaware"
    assert (reading.confidence, reading.words) == (75.0, 4)


def test_a_missing_engine_or_language_names_what_to_install():
    with pytest.raises(ConfigError, match=r"apt-get install tesseract-ocr tesseract-ocr-eng"):
        check_ocr_engine(OcrConfig(mode="auto", command="no-such-tesseract"))
    with pytest.raises(ConfigError, match=r"install tesseract-ocr-chi-sim"):
        check_ocr_engine(OcrConfig(mode="auto", languages="eng+chi_sim"))
    with pytest.raises(ConfigError, match="Tesseract"):
        PdfParserPool(workers=1, ocr=OcrConfig(mode="always", command="no-such-tesseract"))


def test_a_scan_ingested_without_ocr_is_parsed_again_when_ocr_is_asked_for(
    mixed_pdf: Path, tmp_path: Path
):
    settings = Settings(db_path=tmp_path / "db.duckdb", workers=1)
    ingest_pipeline(str(mixed_pdf), settings)
    again_without = ingest_pipeline(str(mixed_pdf), settings)
    assert again_without.summary.unchanged == 1
    with_ocr = ingest_pipeline(str(mixed_pdf), settings, ocr="auto")
    assert (with_ocr.summary.parsed, with_ocr.summary.unchanged) == (1, 0)
    once_more = ingest_pipeline(str(mixed_pdf), settings, ocr="auto")
    assert once_more.summary.unchanged == 1  # OCR'd once, never again
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        documents = con.execute("SELECT parser FROM documents").fetchall()
        texts = con.execute("SELECT text FROM document_texts").fetchall()
        pages = con.execute("SELECT page, ocr FROM document_pages ORDER BY page").fetchall()
    assert documents == [("pypdf+tesseract",)]
    assert len(texts) == 1 and "Delaware" in texts[0][0]
    assert pages == [(1, False), (2, True)]
