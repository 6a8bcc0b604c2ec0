"""PDF bombs through the whole ingest stage, with each engine: every bomb ends as a row in time.

The bombs are built here (``tests/fixtures/pdf_bombs.py``); limits are small so the test is quick.
The ingest runs in a thread joined with a timeout, so a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from connectors.local import LocalSource
from connectors.store import Store
from tasks.ingest import IngestOptions, ingest_source
from tasks.pdf_pool import PdfLimits
from tests.fixtures.pdf_bombs import BOMBS
from tests.fixtures.pdfs import make_pdf, write

LIMITS = PdfLimits(
    seconds_per_page=0.5, min_seconds=5.0, page_seconds=5.0, memory_mb=1024, max_pages=10_000
)
WHOLE_RUN_SECONDS = 240.0  # far above what the limits allow for six bombs on two workers


@pytest.fixture(scope="module")
def bomb_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bombs")
    for name, make in BOMBS.items():
        write(root / name, make())
    write(root / "fine.pdf", make_pdf([["An ordinary page after the bombs."]]))
    return root


def ingest_with_deadline(root: Path, db: Path, engine: str) -> dict[str, dict]:
    finished: list[dict[str, dict]] = []

    def run() -> None:
        options = IngestOptions(pdf_engine=engine, pdf_limits=LIMITS, workers=2)
        with Store(db) as store:
            ingest_source(LocalSource(root), store, options, "bombs")
            rows = store.query_dicts("SELECT * FROM current_documents")
        finished.append({row["relpath"]: row for row in rows})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WHOLE_RUN_SECONDS)
    assert finished, f"ingest with {engine} did not finish in {WHOLE_RUN_SECONDS:.0f} s"
    return finished[0]


@pytest.mark.parametrize("engine", ["pypdf", "pdfium"])
def test_every_bomb_ends_as_a_row_within_its_limit(bomb_corpus: Path, tmp_path: Path, engine: str):
    pytest.importorskip("pypdfium2")
    rows = ingest_with_deadline(bomb_corpus, tmp_path / "db.duckdb", engine)

    assert sorted(rows) == sorted([*BOMBS, "fine.pdf"])
    assert rows["fine.pdf"]["status"] == "ok"
    for name in ("shared-pages.pdf", "flate-bomb.pdf"):
        assert rows[name]["status"] != "ok", (name, rows[name]["status_reason"])
    if engine == "pdfium":  # pypdf refuses the page tree itself, before counting pages
        assert rows["shared-pages.pdf"]["status"] == "too_large"
        assert (
            "300000 pages is over the limit of 10000" in rows["shared-pages.pdf"]["status_reason"]
        )
    for row in rows.values():
        assert row["status_reason"] or row["status"] == "ok"
        assert (row["pages"] or 0) <= LIMITS.max_pages
