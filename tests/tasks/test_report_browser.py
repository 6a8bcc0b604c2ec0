"""The HTML report of a simulated review of sample_data/contracts, opened in a real headless
Chromium: one row per contract family, quotes visible, nothing loaded, no console errors.

``make demo`` reviews on the rule-based simulator, so the first run here does too; the value of
a field is asserted only on a run whose simulator answers with the sample contracts' labels
(``oracle_exact``), as the matrix's own tests do."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.store import Store
from flows.pipelines import review_pipeline
from nightshift.options import ReviewOptions
from nightshift.settings import Settings
from tasks.report_html import write_report
from tests.fixtures.browser import chromium_path, opened

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
LABELS = SAMPLE / "contracts.labels.jsonl"
NOTICE = "notice_period_to_terminate_renewal"
MASTER = "harrowgate-bellwether/master-services-agreement.pdf"
AMENDMENT = "harrowgate-bellwether/master-services-agreement-amendment-1.pdf"

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="make test installs chromium")


def review(root: Path, simulator: dict[str, Any]) -> tuple[Path, str]:
    """A database with one simulated legal review of the sample contracts, and its run id."""
    contracts = root / "contracts"
    shutil.copytree(SAMPLE / "contracts", contracts)
    db = root / "review.duckdb"
    options = ReviewOptions(source=str(contracts), profile="legal", db=str(db),
                            backend="simulator", simulator=simulator)  # fmt: skip
    return db, review_pipeline(options, Settings()).run_id


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """As ``make demo`` reviews: the rule-based simulator."""
    return review(tmp_path_factory.mktemp("report"), {})


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The simulator answering with the labels of the sample contracts."""
    return review(tmp_path_factory.mktemp("labelled"), {"oracle": str(LABELS),
                                                        "oracle_exact": True})  # fmt: skip


def families_in(db: Path) -> dict[str, list[str]]:
    """Each contract family's label (the folder of a family of several documents, else the
    document) and its members, master first, as the database records them."""
    with Store(db) as store:
        rows = store.query(
            "SELECT family_id, list(relpath ORDER BY CASE role WHEN 'master' THEN 0 ELSE 1 END,"
            " ordinal NULLS FIRST, relpath) FROM current_document_families GROUP BY family_id"
        )
    return {
        (family.rstrip("/") if len(members) > 1 else members[0]): members
        for family, members in rows
    }


def test_the_report_renders_in_chromium(reviewed: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = reviewed
    out = tmp_path / "report.html"
    write_report(db, out, run_id, datetime.now(UTC))
    families = families_in(db)
    assert len(families) == 7 and families["harrowgate-bellwether"] == [MASTER, AMENDMENT]
    with Store(db) as store:
        quote, relpath = store.query(
            "SELECT quote, relpath FROM latest_extractions WHERE field = 'governing_law' "
            "AND relpath NOT LIKE 'harrowgate%' ORDER BY relpath LIMIT 1"
        )[0]
    with opened(out) as page:
        rows = page.page.locator("tr.matrix-row")
        shown = rows.evaluate_all(
            "rs => rs.map(r => [r.dataset.contract, r.dataset.members.split('|')])"
        )
        assert dict(shown) == families  # one row per contract family, members in precedence
        # Each found cell links to its quote, shown in context in the contract's section.
        row = page.page.locator(f'tr.matrix-row[data-contract="{relpath}"]')
        row.locator("a.state.found").first.click()
        assert page.page.locator("mark", has_text=quote[:60]).first.is_visible()
        assert "Simulated run" in page.page.locator(".banner").inner_text()
        assert run_id in page.page.title()
        page.page.screenshot(path=str(tmp_path / "report.png"))
        assert page.console_errors == [] and page.page_errors == []
        # Self-contained: the only thing the page loaded is itself.
        assert page.requests == [out.resolve().as_uri()]
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_the_harrowgate_row_shows_its_amended_notice_and_chain(
    labelled: tuple[Path, str], tmp_path: Path
) -> None:
    db, run_id = labelled
    out = tmp_path / "report.html"
    write_report(db, out, run_id, datetime.now(UTC))
    with Store(db) as store:
        # Each quote as it stands in its document's text, where the report marks it.
        quotes = dict(store.query(
            "SELECT e.relpath, substr(t.text, e.char_start + 1, e.char_end - e.char_start) "
            "FROM latest_extractions e JOIN document_texts t USING (doc_id) "
            f"WHERE e.field = '{NOTICE}' AND e.relpath IN ('{MASTER}', '{AMENDMENT}')"
        ))  # fmt: skip
    assert "ninety (90) days" in quotes[MASTER]
    assert "twenty (120) days" in " ".join(quotes[AMENDMENT].split())
    with opened(out) as page:
        row = page.page.locator('tr.matrix-row[data-contract="harrowgate-bellwether"]')
        cell = row.locator(f'a.state.found[title^="{NOTICE}:"]')
        assert cell.get_attribute("title") == (
            f"{NOTICE}: 120 days (as amended: {MASTER}: 90 days → {AMENDMENT}: 120 days)"
        )
        cell.click()
        target = page.page.locator(f"tr.found-field[data-field={NOTICE}]:target")
        assert target.locator("td.value").inner_text().startswith("120 days")
        assert "as amended: 90 days → 120 days" in target.locator("td.value").inner_text()
        # The chain, master first, each quote in its context with its page; the last in force.
        shown = target.locator(".quote")
        assert shown.count() == 2
        assert shown.nth(0).locator("mark").inner_text() == quotes[MASTER]
        assert shown.nth(1).locator("mark").inner_text() == quotes[AMENDMENT]
        assert shown.nth(1).locator(".link").inner_text().endswith("page 2: 120 days (in force)")
        assert shown.nth(1).is_visible()
        page.page.screenshot(path=str(tmp_path / "harrowgate.png"))
        assert page.console_errors == [] and page.page_errors == []


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
