"""Evaluation against hand-made labels, on a real DuckDB file, with exact arithmetic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.store import Store
from connectors.tables import (
    DocumentRow,
    DocumentTextRow,
    ExtractionRow,
    RequestRow,
    ReviewRow,
)
from tasks.evaluate import ALL, MIN_OVERLAP, evaluate_run
from tasks.ground import GroundingIndex

T0 = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)
LAW = "This Agreement shall be governed by the laws of the State of Delaware."
TERM = "This Agreement renews for successive one year terms."
CAP = "In no event shall either party's liability exceed the fees paid in the prior year."
OTHER = "Notices shall be sent by registered mail to the addresses above."
A_PAGES = (f"SUPPLY AGREEMENT\n{TERM}\n{OTHER}", f"{CAP}\n{LAW}")
A_TEXT = "\f".join(A_PAGES)
A_STARTS = [0, len(A_PAGES[0]) + 1]
LAW_B = "The laws of England and Wales govern this Agreement and any dispute under it."
B_TEXT = f"SERVICES AGREEMENT\n{LAW_B} Each party submits to the courts of London.\n"
C_TEXT = f"UNLABELLED\n{LAW}\n"
CODE = "try:\n    a()\nexcept Exception: pass\nx = 1\ntry:\n    b()\nexcept Exception: pass\n"
LABELS = [
    {"filename": "a.pdf", "labels": {
        "Governing Law": {"context_spans": [LAW], "answer": "Delaware"},
        "Renewal Term": {"context_spans": [TERM], "answer": "1 year"},
        "Cap On Liability": {"context_spans": [CAP], "answer": "Yes"},
        "Document Name": {"context_spans": ["SUPPLY AGREEMENT"], "answer": ""}}},
    {"filename": "b.txt", "labels": {
        "Governing Law": {"context_spans": [LAW_B], "answer": "England"}}},
    {"filename": "never-reviewed.pdf", "labels": {
        "Governing Law": {"context_spans": [LAW], "answer": "Delaware"}}},
]  # fmt: skip


def document(doc_id: str, relpath: str, kind: str, text: str, starts=None):
    row = DocumentRow(doc_id, f"file:///c/{relpath}", relpath, "file:///c", kind, len(text), None,
                      None, 10, "ok", None, None, None, None, T0, T0, "ingest")  # fmt: skip
    return row, DocumentTextRow(doc_id, text, starts, None, 10, T0)


def extraction(run, doc_id, field, text, quote, model, *, grounded=True, match="exact",
               minutes=0, profile="legal", file=None, line=None):  # fmt: skip
    start = text.find(quote) if grounded else -1
    span = (start, start + len(quote)) if start >= 0 else (None, None)
    return ExtractionRow(run, doc_id, f"k-{run}-{model}", "w1", profile, "v1", field,
                         json.dumps("x"), quote, span[0], span[1], None, file, line, grounded,
                         match if grounded else None, None, model,
                         T0 + timedelta(minutes=minutes), "simulator")  # fmt: skip


def request(run, key, doc_ids, model, cost, attempt=1, status="ok"):
    return RequestRow(key, attempt, run, "w1", 0, doc_ids, [], model, None, None, None, None,
                      T0, T0, status, 200, None, "stop", 1, 0, 1, 1, 0, 0, cost, True, True,
                      True, None, "simulator")  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, Path]:
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in LABELS), encoding="utf-8")
    path = tmp_path / "nightshift.duckdb"
    docs = [document("A", "deals/a.pdf", "pdf", A_TEXT, A_STARTS),
            document("B", "b.txt", "text", B_TEXT), document("C", "c.txt", "text", C_TEXT),
            document("D", "never-reviewed.pdf", "pdf", A_TEXT, A_STARTS)]  # fmt: skip
    flash, pro = "deepseek-v4-flash", "deepseek-v4-pro"
    with Store(path) as store:
        store.append([d for d, _ in docs])
        store.append([t for _, t in docs])
        store.append([ReviewRow(d, "legal", "v1", "r1", T0, "simulator") for d in "ABC"])
        store.append([
            # A: right (the operative part of the labelled clause), wrong, a window duplicate
            # of the wrong one, and an ungrounded answer.
            extraction("r1", "A", "governing_law", A_TEXT, "governed by the laws of the State",
                       flash),
            extraction("r1", "A", "renewal_term", A_TEXT, OTHER, flash),
            extraction("r1", "A", "renewal_term", A_TEXT, OTHER, flash, minutes=1),
            extraction("r1", "A", "cap_on_liability", A_TEXT, "liability is unlimited", flash,
                       grounded=False),
            # B: the label plus a few words after it: overlap/union >= 0.5.
            extraction("r1", "B", "governing_law", B_TEXT, LAW_B + " Each party submits", pro,
                       match="normalized"),
            # C has no labels: not scored.
            extraction("r1", "C", "governing_law", C_TEXT, LAW, flash),
        ])  # fmt: skip
        store.append([
            request("r1", "k-r1-flash", ["A"], flash, 0.10, attempt=1, status="retried"),
            request("r1", "k-r1-flash", ["A"], flash, 0.30, attempt=2),
            request("r1", "k-r1-pro", ["B"], pro, 0.25),
            request("r1", "k-r1-c", ["C"], flash, 0.50),
        ])  # fmt: skip
    return path, labels


def test_per_field_precision_recall_and_f1(db):
    report = evaluate_run(*db, run_id="r1")
    rows = {row["field"]: row for row in report.table_rows()}
    assert report.documents == 2 and report.run_ids == ("r1",)
    law = rows["governing_law"]
    assert (law["labelled"], law["predicted"], law["correct"], law["f1"]) == (2, 2, 2, 1.0)
    assert (rows["renewal_term"]["precision"], rows["renewal_term"]["recall"],
            rows["renewal_term"]["f1"]) == (0.0, 0.0, 0.0)  # fmt: skip
    assert rows["cap_on_liability"]["predicted"] == 1 and rows["cap_on_liability"]["correct"] == 0
    assert rows["insurance"]["precision"] is None and rows["insurance"]["recall"] is None
    assert "document_name" not in rows  # not a field of the legal profile
    total = rows[ALL]
    assert (total["labelled"], total["predicted"], total["correct"], total["found"]) == (4, 4, 2, 2)
    assert (total["precision"], total["recall"], total["f1"]) == (0.5, 0.5, 0.5)


def test_grounding_by_match_kind_and_cost_per_correct_extraction_by_model(db):
    report = evaluate_run(*db, run_id="r1")
    assert report.grounding == {"exact": 2, "normalized": 1, "ungrounded": 1}
    assert report.grounding_rates()["exact"] == 0.5
    costs = {cost.model: cost for cost in report.models}
    # Flash: both attempts of A's request (the retried one was billed too), not C's request.
    assert costs["deepseek-v4-flash"].cost_usd == pytest.approx(0.40)
    assert (costs["deepseek-v4-flash"].predicted, costs["deepseek-v4-flash"].correct) == (3, 1)
    assert costs["deepseek-v4-flash"].cost_per_correct == pytest.approx(0.40)
    assert costs["deepseek-v4-pro"].cost_per_correct == pytest.approx(0.25)
    assert json.loads(report.to_json())["fields"][-1]["key"] == ALL


def test_without_a_run_the_latest_run_per_document_is_scored(db):
    path, labels = db
    with Store(path) as store:
        store.append([extraction("r2", "A", "governing_law", A_TEXT, OTHER, "deepseek-v4-pro",
                                 minutes=60)])  # fmt: skip
        report = evaluate_run(store, labels)
    assert report.run_ids == ("r1", "r2")
    total = report.total
    # A now has only r2's wrong answer; B keeps r1's right one.
    assert (total.predicted, total.correct, total.found, total.labelled) == (2, 1, 1, 4)


def test_the_overlap_rule_at_its_boundary():
    # The rule: overlap/union >= MIN_OVERLAP, or the label contains the quote.
    from tasks.evaluate import _Label, _matches

    label = _Label("A", "f", (100, 200))

    def pred(start, end):
        return {"grounded": True, "file": None, "char_start": start, "char_end": end, "line": 1}

    assert _matches(pred(120, 130), label)  # contained
    assert MIN_OVERLAP == 0.5
    assert not _matches(pred(150, 250), label)  # 50/150: no
    assert _matches(pred(100, 300), label)  # 100/200 = 0.5: yes
    assert not _matches(pred(99, 301), label)  # 100/202 < 0.5
    assert not _matches(pred(200, 300), label)  # touching, no overlap


def test_code_findings_are_correct_on_their_grounded_line(tmp_path):
    issues = tmp_path / "issues.json"
    issues.write_text(json.dumps({"issues": [
        {"file": "app/x.py", "line": 3, "kind": "swallowed exception", "cwe": "CWE-390"},
        {"file": "app/x.py", "line": 7, "kind": "swallowed exception", "cwe": "CWE-390"}]}),
        encoding="utf-8")  # fmt: skip
    index = GroundingIndex(CODE)
    line = index.locate("except Exception: pass", line_hint=7).line
    path = tmp_path / "db.duckdb"
    doc, text = document("X", "app/x.py", "code", CODE)
    with Store(path) as store:
        store.append([doc])
        store.append([text])
        store.append([ReviewRow("X", "codebase", "v1", "r1", T0, "simulator")])
        store.append([extraction("r1", "X", "swallowed_exception", CODE, "x = 1", "m",
                                 profile="codebase", file="app/x.py", line=line)])  # fmt: skip
    report = evaluate_run(path, issues, "r1")
    row = {r["field"]: r for r in report.table_rows()}["swallowed_exception"]
    assert (row["labelled"], row["predicted"], row["correct"], row["recall"]) == (2, 1, 1, 0.5)
