"""Shards keep families and repositories whole, cover a corpus exactly once, and land as one."""

from __future__ import annotations

from pathlib import Path

from connectors.export import export_tables
from connectors.local import LocalSource
from connectors.store import Store
from tasks.ingest import IngestOptions, ingest_source
from tasks.shard import SHARD_TABLES, ShardedSource, land_parts, shard_of

SHARDS = 4


def _corpus(root: Path) -> Path:
    root.mkdir()
    for n in range(40):
        (root / f"msa-{n}.txt").write_text(f"Master agreement {n}. Governed by State {n}.\n")
        (root / f"msa-{n} amendment 1.txt").write_text(f"Amendment to agreement {n}.\n")
        family = root / f"vendor-{n}" / "2026"
        family.mkdir(parents=True)
        (family / "contract.txt").write_text(f"Vendor contract {n}.\n")
        (family / "exhibit-a.txt").write_text(f"Exhibit A of vendor {n}.\n")
    return root


def test_a_family_never_spans_two_shards() -> None:
    for n in range(200):
        assert shard_of(f"msa-{n}.pdf", SHARDS) == shard_of(f"msa-{n} exhibit b.pdf", SHARDS)
        assert shard_of(f"repo-{n}/src/a.py", SHARDS) == shard_of(f"repo-{n}/README.md", SHARDS)
    used = {shard_of(f"repo-{n}/x.py", SHARDS) for n in range(200)}
    assert used == set(range(SHARDS))


def test_shards_cover_the_corpus_once_and_land_idempotently(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "corpus")
    everything = sorted(ref.relpath for ref in LocalSource(root).discover())
    parts = []
    by_shard: list[list[str]] = []
    for index in range(SHARDS):
        source = ShardedSource(LocalSource(root), index, SHARDS)
        by_shard.append(sorted(ref.relpath for ref in source.discover()))
        with Store(tmp_path / f"shard-{index}.duckdb") as store:
            ingest_source(source, store, IngestOptions(workers=1), f"run-{index}")
        export_tables(tmp_path / f"shard-{index}.duckdb", tmp_path / f"part-{index}",
                      tuple(SHARD_TABLES))  # fmt: skip
        parts.append(tmp_path / f"part-{index}")
    assert sorted(path for shard in by_shard for path in shard) == everything
    assert all(by_shard)  # 80 families over 4 shards: none empty

    with Store(tmp_path / "whole.duckdb") as whole:
        ingest_source(LocalSource(root), whole, IngestOptions(workers=1), "run-whole")
        expected = whole.query("SELECT relpath, doc_id, status, tokens FROM documents ORDER BY 1")
    with Store(tmp_path / "night.duckdb") as night:
        first = land_parts(night, parts)
        again = land_parts(night, parts)  # a loader run twice (a retried parent) adds nothing
        landed = night.query("SELECT relpath, doc_id, status, tokens FROM documents ORDER BY 1")
        texts = night.query("SELECT count(*) FROM document_texts")
        runs = night.query("SELECT DISTINCT last_run_id FROM documents ORDER BY 1")
    assert first == again
    assert landed == expected
    assert texts == [(len(expected),)]
    assert runs == [(f"run-{index}",) for index in range(SHARDS)]
