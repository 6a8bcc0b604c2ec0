"""Export the DuckDB tables as Parquet, to a local folder or to ``s3://bucket/prefix``.

Layout under the destination, hive-style so DuckDB, Spark and Athena read it as partitions::

    <table>/run_id=<id>/part-0.parquet    tables with a run_id column, one folder per run
    <table>/part-0.parquet                tables without one

Partition values are percent-encoded by DuckDB (``run_id=2026-05-01T23%3A00%3A00Z``) and the
``run_id`` column is also kept inside each file, so a reader need not parse paths.

DuckDB writes every file into a staging folder first; only complete files are then moved into
place (local) or uploaded with boto3 (S3). DuckDB's httpfs extension is not used because it
is downloaded at run time.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from connectors.s3 import make_s3_client, parse_s3_uri, translate_error
from nightshift.errors import ConfigError, StorageError, StoreError

DEFAULT_TABLES = (
    "documents", "requests", "extractions", "runs",
    # Codebase reviews: findings night to night, the runs they compare, a team's suppressions.
    "findings", "finding_runs", "finding_suppressions",
)  # fmt: skip
PARTITION_COLUMN = "run_id"
_STAGING_PREFIX = ".nightshift-export-"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote (local paths or ``s3://`` URIs) and which tables did not exist.

    A partitioned table with no rows has no partitions, so it writes no file.
    """

    written: tuple[str, ...]
    missing: tuple[str, ...]


def export_tables(
    db: Path | str | duckdb.DuckDBPyConnection,
    dest: str | Path,
    tables: Sequence[str] = DEFAULT_TABLES,
    s3_client: Any = None,
) -> ExportResult:
    """Write each existing table of ``tables`` as Parquet under ``dest``.

    ``db`` is a database file (opened read-only, so it fails while another process writes it)
    or an open connection. ``s3_client`` is used for an ``s3://`` destination; without one,
    :func:`connectors.s3.make_s3_client` builds one from boto3's standard chain.
    """
    dest = str(dest)
    if isinstance(db, duckdb.DuckDBPyConnection):
        return _export(db, dest, tables, s3_client)
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise StoreError(f"cannot open {db} for export: {exc}") from exc
    try:
        return _export(con, dest, tables, s3_client)
    finally:
        con.close()


def _export(
    con: duckdb.DuckDBPyConnection, dest: str, tables: Sequence[str], s3_client: Any
) -> ExportResult:
    columns = _table_columns(con)
    present = [table for table in tables if table in columns]
    missing = tuple(table for table in tables if table not in columns)
    if dest.startswith("s3://"):
        bucket, prefix = parse_s3_uri(dest)
        client = s3_client if s3_client is not None else make_s3_client()
        with tempfile.TemporaryDirectory(prefix=_STAGING_PREFIX) as staging:
            files = _stage(con, Path(staging), present, columns)
            written = _upload(client, bucket, prefix, Path(staging), files)
        return ExportResult(written, missing)
    if "://" in dest:
        raise ConfigError(f"export destination must be a folder or s3://bucket/prefix: {dest}")
    root = Path(dest)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create export folder {root}: {exc.strerror}") from exc
    # Staged inside the destination so that os.replace stays on one file system (atomic).
    with tempfile.TemporaryDirectory(prefix=_STAGING_PREFIX, dir=root) as staging:
        files = _stage(con, Path(staging), present, columns)
        written = _move(Path(staging), root, files)
    return ExportResult(written, missing)


def _table_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Column names of every table and view in the connection's current schema."""
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ).fetchall()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def _stage(
    con: duckdb.DuckDBPyConnection,
    staging: Path,
    tables: Sequence[str],
    columns: dict[str, list[str]],
) -> list[Path]:
    """Let DuckDB write each table's Parquet files under ``staging``; their relative paths."""
    for table in tables:
        target = staging / table
        name = _quote(table)
        if PARTITION_COLUMN in columns[table]:
            sql = (
                f"COPY (SELECT * FROM {name}) TO {_literal(target)} (FORMAT parquet, "
                f"PARTITION_BY ({PARTITION_COLUMN}), WRITE_PARTITION_COLUMNS true, "
                "FILENAME_PATTERN 'part-{i}')"
            )
        else:
            target.mkdir()
            sql = f"COPY (SELECT * FROM {name}) TO {_literal(target / 'part-0.parquet')} "
            sql += "(FORMAT parquet)"
        try:
            con.execute(sql)
        except duckdb.Error as exc:
            raise StoreError(f"cannot export table {table}: {exc}") from exc
    return sorted(path.relative_to(staging) for path in staging.rglob("*.parquet"))


def _move(staging: Path, root: Path, files: Sequence[Path]) -> tuple[str, ...]:
    written = []
    for relative in files:
        target = root / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / relative, target)
        except OSError as exc:
            raise StorageError(f"cannot write {target}: {exc.strerror}") from exc
        written.append(str(target))
    return tuple(written)


def _upload(
    client: Any, bucket: str, prefix: str, staging: Path, files: Sequence[Path]
) -> tuple[str, ...]:
    folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    written = []
    for relative in files:
        key = folder + relative.as_posix()
        uri = f"s3://{bucket}/{key}"
        try:
            # upload_file switches to multipart above 8 MiB and retries parts on its own.
            client.upload_file(str(staging / relative), bucket, key)
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, uri) from exc
        except S3UploadFailedError as exc:
            # boto3 re-raises a ClientError as this, keeping the original only as __context__.
            cause = exc.__context__
            if isinstance(cause, ClientError):
                raise translate_error(cause, uri) from exc
            raise StorageError(f"upload failed: {uri}") from exc
        written.append(uri)
    return tuple(written)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
