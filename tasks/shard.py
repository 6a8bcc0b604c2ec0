"""Shards of a corpus for a night spread over many workers, and their results landed as one.

A document's shard is a hash of the key that keeps related documents together, so a contract
family (one folder, or one file-name stem at the top level; see ``tasks.plan.group_key``) and a
repository (a top-level folder of a source of many repositories) always fall in the same shard
and are planned whole. The hash is stable across runs and machines: a retried shard reviews the
same documents, and its ledger (the shard's own DuckDB file) answers what was already paid for.

Each shard writes its own DuckDB file (DuckDB has one writer per file); its tables are exported
as Parquet parts (``connectors.export``) and ``land_parts`` loads the parts into the night's
database. Loading replaces the rows of the parts' runs, so loading the same parts twice changes
nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from connectors.sources import Source
from connectors.store import Store
from nightshift.models import DocumentRef
from tasks.plan import group_key

# Tables a shard's export carries, and the column that names the run each row belongs to
# (None: rows keyed by content, added once).
SHARD_TABLES: dict[str, str | None] = {
    "runs": "run_id",
    "documents": "last_run_id",
    "document_texts": None,
    "requests": "run_id",
    "work_items": "run_id",
    "document_reviews": "run_id",
    "extractions": "run_id",
    "field_states": "run_id",
}


def shard_key(relpath: str) -> str:
    """What must not be split: the top-level folder (a repository, a family's folder), or the
    family stem of a top-level file."""
    path = PurePosixPath(relpath)
    if len(path.parts) > 1:
        return path.parts[0]
    return group_key(relpath, whole_source=False)


def shard_of(relpath: str, count: int) -> int:
    digest = hashlib.sha256(shard_key(relpath).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class ShardedSource:
    """The documents of ``source`` in shard ``index`` of ``count``; same uri, so a shard's rows
    read as rows of the whole source once landed."""

    source: Source
    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count} does not exist")

    @property
    def uri(self) -> str:
        return self.source.uri

    def discover(self) -> Iterator[DocumentRef]:
        for ref in self.source.discover():
            if shard_of(ref.relpath, self.count) == self.index:
                yield ref

    def fetch(self, ref: DocumentRef) -> AbstractContextManager[Path]:
        return self.source.fetch(ref)


def land_parts(store: Store, parts: Sequence[Path]) -> dict[str, int]:
    """Load shard exports (folders written by ``connectors.export.export_tables``) into
    ``store`` in one transaction; returns the rows now present per table from these parts."""
    landed: dict[str, int] = {}
    with store.transaction():
        for table, run_column in SHARD_TABLES.items():
            files = [str(f) for part in parts for f in sorted((part / table).rglob("*.parquet"))]
            if not files:
                continue
            # union_by_name: one run's file may predate a column another's has (older shards).
            scan = f"read_parquet({files!r}, union_by_name = true, hive_partitioning = false)"
            if run_column is None:
                store.con.execute(
                    f"INSERT INTO {table} BY NAME SELECT * FROM {scan} "
                    f"WHERE doc_id NOT IN (SELECT doc_id FROM {table})"
                )
            else:
                store.con.execute(
                    f"DELETE FROM {table} WHERE {run_column} IN "
                    f"(SELECT DISTINCT {run_column} FROM {scan})"
                )
                store.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {scan}")
            (count,) = store.con.execute(f"SELECT count(*) FROM {scan}").fetchone() or (0,)
            landed[table] = int(count)
    return landed
