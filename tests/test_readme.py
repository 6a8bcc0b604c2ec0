"""Every SQL block of the README runs as written against the demo's database."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from flows.pipelines import review_pipeline
from nightshift.options import ReviewOptions
from nightshift.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.DOTALL)


def readme_statements() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    statements = []
    for block in SQL_BLOCK.findall(text):
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
