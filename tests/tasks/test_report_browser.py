"""The HTML report of a simulated review of sample_data/contracts, opened in a real headless
Chromium: one row per contract, quotes visible, nothing loaded, no console errors."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.store import Store
from flows.pipelines import review_pipeline
from nightshift.options import ReviewOptions
from nightshift.settings import Settings
from tasks.report_html import write_report
from tests.fixtures.browser import chromium_path, opened

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="make test installs chromium")


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A database with one simulated legal review of the sample contracts, and its run id."""
    root = tmp_path_factory.mktemp("report")
    contracts = root / "contracts"
    shutil.copytree(SAMPLE / "contracts", contracts)
    db = root / "review.duckdb"
    options = ReviewOptions(source=str(contracts), profile="legal", db=str(db),
                            backend="simulator")  # fmt: skip
    result = review_pipeline(options, Settings())
    return db, result.run_id


def test_the_report_renders_in_chromium(reviewed: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = reviewed
    out = tmp_path / "report.html"
    write_report(db, out, run_id, datetime.now(UTC))
    with Store(db) as store:
        contracts = sorted({row[0] for row in store.query(
            "SELECT relpath FROM current_documents WHERE status = 'ok'")})  # fmt: skip
        quote, relpath = store.query(
            "SELECT quote, relpath FROM latest_extractions WHERE field = 'governing_law' "
            "ORDER BY relpath LIMIT 1"
        )[0]
    with opened(out) as page:
        rows = page.page.locator("tr.matrix-row")
        assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.document)")) == contracts
        # Each found cell links to its quote, shown in context in the document's section.
        row = page.page.locator(f'tr.matrix-row[data-document="{relpath}"]')
        row.locator("a.state.found").first.click()
        shown = page.page.locator("mark", has_text=quote[:60]).first
        assert shown.is_visible()
        assert "Simulated run" in page.page.locator(".banner").inner_text()
        assert run_id in page.page.title()
        page.page.screenshot(path=str(tmp_path / "report.png"))
        assert page.console_errors == [] and page.page_errors == []
        # Self-contained: the only thing the page loaded is itself.
        assert page.requests == [out.resolve().as_uri()]
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_quote_with_markup_is_text_not_html(reviewed: tuple[Path, str], tmp_path: Path) -> None:
    """Quotes come from untrusted documents: markup in them is shown, never run."""
    db, run_id = reviewed
    copy = tmp_path / "hostile.duckdb"
    shutil.copy(db, copy)
    hostile = '<script>console.error("ran")</script><img src=x onerror=alert(1)>'
    with Store(copy) as store:
        store.query("UPDATE extractions SET quote = ?, char_start = NULL WHERE field = 'parties'",
                    [hostile])  # fmt: skip
    out = tmp_path / "hostile.html"
    write_report(copy, out, run_id, datetime.now(UTC))
    with opened(out) as page:
        assert page.page.locator("mark", has_text="<script>").count() > 0
        assert page.console_errors == [] and page.page_errors == []
        assert page.requests == [out.resolve().as_uri()]
