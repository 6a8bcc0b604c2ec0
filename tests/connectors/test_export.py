"""Parquet export of the DuckDB tables, read back with DuckDB, to a folder and to S3."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.export import export_tables
from nightshift.errors import ConfigError, SourceNotFoundError
from tests.fixtures.s3 import S3Bucket

RUN_B = "run b/with slash"  # a partition value that must survive percent-encoding


def make_db(path: Path, with_runs: bool = True) -> Path:
    con = duckdb.connect(str(path))
    con.execute(
        """
        CREATE TABLE documents (doc_id VARCHAR, uri VARCHAR, bytes BIGINT, status VARCHAR);
        INSERT INTO documents VALUES
            ('d1', 's3://corpus/a.pdf', 1024, 'ok'),
            ('d2', '/corpus/b.txt', 0, 'empty_text');
        CREATE TABLE requests (request_key VARCHAR, attempt INTEGER, run_id VARCHAR,
                               model VARCHAR, cost_usd DOUBLE, off_peak BOOLEAN);
        INSERT INTO requests VALUES
            ('k1', 1, '2026-05-01T23:00:00Z', 'deepseek-v4-flash', 0.0012, true),
            ('k1', 2, '2026-05-01T23:00:00Z', 'deepseek-v4-flash', 0.0013, true),
            ('k2', 1, 'run b/with slash', 'deepseek-v4-pro', 0.25, false);
        CREATE TABLE extractions (run_id VARCHAR, doc_id VARCHAR, field VARCHAR, value JSON,
                                  quote VARCHAR, char_start INTEGER, grounded BOOLEAN);
        INSERT INTO extractions VALUES
            ('2026-05-01T23:00:00Z', 'd1', 'governing_law', '{"state": "NY"}',
             'governed by the laws of New York', 120, true),
            ('run b/with slash', 'd1', 'liability_cap', 'null', NULL, NULL, false),
            (NULL, 'd2', 'term', '"2 years"', 'two (2) years', 5, true);
        """
    )
    con.execute(
        """
        CREATE TABLE findings (run_id VARCHAR, fingerprint VARCHAR, state VARCHAR,
                               relpath VARCHAR, line INTEGER);
        INSERT INTO findings VALUES
            ('2026-05-01T23:00:00Z', 'f1', 'new', 'app.py', 12),
            ('run b/with slash', 'f1', 'persisting', 'app.py', 17),
            ('run b/with slash', 'f2', 'fixed', 'db.py', 40);
        CREATE TABLE finding_runs (run_id VARCHAR, previous_run_id VARCHAR);
        INSERT INTO finding_runs VALUES
            ('2026-05-01T23:00:00Z', NULL), ('run b/with slash', '2026-05-01T23:00:00Z');
        CREATE TABLE finding_suppressions (fingerprint VARCHAR, reason VARCHAR);
        INSERT INTO finding_suppressions VALUES ('f2', 'accepted: test fixture only');
        """
    )
    if with_runs:
        con.execute(
            """
            CREATE TABLE runs (run_id VARCHAR, profile VARCHAR, started TIMESTAMPTZ);
            INSERT INTO runs VALUES
                ('2026-05-01T23:00:00Z', 'legal', '2026-05-01 23:00:00+00'),
                ('run b/with slash', 'legal', '2026-05-02 23:00:00+00');
            """
        )
    con.close()
    return path


def assert_round_trip(db: Path, table: str, parquet_glob: str) -> None:
    con = duckdb.connect(str(db), read_only=True)
    exported = f"read_parquet('{parquet_glob}', hive_partitioning = false)"
    assert con.sql(f"DESCRIBE SELECT * FROM {exported}").fetchall() == (
        con.sql(f"DESCRIBE SELECT * FROM {table}").fetchall()
    )
    for left, right in ((table, exported), (exported, table)):
        difference = con.sql(f"SELECT * FROM {left} EXCEPT ALL SELECT * FROM {right}").fetchall()
        assert difference == [], f"{table}: rows of {left} missing from {right}"
    con.close()


def test_local_export_round_trips(tmp_path: Path) -> None:
    db = make_db(tmp_path / "nightshift.duckdb")
    dest = tmp_path / "export"

    result = export_tables(db, str(dest))

    assert result.missing == ()
    written = sorted(Path(path).relative_to(dest).as_posix() for path in result.written)
    assert written == [
        "documents/part-0.parquet",
        "extractions/run_id=2026-05-01T23%3A00%3A00Z/part-0.parquet",
        "extractions/run_id=__HIVE_DEFAULT_PARTITION__/part-0.parquet",
        "extractions/run_id=run%20b%2Fwith%20slash/part-0.parquet",
        "finding_runs/run_id=2026-05-01T23%3A00%3A00Z/part-0.parquet",
        "finding_runs/run_id=run%20b%2Fwith%20slash/part-0.parquet",
        "finding_suppressions/part-0.parquet",
        "findings/run_id=2026-05-01T23%3A00%3A00Z/part-0.parquet",
        "findings/run_id=run%20b%2Fwith%20slash/part-0.parquet",
        "requests/run_id=2026-05-01T23%3A00%3A00Z/part-0.parquet",
        "requests/run_id=run%20b%2Fwith%20slash/part-0.parquet",
        "runs/run_id=2026-05-01T23%3A00%3A00Z/part-0.parquet",
        "runs/run_id=run%20b%2Fwith%20slash/part-0.parquet",
    ]
    for table in ("documents", "requests", "extractions", "runs", "findings", "finding_runs",
                  "finding_suppressions"):  # fmt: skip
        assert_round_trip(db, table, f"{dest}/{table}/**/*.parquet")
    assert sorted(p.name for p in dest.iterdir()) == [
        "documents",
        "extractions",
        "finding_runs",
        "finding_suppressions",
        "findings",
        "requests",
        "runs",
    ]


def test_export_again_replaces_files_and_accepts_a_connection(tmp_path: Path) -> None:
    db = make_db(tmp_path / "nightshift.duckdb")
    dest = tmp_path / "export"
    export_tables(db, dest)

    con = duckdb.connect(str(db))
    con.execute(f"INSERT INTO requests VALUES ('k3', 1, '{RUN_B}', 'deepseek-v4-pro', 0.5, true)")
    result = export_tables(con, dest, tables=["requests"])
    con.close()

    assert len(result.written) == 2
    assert_round_trip(db, "requests", f"{dest}/requests/**/*.parquet")


def test_missing_tables_are_reported_and_the_rest_exported(tmp_path: Path) -> None:
    db = make_db(tmp_path / "nightshift.duckdb", with_runs=False)

    result = export_tables(db, tmp_path / "export")

    assert result.missing == ("runs",)
    assert not (tmp_path / "export" / "runs").exists()
    assert_round_trip(db, "documents", f"{tmp_path}/export/documents/*.parquet")


def test_empty_partitioned_table_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE runs (run_id VARCHAR, profile VARCHAR)")

    result = export_tables(db, tmp_path / "export", tables=["runs"])

    assert result.written == () and result.missing == ()


def test_s3_export_round_trips(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    db = make_db(tmp_path / "nightshift.duckdb")

    result = export_tables(db, f"s3://{s3_bucket.name}/exports/nightly", s3_client=s3_bucket.client)

    listed = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    keys = sorted(item["Key"] for item in listed)
    assert sorted(result.written) == [f"s3://{s3_bucket.name}/{key}" for key in keys]
    assert "exports/nightly/requests/run_id=run%20b%2Fwith%20slash/part-0.parquet" in keys
    downloaded = tmp_path / "downloaded"
    for key in keys:
        target = downloaded / key.removeprefix("exports/nightly/")
        target.parent.mkdir(parents=True, exist_ok=True)
        s3_bucket.client.download_file(s3_bucket.name, key, str(target))
    for table in ("documents", "requests", "extractions", "runs"):
        assert_round_trip(db, table, f"{downloaded}/{table}/**/*.parquet")


def test_s3_export_to_a_missing_bucket(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    db = make_db(tmp_path / "nightshift.duckdb")

    with pytest.raises(SourceNotFoundError, match="S3 bucket not found"):
        export_tables(db, "s3://no-such-export-bucket/x", ["documents"], s3_bucket.client)


def test_other_url_schemes_are_refused(tmp_path: Path) -> None:
    db = make_db(tmp_path / "nightshift.duckdb")

    with pytest.raises(ConfigError):
        export_tables(db, "gs://bucket/x")
