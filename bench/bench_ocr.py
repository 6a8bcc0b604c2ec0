"""OCR throughput and accuracy: pages per second read by Tesseract next to text-layer extraction.

Both rows are measured in the same run, with the same number of parser workers, by the pipeline
itself (``ingest_pipeline`` into a fresh DuckDB file in a temporary directory):

- ``ocr auto``: the OCR corpus ingested with ``--ocr auto``; pages/s counts the pages OCR read
  (``document_pages.ocr_status`` other than ``text_layer``) over the run's wall time;
- ``text layer``: the text corpus (PDFs with a text layer) ingested with OCR off; pages/s counts
  every page parsed.

Then the status of every file of the OCR corpus (each must be a row; none may hang) and, for
every PDF with a ground-truth text beside it, the word recall of the stored text against that
truth: the share of the truth's words (lower case, letters and digits, counted with
multiplicity) found in the text. A ground truth is ``NAME.txt`` beside ``NAME.pdf``, or named by
``--truth FILE=PDF-STEM[,STEM...]`` for several scans of one text.

    python bench/bench_ocr.py [OCR_CORPUS] [--text-corpus DIR] [--workers 2]
                              [--truth linn.txt=linn,skew,rotated_skew]

Without OCR_CORPUS, a small corpus of generated scans (typed page + image-only page) is used,
with their known text as ground truth; the text corpus defaults to sample_data/contracts.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.pipelines import ingest_pipeline  # noqa: E402
from nightshift.settings import OcrMode, Settings  # noqa: E402

WORD = re.compile(r"[a-z0-9]+")


def word_recall(text: str, truth: str) -> float:
    found, wanted = Counter(WORD.findall(text.lower())), Counter(WORD.findall(truth.lower()))
    total = sum(wanted.values())
    return sum(min(n, found[w]) for w, n in wanted.items()) / total if total else 1.0


def ingest(corpus: Path, db: Path, ocr: OcrMode, workers: int) -> float:
    settings = Settings(db_path=db, workers=workers)
    started = time.perf_counter()
    ingest_pipeline(str(corpus), settings, include=("*.pdf", "**/*.pdf"), ocr=ocr)
    return time.perf_counter() - started


def generated_corpus(folder: Path) -> dict[str, str]:
    """A few generated scans in ``folder``; their known text by file stem."""
    from tests.fixtures.pdfs import make_pdf_with_scan, write

    truths = {}
    for n in range(4):
        lines = [
            f"Clause {n}. The Supplier shall deliver the goods within {n + 10} days",
            "of the order, and the Buyer shall pay within thirty days of delivery.",
        ]
        write(folder / f"scan{n}.pdf", make_pdf_with_scan([f"Order form {n}."], lines))
        truths[f"scan{n}"] = f"Order form {n}.\n" + "\n".join(lines)
    return truths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path)
    parser.add_argument("--text-corpus", type=Path, default=ROOT / "sample_data" / "contracts")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--truth", action="append", default=[], help="FILE=STEM[,STEM...]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        truths: dict[str, str] = {}
        corpus = args.corpus
        if corpus is None:
            corpus = scratch_dir / "scans"
            corpus.mkdir()
            truths = generated_corpus(corpus)
        for pdf in corpus.rglob("*.pdf"):
            beside = pdf.with_suffix(".txt")
            if beside.is_file():
                truths[pdf.stem] = beside.read_text(encoding="utf-8", errors="replace")
        for spec in args.truth:
            file, _, stems = spec.partition("=")
            path = Path(file) if Path(file).is_absolute() else next(corpus.rglob(file), None)
            if path is None:
                parser.error(f"no {file} under {corpus}")
            for stem in stems.split(","):
                truths[stem] = path.read_text(encoding="utf-8", errors="replace")
        ocr_db, text_db = scratch_dir / "ocr.duckdb", scratch_dir / "text.duckdb"
        ocr_seconds = ingest(corpus, ocr_db, "auto", args.workers)
        text_seconds = ingest(args.text_corpus, text_db, "never", args.workers)
        with duckdb.connect(str(ocr_db), read_only=True) as con:
            files = con.execute("SELECT count(*) FROM current_documents").fetchone()[0]
            statuses = con.execute(
                "SELECT status, count(*) FROM current_documents GROUP BY ALL ORDER BY ALL"
            ).fetchall()
            page_states = con.execute(
                "SELECT ocr_status, count(*), avg(seconds), avg(confidence) FROM document_pages "
                "GROUP BY ALL ORDER BY ALL"
            ).fetchall()
            ocr_pages = con.execute(
                "SELECT count(*) FROM document_pages WHERE ocr_status <> 'text_layer'"
            ).fetchone()[0]
            texts = con.execute(
                "SELECT d.relpath, d.status, d.status_reason, t.text FROM current_documents d "
                "LEFT JOIN document_texts t USING (doc_id)"
            ).fetchall()
            reasons = con.execute(
                "SELECT relpath, status, status_reason FROM current_documents "
                "WHERE status <> 'ok' ORDER BY relpath"
            ).fetchall()
        with duckdb.connect(str(text_db), read_only=True) as con:
            text_pages = con.execute("SELECT coalesce(sum(pages), 0) FROM documents").fetchone()[0]
    print(f"{'row':<12} {'pages':>6} {'seconds':>8} {'pages/s':>8} {'s/page':>7}", end="")
    print(f"  ({args.workers} workers)")
    for name, pages, seconds in (("ocr auto", ocr_pages, ocr_seconds),
                                 ("text layer", text_pages, text_seconds)):  # fmt: skip
        rate = pages / seconds if seconds else 0.0
        per = seconds / pages if pages else float("nan")
        print(f"{name:<12} {pages:>6} {seconds:>8.1f} {rate:>8.2f} {per:>7.2f}")
    if ocr_pages and text_pages:
        ratio = (text_pages / text_seconds) / (ocr_pages / ocr_seconds)
        print(f"text-layer extraction is {ratio:.0f}x faster per page than OCR")
    print(f"\n{files} files in the OCR corpus, each a row:")
    for status, count in statuses:
        print(f"  {status:<12} {count:>4}")
    print("\npages by OCR outcome (mean seconds, mean confidence):")
    for state, count, seconds, confidence in page_states:
        conf = "" if confidence is None else f"{confidence:6.1f}"
        print(f"  {state:<12} {count:>4} {seconds or 0:8.2f} s {conf}")
    for relpath, status, reason in reasons:
        print(f"  {relpath}: {status}: {(reason or '')[:110]}")
    print("\nword recall against ground truth:")
    for relpath, status, _reason, text in sorted(texts):
        stem = Path(relpath).stem
        if stem in truths:
            recall = word_recall(text or "", truths[stem])
            print(f"  {relpath:<32} {status:<10} {recall:6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
