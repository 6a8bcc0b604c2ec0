"""Ingest from a real S3-compatible server on loopback: pagination at scale, and a second
night that downloads nothing it has already ingested (same ETag)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.s3 import S3Source
from connectors.store import Store
from tasks.ingest import IngestOptions, ingest_source

OBJECTS = 2_500


def count_calls(client: Any, operation: str) -> list[str]:
    """Every ``operation`` the client sends, as botocore reports it (no patching)."""
    calls: list[str] = []
    client.meta.events.register(
        f"before-call.s3.{operation}", lambda **kwargs: calls.append(operation)
    )
    return calls


def test_a_large_bucket_is_ingested_whole_and_not_downloaded_twice(s3_bucket, tmp_path: Path):
    s3_bucket.seed(
        (f"notes/{n // 100:02d}/note-{n:04d}.txt", f"Note {n}: the term is {n} days.\n".encode())
        for n in range(OBJECTS)
    )
    s3_bucket.put({"notes/big.txt": b"x" * 5_000})
    downloads = count_calls(s3_bucket.client, "GetObject")
    listings = count_calls(s3_bucket.client, "ListObjectsV2")
    source = S3Source.from_uri(f"s3://{s3_bucket.name}/notes", client=s3_bucket.client)
    options = IngestOptions(max_file_bytes=4_000, workers=1)
    with Store(tmp_path / "s3.duckdb") as store:
        first = ingest_source(source, store, options, "night-1")
        fetched_first_night = len(downloads)
        second = ingest_source(source, store, options, "night-2")
        rows = store.query("SELECT status, count(*) FROM documents GROUP BY 1 ORDER BY 1")
        latest = store.query("SELECT DISTINCT last_run_id FROM documents")
    assert rows == [("ok", OBJECTS), ("too_large", 1)]
    assert fetched_first_night == OBJECTS  # the object over the limit was never downloaded
    assert len(downloads) == fetched_first_night  # night 2 downloaded nothing
    assert len(listings) >= 6  # 2,501 keys take three pages a night
    assert (first.parsed, second.parsed, second.unchanged) == (OBJECTS, 0, OBJECTS + 1)
    assert latest == [("night-2",)]
