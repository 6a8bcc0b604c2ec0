"""The store on real DuckDB files: migrations in order, interrupted runs, the scratch copy a
plan works in, the rows an ingest heals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from connectors.store import Store, migrations
from connectors.tables import DocumentRow, DocumentTextRow, RunRow

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def test_migrations_apply_once_in_order(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    with Store(db) as store:
        assert store.schema_version == max(version for version, _ in migrations())
    with Store(db) as store:  # opening again applies nothing twice
        applied = store.query("SELECT version FROM schema_version ORDER BY version")
    assert [row[0] for row in applied] == sorted(version for version, _ in migrations())


def test_a_run_left_running_is_interrupted_when_the_database_next_opens(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with Store(db) as store:
        store.start_run(RunRow("run-1", None, "review", "legal", "1", "src", "simulator", NOW))
    with Store(db) as store:  # the process that started run-1 is gone
        status = store.query("SELECT status, status_reason FROM runs")
    assert status == [("interrupted", "the process ended before the run finished")]


def test_a_scratch_copy_reads_the_file_and_never_writes_it(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        store.start_run(RunRow("run-1", None, "ingest", None, None, "src", None, NOW))
        store.finish_run("run-1", "completed", None, None)
    before = db.read_bytes()
    with Store.scratch_copy(db) as scratch:
        assert scratch.query("SELECT run_id FROM runs") == [("run-1",)]
        scratch.start_run(RunRow("plan", None, "review", None, None, "src", None, NOW))
    assert db.read_bytes() == before
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (1,)


def test_a_scratch_copy_of_no_file_is_empty(tmp_path: Path) -> None:
    with Store.scratch_copy(tmp_path / "absent.duckdb") as scratch:
        assert scratch.query("SELECT count(*) FROM documents") == [(0,)]
    assert not (tmp_path / "absent.duckdb").exists()


def _document(uri: str, doc_id: str, status: str = "ok") -> DocumentRow:
    return DocumentRow(doc_id, uri, uri, "src", "text", 1, None, 1, 1, status, None, "text",
                       None, None, NOW, NOW, "run-1")  # fmt: skip


def test_an_ok_row_without_its_text_is_found_and_only_it_is_dropped(tmp_path: Path) -> None:
    with Store(tmp_path / "h.duckdb") as store:
        store.append([_document("a.txt", "whole"), _document("b.txt", "damaged"),
                      _document("b.txt", "damaged", status="empty")])  # fmt: skip
        store.append([DocumentTextRow("whole", "text", None, None, 1, NOW)])
        assert store.textless_doc_ids() == {"damaged"}
        assert set(store.documents_with_text(["whole", "damaged"])) == {"whole"}
        store.drop_damaged_document("b.txt", "damaged")
        left = store.query("SELECT uri, status FROM documents ORDER BY uri, status")
    assert left == [("a.txt", "ok"), ("b.txt", "empty")]
