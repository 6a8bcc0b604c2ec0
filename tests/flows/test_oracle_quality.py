"""Quality measured end to end with the oracle (a perfect model, perturbed like a real one):
ingest, plan, dispatch over loopback, ground, land, and ``nightshift eval``'s arithmetic.

The corpora are built here: a PDF whose clause crosses a page break under a footer, a text with
NBSPs and a Greek question mark for ";", and the sample codebase with its planted issues."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from pydantic import SecretStr

from connectors.simulator import SimulatorConfig, running_simulator
from connectors.simulator_oracle import NO_PERTURBATION, Oracle, Perturbation
from flows.pipelines import review_pipeline
from nightshift.options import ReviewOptions
from nightshift.settings import Settings
from tasks.evaluate import evaluate_run
from tests.fixtures.pdfs import make_pdf

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
CLAUSE = ("Either party may terminate this Agreement for convenience upon ninety days prior "
          "written notice to the other party.")  # fmt: skip
LAW = "This Agreement shall be governed by the laws of the State of Delaware; and no other."


def build_contracts(root: Path) -> Path:
    """A two-page PDF with the termination clause split by the page break and a footer, and a
    text contract whose words are joined by NBSPs."""
    root.mkdir()
    cut = CLAUSE.rindex(" ", 0, 60)  # the page ends between two words
    head, tail = CLAUSE[:cut], CLAUSE[cut + 1 :]
    page_1 = ["MASTER SERVICES AGREEMENT", "", "1. Term and termination.", head,
              "", "Source: ACME CORP, S-1/A, 3/22/2000"]  # fmt: skip
    page_2 = ["2", tail, "", "2. Governing law.", LAW]
    (root / "master.pdf").write_bytes(make_pdf([page_1, page_2]))
    nbsp = LAW.replace(" ", "\u00a0").replace(";", "\u037e")
    (root / "nda.txt").write_text(f"MUTUAL NDA\n\n{nbsp}\n", encoding="utf-8")
    labels = [
        {"filename": "master.pdf", "labels": {
            "Termination For Convenience": {"context_spans": [CLAUSE], "answer": "Yes"},
            "Governing Law": {"context_spans": [LAW], "answer": "Delaware"}}},
        {"filename": "nda.txt", "labels": {
            "Governing Law": {"context_spans": [LAW], "answer": "Delaware"}}},
    ]  # fmt: skip
    path = root.parent / "labels.jsonl"
    path.write_text("\n".join(json.dumps(record) for record in labels), encoding="utf-8")
    return path


def review_with(oracle: Oracle, source: Path, profile: str, db: Path, settings: Settings) -> str:
    with running_simulator(SimulatorConfig(oracle=oracle)) as simulator:
        settings = settings.model_copy(
            update={
                "deepseek_base_url": simulator.base_url,
                "deepseek_api_key": SecretStr("sk-oracle"),
            }
        )
        options = ReviewOptions(source=str(source), profile=profile, db=str(db))
        result = review_pipeline(options, settings)
    assert result.status == "completed"
    return result.run_id


@pytest.mark.parametrize("perturbation", [NO_PERTURBATION, Perturbation(seed=3)],
                         ids=["exact", "perturbed"])  # fmt: skip
def test_labelled_clauses_land_grounded_on_the_right_page(
    tmp_path: Path, perturbation: Perturbation
) -> None:
    labels = build_contracts(tmp_path / "contracts")
    db = tmp_path / "q.duckdb"
    run_id = review_with(Oracle.from_path(labels, perturbation), tmp_path / "contracts", "legal",
                         db, Settings())  # fmt: skip
    report = evaluate_run(db, labels, run_id)
    assert report.total.labelled == 3
    assert report.total.recall == 1.0
    assert report.total.precision == 1.0
    with duckdb.connect(str(db), read_only=True) as con:
        pages = con.execute(
            "SELECT field, page, match FROM extractions JOIN current_documents USING (doc_id) "
            "WHERE relpath = 'master.pdf' ORDER BY field"
        ).fetchall()
        unscored = con.execute(
            "SELECT count(*) FROM extractions WHERE grounded AND match_score IS NULL"
        ).fetchone()
        states = dict(con.execute(
            "SELECT state, count(*) FROM latest_field_states GROUP BY ALL").fetchall())  # fmt: skip
    assert [(field, page) for field, page, _ in pages] == [
        ("governing_law", 2), ("termination_for_convenience", 1)]  # fmt: skip
    # The clause crossing the page break is not the PDF's verbatim text: it skips the footer.
    assert dict((f, m) for f, _, m in pages)["termination_for_convenience"] != "exact"
    # Completeness: two documents x the legal profile's fields, every one decided; the oracle
    # declares absent what has no label, so nothing is left missing.
    assert unscored == (0,)
    assert states.get("missing", 0) == 0
    assert states["answered"] == 3
    assert sum(states.values()) == 2 * 25


def test_every_planted_issue_lands_at_its_line_once_with_lines_perturbed(tmp_path: Path) -> None:
    labels = SAMPLE / "codebase.issues.json"
    shifted = Perturbation(elide=0, reflow=0, quotes=0, drop_period=0, line_shift=1.0,
                           paraphrase=0, seed=5)  # fmt: skip
    db = tmp_path / "code.duckdb"
    review_with(Oracle.from_path(labels, shifted), SAMPLE / "codebase", "codebase", db,
                Settings())  # fmt: skip
    planted = json.loads(labels.read_text(encoding="utf-8"))["issues"]
    with duckdb.connect(str(db), read_only=True) as con:
        landed = con.execute(
            "SELECT file, line FROM extractions WHERE grounded ORDER BY file, line"
        ).fetchall()
    assert sorted(landed) == sorted((issue["file"], issue["line"]) for issue in planted)


def test_the_sample_contracts_labels_are_found_whole_by_the_exact_oracle(tmp_path: Path) -> None:
    labels = SAMPLE / "contracts.labels.jsonl"
    db = tmp_path / "sample.duckdb"
    run_id = review_with(Oracle.from_path(labels, NO_PERTURBATION), SAMPLE / "contracts", "legal",
                         db, Settings())  # fmt: skip
    report = evaluate_run(db, labels, run_id)
    assert report.total.labelled >= 120
    assert report.total.recall == report.total.precision == 1.0
