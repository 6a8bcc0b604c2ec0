"""The answer writer on a real DuckDB file: queued rows land in order, a read sees every row
queued before it, a future resolves only once its rows are committed, and a failed group tells
every waiter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from connectors.store import Store
from connectors.tables import ReviewRow
from nightshift.errors import StoreError
from tasks.answer_writer import AnswerWriter

AT = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


def review(doc_id: str) -> ReviewRow:
    return ReviewRow(doc_id, "legal", "1", "run-1", AT, "simulator")


def count(store: Store) -> int:
    return store.query("SELECT count(*) FROM document_reviews")[0][0]


def test_rows_are_durable_when_their_future_resolves_and_reads_see_earlier_rows(tmp_path: Path):
    db = tmp_path / "db.duckdb"
    with Store(db) as store, AnswerWriter(store) as writer:
        written = [writer.append([review(f"d{n}")]) for n in range(300)]
        seen = writer.call(count)
        more = writer.append([review("late")])
        assert seen.result(timeout=30) == 300  # every row queued before it, none after
        for future in written:
            future.result(timeout=30)
        more.result(timeout=30)
        # Committed: another connection of this process reads them all.
        assert count(store) == 301
        assert writer.groups < writer.jobs == 302  # grouped, not a commit per row
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM document_reviews").fetchone() == (301,)


def test_a_failed_group_lands_nothing_and_fails_every_waiter(tmp_path: Path):
    with Store(tmp_path / "db.duckdb") as store, AnswerWriter(store) as writer:

        def broken(_: Store) -> None:
            raise StoreError("the disk is full")

        first = writer.append([review("a")])
        failing = writer.call(broken)
        with pytest.raises(StoreError):
            failing.result(timeout=30)
        if first.exception(timeout=30) is not None:  # in the failed group: not landed either
            assert count(store) == 0
        after = writer.append([review("b")])
        after.result(timeout=30)  # the writer goes on with the next group
        assert store.query("SELECT doc_id FROM document_reviews WHERE doc_id = 'b'") == [("b",)]
