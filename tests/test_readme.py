"""What the README promises holds against the demo's database: every SQL block runs as
written, every command "Reading the results" names runs, the views it queries exist, and the
report's screenshot it shows is there."""

from __future__ import annotations

import csv
import re
import shlex
import struct
from pathlib import Path

import duckdb
import openpyxl
import pytest
from typer.testing import CliRunner

from flows.pipelines import review_pipeline
from nightshift.cli import app
from nightshift.options import ReviewOptions
from nightshift.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.DOTALL)
RESULTS_SECTION = "## Reading the results"
SCREENSHOT = "docs/report.png"
VIEWS = ("last_night", "cost_per_night", "review_runs", "clause_matrix")


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def results_section() -> str:
    text = readme()
    start = text.index(RESULTS_SECTION)
    end = text.find("\n## ", start + len(RESULTS_SECTION))
    return text[start : end if end > 0 else None]


def results_commands() -> list[list[str]]:
    """The arguments of every ``nightshift`` command "Reading the results" names: in shell
    blocks and in inline code, and the matrix's exports given as bare ``--format X --out F``."""
    section = results_section()
    lines = re.findall(r"^nightshift ([^#\n]+)", section, re.MULTILINE)
    lines += re.findall(r"`nightshift ([^`]+)`", section)
    commands = [shlex.split(line) for line in lines]
    commands += [["matrix", *shlex.split(line)]
                 for line in re.findall(r"`(--format \w+ --out [^`]+)`", section)]  # fmt: skip
    return commands


def readme_statements() -> list[str]:
    statements = []
    for block in SQL_BLOCK.findall(readme()):
        lines = [line for line in block.splitlines() if not line.lstrip().startswith("--")]
        statements += [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
    return statements


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make demo` writes: both sample corpora reviewed on the simulator."""
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    for source, profile in (("contracts", "legal"), ("codebase", "codebase")):
        options = ReviewOptions(source=str(ROOT / "sample_data" / source), profile=profile,
                                db=str(db), backend="simulator")  # fmt: skip
        review_pipeline(options, Settings())
    return db


def test_the_readme_has_sql_to_check() -> None:
    assert len(readme_statements()) >= 5


@pytest.mark.parametrize("statement", readme_statements(), ids=lambda s: " ".join(s.split())[:60])
def test_readme_sql_runs_on_the_demo_database(demo_db: Path, statement: str) -> None:
    with duckdb.connect(str(demo_db), read_only=True) as con:
        con.execute(statement).fetchall()


def test_reading_the_results_names_the_report_runs_and_both_matrix_exports() -> None:
    commands = results_commands()
    assert {command[0] for command in commands} >= {"report", "runs", "matrix"}
    formats = {c[c.index("--format") + 1] for c in commands if c[0] == "matrix" and "--format" in c}
    assert formats >= {"csv", "xlsx"}


@pytest.mark.parametrize("args", results_commands(), ids=" ".join)
def test_each_command_of_reading_the_results_runs_on_the_demo_database(
    demo_db: Path, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the files the commands write land here
    with duckdb.connect(str(demo_db), read_only=True) as con:
        latest = con.execute("SELECT run_id FROM review_runs ORDER BY started_at DESC").fetchone()
    assert latest is not None
    given = {"demo.duckdb": str(demo_db), "review-…": latest[0]}
    argv = [given.get(arg, arg) for arg in args]
    if "--db" not in argv:
        argv += ["--db", str(demo_db)]
    result = CliRunner().invoke(app, argv, terminal_width=200)
    assert result.exit_code == 0, result.output
    if "--out" not in argv:
        return
    out = tmp_path / argv[argv.index("--out") + 1]
    if out.suffix == ".html":
        assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    elif out.suffix == ".csv":
        with out.open(encoding="utf-8", newline="") as handle:
            assert next(csv.reader(handle))[:2] == ["contract", "documents"]
    else:
        assert openpyxl.load_workbook(out)["matrix"].max_row > 1


def test_the_report_screenshot_is_linked_and_is_a_png() -> None:
    assert re.search(rf"!\[[^\]]+\]\({re.escape(SCREENSHOT)}\)", results_section())
    png = (ROOT / SCREENSHOT).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk: the image's size
    assert width >= 1024 and height >= 600


@pytest.mark.parametrize("view", VIEWS)
def test_the_views_the_readme_names_exist(demo_db: Path, view: str) -> None:
    assert re.search(rf"\b{view}\b", readme())
    with duckdb.connect(str(demo_db), read_only=True) as con:
        views = {row[0] for row in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    assert view in views
