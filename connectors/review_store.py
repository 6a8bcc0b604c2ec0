"""The review's reads and writes on the database: candidates, the ledger, results, the queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from connectors.store import Store, sql_text

REQUEST_SCHEMA = pa.schema([
    ("request_key", pa.string()), ("attempt", pa.int32()), ("run_id", pa.string()),
    ("work_item_id", pa.string()), ("pass_index", pa.int32()),
    ("doc_ids", pa.list_(pa.string())), ("fields", pa.list_(pa.string())),
    ("model", pa.string()), ("reasoning_effort", pa.string()), ("thinking", pa.bool_()),
    ("route_reason", pa.string()), ("escalated_from", pa.string()),
    ("started_at", pa.timestamp("us", tz="UTC")), ("finished_at", pa.timestamp("us", tz="UTC")),
    ("status", pa.string()), ("http_status", pa.int32()), ("error", pa.string()),
    ("finish_reason", pa.string()), ("prompt_tokens", pa.int64()),
    ("cache_hit_tokens", pa.int64()), ("cache_miss_tokens", pa.int64()),
    ("completion_tokens", pa.int64()), ("reasoning_tokens", pa.int64()),
    ("predicted_cache_hit_tokens", pa.int64()), ("cost_usd", pa.float64()),
    ("started_off_peak", pa.bool_()), ("finished_off_peak", pa.bool_()),
    ("off_peak", pa.bool_()), ("response", pa.string()), ("backend", pa.string()),
])  # fmt: skip
EXTRACTION_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("doc_id", pa.string()), ("request_key", pa.string()),
    ("work_item_id", pa.string()), ("profile", pa.string()), ("profile_version", pa.string()),
    ("field", pa.string()), ("value", pa.string()), ("quote", pa.string()),
    ("char_start", pa.int32()), ("char_end", pa.int32()), ("page", pa.int32()),
    ("file", pa.string()), ("line", pa.int32()), ("grounded", pa.bool_()),
    ("match", pa.string()), ("window", pa.string()), ("model", pa.string()),
    ("backend", pa.string()), ("created_at", pa.timestamp("us", tz="UTC")),
])  # fmt: skip
WORK_ITEM_SCHEMA = pa.schema([
    ("work_item_id", pa.string()), ("run_id", pa.string()), ("profile", pa.string()),
    ("profile_version", pa.string()), ("grp", pa.string()), ("doc_ids", pa.list_(pa.string())),
    ("spec", pa.string()), ("input_tokens", pa.int64()), ("status", pa.string()),
    ("status_reason", pa.string()), ("updated_at", pa.timestamp("us", tz="UTC")),
])  # fmt: skip
REVIEW_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("profile", pa.string()), ("profile_version", pa.string()),
    ("run_id", pa.string()), ("reviewed_at", pa.timestamp("us", tz="UTC")),
    ("backend", pa.string()),
])  # fmt: skip


def review_candidates(
    store: Store, source: str, profile: str, version: str, force: bool, backend: str
) -> list[dict[str, Any]]:
    sql = sql_text("review_candidates.sql")
    params = {"source": source, "profile": profile, "version": version, "force": force,
              "backend": backend}  # fmt: skip
    return store.query_dicts(sql, params)


def successful_responses(store: Store, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored answer of every key that already has one: such a key is never sent again."""
    if not keys:
        return {}
    rows = store.rows_for_keys(
        "request_key", keys,
        "SELECT DISTINCT ON (request_key) request_key, response, finish_reason, model "
        "FROM requests JOIN _keys USING (request_key) WHERE status = 'ok' "
        "ORDER BY request_key, finished_at",
    )  # fmt: skip
    return {row["request_key"]: row for row in rows}


def pending_work_items(store: Store, profile: str, version: str) -> list[dict[str, Any]]:
    return store.query_dicts(
        "SELECT * FROM current_work_items WHERE profile = ? AND profile_version = ? "
        "AND status = 'pending' ORDER BY updated_at, work_item_id",
        [profile, version],
    )


def record(store: Store, table: str, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    if rows:
        store.insert_arrow(table, pa.Table.from_pylist(rows, schema))
