"""The clause matrix of real review runs (the simulator's exact oracle answers with the sample
contracts' labels): a row per contract, the Harrowgate family as one row as amended, exports
that standard readers open, and an amendment that arrives a night later."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import openpyxl
import pytest
from typer.testing import CliRunner

from connectors.store import Store
from flows.pipelines import review_pipeline
from nightshift.cli import app
from nightshift.options import ReviewOptions
from nightshift.profiles import load_profile
from nightshift.settings import Settings
from tasks.matrix import ClauseMatrix, clause_matrix, write_csv
from tasks.matrix_xlsx import write_xlsx

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "sample_data" / "contracts"
LABELS = ROOT / "sample_data" / "contracts.labels.jsonl"
NOTICE = "notice_period_to_terminate_renewal"
MASTER = "harrowgate-bellwether/master-services-agreement.pdf"
AMENDMENT = "harrowgate-bellwether/master-services-agreement-amendment-1.pdf"


def review(source: Path, db: Path) -> str:
    options = ReviewOptions(source=str(source), profile="legal", db=str(db), backend="simulator",
                            simulator={"oracle": str(LABELS), "oracle_exact": True})  # fmt: skip
    result = review_pipeline(options, Settings())
    assert result.status == "completed"
    return result.run_id


def matrix_of(db: Path, run_id: str | None = None) -> ClauseMatrix:
    with Store(db) as store:
        return clause_matrix(store, "legal", run_id)


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("sample")
    shutil.copytree(CONTRACTS, folder / "contracts")
    db = folder / "review.duckdb"
    return db, review(folder / "contracts", db)


def test_one_row_per_contract_with_a_state_for_every_field(sample_db: tuple[Path, str]) -> None:
    db, run_id = sample_db
    matrix = matrix_of(db, run_id)
    contracts = sorted(p.relative_to(CONTRACTS).as_posix() for p in CONTRACTS.rglob("*.*"))
    assert sorted(m for row in matrix.rows for m in row.members) == contracts
    assert len(matrix.rows) == len(contracts) - 1  # the amendment shares its master's row
    assert matrix.columns == tuple(f.name for f in load_profile("legal").fields)
    for row in matrix.rows:
        assert [cell.field for cell in row.cells] == list(matrix.columns)
        assert {cell.state for cell in row.cells} <= {"found", "absent"}
        for cell in row.cells:
            if cell.state == "found":
                assert cell.quote and cell.relpath in row.members and cell.chain
    # What the labels hold is what the matrix says is found.
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute(
            "SELECT count(*) FROM document_field_values WHERE profile = 'legal' AND state = 'found'"
        ).fetchone()
    assert found is not None and found[0] > 0


def test_the_harrowgate_family_is_one_row_as_amended(sample_db: tuple[Path, str]) -> None:
    db, _ = sample_db
    (family,) = [row for row in matrix_of(db).rows if len(row.members) > 1]
    assert family.members == (MASTER, AMENDMENT)  # master first: the order of precedence
    notice = family.cell(NOTICE)
    assert (notice.state, notice.value, notice.relpath) == ("found", "120 days", AMENDMENT)
    assert [(link.relpath, link.role, link.value) for link in notice.chain] == [
        (MASTER, "master", "90 days"), (AMENDMENT, "amendment", "120 days"),
    ]  # fmt: skip
    assert "120" in (notice.quote or "") and notice.page is not None


def test_a_notice_period_under_a_threshold_is_a_where_clause(sample_db: tuple[Path, str]) -> None:
    db, _ = sample_db
    with duckdb.connect(str(db), read_only=True) as con:
        short = con.execute(
            "SELECT family_id, value_days FROM clause_matrix WHERE profile = 'legal' "
            f"AND field = '{NOTICE}' AND value_days < 100 ORDER BY value_days"
        ).fetchall()
        typed = con.execute(
            "SELECT value_type, value_days FROM latest_extractions "
            f"WHERE field = '{NOTICE}' AND relpath = '{MASTER}'"
        ).fetchall()
    assert [days for _, days in short] == [30, 60]  # 90 days was amended to 120
    assert "harrowgate-bellwether/" not in [family for family, _ in short]
    assert typed == [("duration", 90)]


def test_csv_and_xlsx_open_with_standard_readers(
    sample_db: tuple[Path, str], tmp_path: Path
) -> None:
    db, _ = sample_db
    matrix = matrix_of(db)
    write_csv(matrix, tmp_path / "m.csv")
    with (tmp_path / "m.csv").open(encoding="utf-8", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert [line["contract"] for line in lines] == [row.label for row in matrix.rows]
    harrowgate = next(line for line in lines if line["contract"] == "harrowgate-bellwether")
    assert (harrowgate[NOTICE], harrowgate[f"{NOTICE} state"]) == ("120 days", "found")

    write_xlsx(matrix, tmp_path / "m.xlsx")
    book = openpyxl.load_workbook(tmp_path / "m.xlsx")
    sheet = book["matrix"]
    header = [cell.value for cell in sheet[1]]
    assert header == ["contract", "documents", *matrix.columns]
    assert sheet.max_row == len(matrix.rows) + 1
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "harrowgate-bellwether")
    notice = row[header.index(NOTICE)]
    assert notice.value == "120 days"
    assert notice.comment is not None and "90 days" in notice.comment.text
    cells = book["cells"]
    assert cells.max_row == len(matrix.rows) * len(matrix.columns) + 1


def test_the_matrix_command(sample_db: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = sample_db
    runner = CliRunner()
    out = tmp_path / "m.xlsx"
    args = ["matrix", "--db", str(db), "--run", run_id, "--format", "xlsx", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(out)["matrix"].max_row == 8
    table = runner.invoke(app, ["matrix", "--db", str(db)], terminal_width=400)
    assert table.exit_code == 0 and "120 days" in table.output
    wrong = runner.invoke(app, ["matrix", "--db", str(db), "--run", "review-nope"])
    assert wrong.exit_code == 2 and "no review run" in wrong.output


def test_an_amendment_arriving_later_is_reviewed_with_its_master(tmp_path: Path) -> None:
    source, db = tmp_path / "contracts", tmp_path / "nightly.duckdb"
    (source / "harrowgate-bellwether").mkdir(parents=True)
    shutil.copy(CONTRACTS / MASTER, source / MASTER)
    shutil.copy(CONTRACTS / "mutual-nda-pinecrest-aldergrove.txt", source)
    first = review(source, db)
    before = next(row for row in matrix_of(db).rows if MASTER in row.members).cell(NOTICE)
    assert (before.value, len(before.chain)) == ("90 days", 1)

    shutil.copy(CONTRACTS / AMENDMENT, source / AMENDMENT)
    second = review(source, db)
    with duckdb.connect(str(db), read_only=True) as con:
        sent = con.execute(
            "SELECT DISTINCT d.relpath, r.run_id FROM requests r, unnest(r.doc_ids) u(doc_id) "
            "JOIN current_documents d ON d.doc_id = u.doc_id ORDER BY ALL"
        ).fetchall()
    # The amendment went out in one request with its master; the unrelated NDA stayed home.
    assert sent == sorted([
        ("harrowgate-bellwether/master-services-agreement.pdf", first),
        ("mutual-nda-pinecrest-aldergrove.txt", first),
        (AMENDMENT, second), (MASTER, second),
    ])  # fmt: skip
    (family,) = [row for row in matrix_of(db, second).rows]
    after = family.cell(NOTICE)
    assert (after.value, after.relpath) == ("120 days", AMENDMENT)
    assert [link.value for link in after.chain] == ["90 days", "120 days"]
