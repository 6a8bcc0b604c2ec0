"""Each table's columns are defined once: the row dataclasses must match what the migrations
create in a real database, name for name, in order, with compatible types."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.store import Store
from connectors.tables import TABLE_ROWS, Row, arrow_schema

# DuckDB's type names for the Arrow types the rows derive.
DUCKDB_TYPES = {
    "string": {"VARCHAR", "JSON"},
    "int64": {"BIGINT", "INTEGER"},
    "double": {"DOUBLE"},
    "bool": {"BOOLEAN"},
    "timestamp[us, tz=UTC]": {"TIMESTAMP WITH TIME ZONE"},
    "date32[day]": {"DATE"},
    "list<item: string>": {"VARCHAR[]"},
    "list<item: int64>": {"INTEGER[]", "BIGINT[]"},
}


@pytest.mark.parametrize("row_type", TABLE_ROWS, ids=lambda r: r.TABLE)
def test_row_columns_match_the_migrated_table(row_type: type[Row], tmp_path: Path) -> None:
    with Store(tmp_path / "t.duckdb") as store:
        described = store.query(f'DESCRIBE "{row_type.TABLE}"')
    in_db = [(name, kind) for name, kind, *_ in described]
    schema = arrow_schema(row_type)
    assert [name for name, _ in in_db] == schema.names
    for (name, db_type), arrow_field in zip(in_db, schema, strict=True):
        assert db_type in DUCKDB_TYPES[str(arrow_field.type)], (name, db_type, arrow_field.type)
