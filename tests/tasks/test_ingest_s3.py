"""Ingest from a real S3-compatible server on loopback: pagination at scale, and a second
night that downloads nothing it has already ingested (same ETag)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from connectors.s3 import S3Source
from connectors.sources import fetch_ahead
from connectors.store import Store
from nightshift.models import DocumentRef
from tasks.ingest import IngestOptions, ingest_source
from tests.fixtures.sources import ListedEarlier

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


# --- parallel fetch -----------------------------------------------------------------------------


def _documents(store: Store) -> list[tuple[Any, ...]]:
    return store.query(
        "SELECT relpath, doc_id, status, tokens, bytes FROM documents ORDER BY relpath"
    )


def test_parallel_fetch_lands_what_one_at_a_time_lands_and_nothing_twice(
    s3_bucket, tmp_path: Path
) -> None:
    s3_bucket.put(
        {
            f"c/{n:03d}.txt": f"Contract {n}. Governed by the laws of State {n % 7}.\n".encode()
            for n in range(120)
        }
        | {
            "c/huge.txt": b"x" * 9_000,
            "c/dup.txt": b"Contract 5. Governed by the laws of State 5.\n",
        }
    )
    source = S3Source.from_uri(f"s3://{s3_bucket.name}/c", client=s3_bucket.client)
    downloads = count_calls(s3_bucket.client, "GetObject")
    with Store(tmp_path / "one.duckdb") as one:
        ingest_source(source, one, IngestOptions(max_file_bytes=4_000, fetch_workers=1), "r1")
        expected = _documents(one)
    one_at_a_time = len(downloads)
    with Store(tmp_path / "many.duckdb") as many:
        summary = ingest_source(
            source, many, IngestOptions(max_file_bytes=4_000, fetch_workers=8), "r1"
        )
        assert _documents(many) == expected
        parallel = len(downloads) - one_at_a_time
        again = ingest_source(
            source, many, IngestOptions(max_file_bytes=4_000, fetch_workers=8), "r2"
        )
        assert _documents(many) == expected
    assert one_at_a_time == parallel == 121  # the object over the limit is never downloaded
    assert len(downloads) == 2 * 121  # the second night downloaded nothing (same ETags)
    assert (summary.files, again.unchanged) == (122, 122)
    assert dict((row[0], row[2]) for row in expected)["huge.txt"] == "too_large"


def test_an_object_gone_mid_night_is_a_row_and_the_others_land(s3_bucket, tmp_path: Path) -> None:
    s3_bucket.put({f"d/{n:02d}.txt": f"Document {n}.\n".encode() for n in range(40)})
    inner = S3Source.from_uri(f"s3://{s3_bucket.name}/d", client=s3_bucket.client)
    spool = tmp_path / "spool"
    spool.mkdir()
    listed = tuple(inner.discover())
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key="d/17.txt")
    source = ListedEarlier(replace(inner, tmp_dir=spool), listed)
    with Store(tmp_path / "gone.duckdb") as store:
        ingest_source(source, store, IngestOptions(fetch_workers=8), "night")
        rows = {relpath: (status, reason) for relpath, status, reason in store.query(
            "SELECT relpath, status, status_reason FROM documents")}  # fmt: skip
    assert len(rows) == 40
    status, reason = rows.pop("17.txt")
    assert status == "unreadable" and "deleted between listing and download" in reason
    assert {status for status, _ in rows.values()} == {"ok"}
    assert list(spool.iterdir()) == []  # every spooled file removed


def test_fetch_ahead_yields_in_order_with_a_bounded_spool(s3_bucket, tmp_path: Path) -> None:
    s3_bucket.put({f"e/{n:02d}.txt": bytes([65 + n % 26]) * (n + 1) for n in range(30)})
    spool = tmp_path / "spool"
    spool.mkdir()
    source = S3Source.from_uri(f"s3://{s3_bucket.name}/e", client=s3_bucket.client, tmp_dir=spool)
    refs = sorted(source.discover(), key=lambda ref: ref.relpath, reverse=True)
    most_spooled = 0

    def read(ref: DocumentRef, path: Path) -> int:
        return path.stat().st_size

    taken = []
    for fetched in fetch_ahead(source, refs, 4, read):
        most_spooled = max(most_spooled, len(list(spool.iterdir())))
        taken.append((fetched.ref.relpath, fetched.value))
        fetched.close()
    assert taken == [(ref.relpath, ref.size) for ref in refs]
    assert 1 <= most_spooled <= 4
    assert list(spool.iterdir()) == []
