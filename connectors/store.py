"""The DuckDB database: a versioned schema, bulk writes from Arrow, and the queries the stages need.

DuckDB allows one writer process: the flow's process owns the file and stages hand it Arrow
tables. Writes are ``INSERT ... SELECT`` from Arrow, never row by row. SQL longer than a line
lives in ``connectors/sql/``; files named ``NNN_*.sql`` are the schema's versions, applied in
order on first use and recorded in ``schema_version``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from connectors.tables import Row, RunRow, to_arrow
from nightshift.errors import StoreError

SQL_DIR = files("connectors").joinpath("sql")
MEMORY = ":memory:"


def sql_text(name: str) -> str:
    """The text of ``connectors/sql/<name>``, the one place SQL files are read from."""
    return SQL_DIR.joinpath(name).read_text(encoding="utf-8")


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) of every schema version shipped with the package, in order."""
    found = []
    for entry in SQL_DIR.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    """An open nightshift database. Use as a context manager; one per process."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        """Open (and migrate) the database at ``path``; ``read_only`` opens an existing one
        for reading only: nothing is migrated or marked, and other readers may hold it too."""
        self.path = Path(path)
        try:
            if read_only:
                self.con = duckdb.connect(str(self.path), read_only=True)
                return
            if str(path) != MEMORY:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path))
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"cannot open database {self.path}: {_one_line(exc)}") from exc
        self.migrate()
        # DuckDB admits one writing process, so a run still 'running' when the database opens
        # for writing belongs to a process that died: whichever command opens it next says so.
        self.mark_interrupted_runs()

    @classmethod
    def scratch_copy(cls, path: str | Path) -> Store:
        """An in-memory database seeded from the file at ``path``, which is only read: a plan
        ingests and plans in it, so it neither writes the file nor waits for its write lock."""
        store = cls(MEMORY)
        path = Path(path)
        if not path.exists():
            return store
        try:
            store.con.execute("ATTACH ? AS saved (READ_ONLY)", [str(path)])
        except duckdb.Error as exc:
            store.close()
            raise StoreError(f"cannot read database {path}: {_one_line(exc)}") from exc
        try:
            listed = "SELECT table_name FROM duckdb_tables() WHERE database_name = 'saved'"
            saved = {row[0] for row in store.query(listed)}
            for table in ("runs", "documents", "work_items", "document_reviews"):
                if table in saved:
                    store.con.execute(
                        f'INSERT INTO main."{table}" BY NAME SELECT * FROM saved."{table}"'
                    )
            if {"document_texts", "documents"} <= saved:
                # Texts are the bulk of a database: only those of documents it still knows.
                store.con.execute(
                    "INSERT INTO main.document_texts BY NAME SELECT * FROM saved.document_texts "
                    "WHERE doc_id IN (SELECT doc_id FROM saved.documents)"
                )
        except duckdb.Error as exc:
            raise StoreError(f"cannot read database {path}: {_one_line(exc)}") from exc
        finally:
            store.con.execute("DETACH saved")
        return store

    def cursor(self) -> Store:
        """Another connection to this open database, for another thread of this process (a
        DuckDB connection is not shared between threads; its cursors are)."""
        other = object.__new__(Store)
        other.path = self.path
        other.con = self.con.cursor()
        return other

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @property
    def schema_version(self) -> int:
        rows = self.query("SELECT coalesce(max(version), 0) FROM schema_version")
        return int(rows[0][0])

    def migrate(self) -> None:
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMPTZ)"
        )
        current = self.schema_version
        for version, sql in migrations():
            if version <= current:
                continue
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, utc_now()])
                self.con.execute("COMMIT")
            except duckdb.Error as exc:
                self.con.execute("ROLLBACK")
                raise StoreError(f"schema version {version} failed on {self.path}: {exc}") from exc

    # -- generic ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside the block lands together or not at all: a process killed
        mid-block leaves none of it (DuckDB writes a transaction to its WAL only on commit)."""
        try:
            self.con.execute("BEGIN TRANSACTION")
        except duckdb.Error as exc:
            raise StoreError(f"cannot begin a transaction on {self.path}: {exc}") from exc
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        try:
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            raise StoreError(f"cannot commit to {self.path}: {exc}") from exc

    def append(self, rows: Sequence[Row]) -> None:
        """Land ``rows`` (all of one table) in one bulk insert."""
        if rows:
            self.insert_arrow(rows[0].TABLE, to_arrow(rows))

    def insert_arrow(self, table: str, rows: pa.Table) -> None:
        """Append ``rows`` to ``table``; columns are matched by name."""
        if rows.num_rows == 0:
            return
        # DuckDB finds ``incoming_arrow_rows`` among this frame's locals (a replacement scan; no
        # table has that name): a third cheaper per insert than registering a view and dropping
        # it again, which the answer writer's many small inserts feel.
        incoming_arrow_rows = rows  # noqa: F841
        columns = ", ".join(f'"{name}"' for name in rows.column_names)
        try:
            self.con.execute(
                f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM incoming_arrow_rows'
            )
        except duckdb.Error as exc:
            raise StoreError(f"cannot write {table} in {self.path}: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql, params or []).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"query failed on {self.path}: {exc}") from exc

    def query_dicts(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        try:
            cursor = self.con.execute(sql, params or [])
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except duckdb.Error as exc:
            raise StoreError(f"query failed on {self.path}: {exc}") from exc

    # -- documents ----------------------------------------------------------------------

    def rows_for_keys(self, column: str, keys: Iterable[str], sql: str) -> list[dict[str, Any]]:
        """Run ``sql``, which joins a table ``_keys`` of one ``column``, over ``keys`` (bulk,
        through Arrow, however many keys there are)."""
        table = pa.table({column: pa.array(sorted(set(keys)), pa.string())})
        self.con.register("_keys", table)
        try:
            return self.query_dicts(sql)
        finally:
            self.con.unregister("_keys")

    def seen_files(self, uris: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Every stored row of these files, by uri (the content seen under each)."""
        rows = self.rows_for_keys(
            "uri", uris, "SELECT d.* FROM documents d JOIN _keys USING (uri) ORDER BY last_seen"
        )
        found: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            found.setdefault(row["uri"], []).append(row)
        return found

    def known_contents_all(self) -> dict[str, dict[str, Any]]:
        """What each content already parsed (under any name) became: one row per doc_id."""
        rows = self.query_dicts(
            "SELECT DISTINCT ON (doc_id) doc_id, kind, pages, lines, tokens, status, "
            "status_reason, parser FROM documents WHERE doc_id IS NOT NULL "
            "ORDER BY doc_id, last_seen DESC"
        )
        return {row["doc_id"]: row for row in rows}

    def touch_documents(self, keys: pa.Table, seen_at: datetime, run_id: str) -> None:
        """Move ``last_seen`` of the rows named by ``keys`` (columns uri, doc_id)."""
        if keys.num_rows == 0:
            return
        self.con.register("_touched", keys)
        try:
            self.con.execute(
                "UPDATE documents SET last_seen = ?, last_run_id = ? FROM _touched t "
                "WHERE documents.uri = t.uri AND documents.doc_id IS NOT DISTINCT FROM t.doc_id",
                [seen_at, run_id],
            )
        finally:
            self.con.unregister("_touched")

    def load_texts(self, doc_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        rows = self.rows_for_keys(
            "doc_id", doc_ids,
            "SELECT DISTINCT ON (doc_id) t.* FROM document_texts t JOIN _keys USING (doc_id)",
        )  # fmt: skip
        return {row["doc_id"]: row for row in rows}

    def load_text_sizes(self, doc_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What planning needs of each stored text, without the text: tokens, page starts
        (characters and tokens) and its length in characters."""
        rows = self.rows_for_keys(
            "doc_id", doc_ids,
            "SELECT DISTINCT ON (doc_id) t.doc_id, t.tokens, t.page_starts, t.page_token_starts, "
            "length(t.text) AS chars FROM document_texts t JOIN _keys USING (doc_id)",
        )  # fmt: skip
        return {row["doc_id"]: row for row in rows}

    def textless_doc_ids(self) -> set[str]:
        """Contents with an ``ok`` row but no stored text: rows damaged by a process killed
        between two commits (by an older version), whose content must be parsed again."""
        rows = self.query(
            "SELECT DISTINCT doc_id FROM documents WHERE status = 'ok' AND doc_id IS NOT NULL "
            "AND doc_id NOT IN (SELECT doc_id FROM document_texts)"
        )
        return {row[0] for row in rows}

    def drop_damaged_document(self, uri: str, doc_id: str) -> None:
        """Delete the ``ok`` row of ``uri`` with ``doc_id`` (its replacement lands with it)."""
        self.query(
            "DELETE FROM documents WHERE uri = ? AND doc_id = ? AND status = 'ok'", [uri, doc_id]
        )

    def ocr_candidates(self, always: bool, min_chars: int) -> set[str]:
        """PDF contents parsed without OCR that OCR could add text to (see the SQL file)."""
        params = {"always": always, "min_chars": min_chars}
        return {row["doc_id"] for row in self.query_dicts(sql_text("ocr_candidates.sql"), params)}

    def drop_parse(self, uri: str, doc_id: str) -> None:
        """Delete the row of ``uri`` with ``doc_id`` and that content's text: it was parsed
        again (with OCR), and the new row and text land with this call, in one transaction."""
        self.query("DELETE FROM documents WHERE uri = ? AND doc_id = ?", [uri, doc_id])
        self.query("DELETE FROM document_texts WHERE doc_id = ?", [doc_id])

    def ocr_pages(self, doc_ids: Iterable[str]) -> dict[str, set[int]]:
        """The pages (1-based) whose stored text came from OCR, of each of ``doc_ids``."""
        rows = self.rows_for_keys(
            "doc_id", doc_ids,
            "SELECT DISTINCT doc_id, page FROM document_pages JOIN _keys USING (doc_id) "
            "WHERE ocr",
        )  # fmt: skip
        found: dict[str, set[int]] = {}
        for row in rows:
            found.setdefault(row["doc_id"], set()).add(row["page"])
        return found

    # -- runs ---------------------------------------------------------------------------

    def start_run(self, run: RunRow) -> None:
        self.append([run])

    def mark_interrupted_runs(self) -> int:
        """Mark runs still 'running' as interrupted (see ``__init__``)."""
        rows = self.query(
            "UPDATE runs SET status = 'interrupted', status_reason = 'the process ended "
            "before the run finished' WHERE status = 'running' RETURNING run_id"
        )
        return len(rows)

    def finish_run(
        self, run_id: str, status: str, reason: str | None, totals: dict[str, Any] | None
    ) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, status_reason = ?, totals = ? "
            "WHERE run_id = ?",
            [utc_now(), status, reason, json.dumps(totals) if totals else None, run_id],
        )

    def record_plan(
        self, run_id: str, cost_usd: float, prompt_tokens: int, cache_hits: int, output: int
    ) -> None:
        """What the run's plan predicted, for the summary's planned-versus-settled line."""
        self.con.execute(
            "UPDATE runs SET planned_cost_usd = ?, planned_prompt_tokens = ?, "
            "planned_cache_hit_tokens = ?, planned_output_tokens = ? WHERE run_id = ?",
            [cost_usd, prompt_tokens, cache_hits, output, run_id],
        )

    def output_per_document_field(self, profile: str, backend: str) -> tuple[float, int]:
        """Output tokens (reasoning included) that answers of ``profile`` from ``backend`` took
        per document and field asked, and how many answers that is from. A continuation adds
        to the answer it continues, not to the questions asked."""
        row = self.query(
            "SELECT sum(r.completion_tokens)::DOUBLE / nullif(sum(CASE WHEN r.continues IS NULL "
            "THEN len(r.doc_ids) * len(r.fields) ELSE 0 END), 0), "
            "count(*) FILTER (WHERE r.continues IS NULL) "
            "FROM requests r JOIN work_items w USING (run_id, work_item_id) "
            "WHERE r.status = 'ok' AND r.backend = ? AND w.profile = ?",
            [backend, profile],
        )[0]
        return (row[0] or 0.0), row[1]

    def run_totals(self, run_id: str) -> dict[str, Any]:
        """The numbers of one review run (documents, items, requests, tokens, cost, ...)."""
        return self.query_dicts(sql_text("run_summary.sql"), {"run_id": run_id})[0]

    def billed_tokens(self, run_id: str) -> list[dict[str, Any]]:
        """Model, cache-hit, cache-miss and output tokens, and start time, of every billed
        attempt of ``run_id``: what its cost could be priced again from."""
        return self.query_dicts(
            "SELECT model, cache_hit_tokens, cache_miss_tokens, completion_tokens, started_at "
            "FROM requests WHERE run_id = ? AND cost_usd > 0",
            [run_id],
        )

    def cost_by_model(self, run_id: str) -> list[dict[str, Any]]:
        """Requests, attempts, tokens and cost of ``run_id`` per model, by model name."""
        return self.query_dicts(
            "SELECT * EXCLUDE (run_id) FROM cost_by_run_model WHERE run_id = ? ORDER BY model",
            [run_id],
        )

    # -- reports ------------------------------------------------------------------------

    def review_runs(self, limit: int, run_id: str | None = None) -> list[dict[str, Any]]:
        """The latest ``limit`` review runs, newest first (or the one named ``run_id``)."""
        return self.query_dicts(
            "SELECT * FROM review_runs WHERE $run_id IS NULL OR run_id = $run_id "
            "ORDER BY started_at DESC, run_id LIMIT $limit",
            {"run_id": run_id, "limit": limit},
        )

    def nights_until(self, night: Any, count: int) -> list[dict[str, Any]]:
        """``cost_per_night`` of the ``count`` nights with review runs up to ``night``."""
        return self.query_dicts(
            "SELECT * FROM cost_per_night WHERE beijing_night IN (SELECT DISTINCT beijing_night "
            "FROM review_runs WHERE beijing_night <= $night ORDER BY 1 DESC LIMIT $count) "
            "ORDER BY beijing_night DESC, profile, backend",
            {"night": night, "count": count},
        )

    def run_failures(self, run_id: str) -> list[dict[str, Any]]:
        """What went wrong in ``run_id``, each with its reason."""
        return self.query_dicts(sql_text("run_failures.sql"), {"run_id": run_id})

    def quote_locations(self, profile: str, doc_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The latest grounded quotes of ``profile`` in ``doc_ids``: offsets, page and line."""
        rows = self.rows_for_keys("doc_id", doc_ids, sql_text("quote_locations.sql"))
        return [row for row in rows if row["profile"] == profile]

    def findings_of_run(self, run_id: str) -> list[dict[str, Any]]:
        """The tracked findings of ``run_id`` (new, persisting, fixed, suppressed)."""
        return self.query_dicts(
            "SELECT * FROM findings WHERE run_id = ? ORDER BY relpath, line, field", [run_id]
        )

    # -- review -------------------------------------------------------------------------

    def review_candidates(
        self, source: str, profile: str, version: str, force: bool, backend: str
    ) -> list[dict[str, Any]]:
        """Documents of ``source`` ready for review with this profile version by ``backend``."""
        params = {"source": source, "profile": profile, "version": version, "force": force,
                  "backend": backend}  # fmt: skip
        return self.query_dicts(sql_text("review_candidates.sql"), params)

    def repository_files(self, source: str, profile: str, backend: str) -> list[dict[str, Any]]:
        """The current files of ``source`` with since when each content is unchanged and the
        content last reviewed with ``profile`` by ``backend`` (a later night's context)."""
        params = {"source": source, "profile": profile, "backend": backend}
        return self.query_dicts(sql_text("repository_files.sql"), params)

    def successful_responses(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored answer of every key that already has one: such a key is never sent again."""
        keys = list(keys)
        if not keys:
            return {}
        rows = self.rows_for_keys(
            "request_key", keys,
            "SELECT DISTINCT ON (request_key) request_key, response, finish_reason, model "
            "FROM requests JOIN _keys USING (request_key) WHERE status = 'ok' "
            "ORDER BY request_key, finished_at",
        )  # fmt: skip
        return {row["request_key"]: row for row in rows}

    def successful_request_keys(self) -> set[str]:
        """Every request key with a successful answer in the ledger (keys only: a dispatch
        checks these in memory and reads an answer only for a key it finds here)."""
        return {row[0] for row in self.query("SELECT DISTINCT request_key FROM requests "
                                             "WHERE status = 'ok'")}  # fmt: skip

    def pending_work_items(self, profile: str, version: str) -> list[dict[str, Any]]:
        return self.query_dicts(
            "SELECT * FROM current_work_items WHERE profile = ? AND profile_version = ? "
            "AND status = 'pending' ORDER BY updated_at, work_item_id",
            [profile, version],
        )

    def work_items_of_run(self, run_id: str) -> set[str]:
        rows = self.query("SELECT DISTINCT work_item_id FROM work_items WHERE run_id = ?", [run_id])
        return {row[0] for row in rows}

    def done_work_items(self, item_ids: Iterable[str], profile: str, version: str) -> set[str]:
        """Which of ``item_ids`` are done for this profile version, in any run."""
        rows = self.rows_for_keys(
            "work_item_id", item_ids,
            "SELECT work_item_id, status, profile, profile_version FROM current_work_items "
            "JOIN _keys USING (work_item_id)",
        )  # fmt: skip
        wanted = (profile, version, "done")
        return {
            r["work_item_id"]
            for r in rows
            if (r["profile"], r["profile_version"], r["status"]) == wanted
        }

    def ingest_totals(self, run_id: str) -> list[dict[str, Any]]:
        """Files, pages, tokens and bytes by kind and status, of the files an ingest run saw."""
        return self.query_dicts(
            "SELECT kind, status, count(*) AS files, sum(pages) AS pages, sum(tokens) AS tokens, "
            "sum(bytes) AS bytes FROM documents WHERE last_run_id = ? "
            "GROUP BY ALL ORDER BY kind, status",
            [run_id],
        )

    def count_ok_documents(self, source: str) -> int:
        """Distinct parsed contents of ``source`` (what a review of it could cover)."""
        rows = self.query(
            "SELECT count(DISTINCT doc_id) FROM current_documents "
            "WHERE source = ? AND status = 'ok' AND doc_id IS NOT NULL",
            [source],
        )
        return int(rows[0][0])

    # -- families -----------------------------------------------------------------------

    def source_documents(self, source: str) -> list[dict[str, Any]]:
        """doc_id and relpath of every parsed document of ``source`` as it is now."""
        return self.query_dicts(
            "SELECT DISTINCT doc_id, relpath FROM current_documents "
            "WHERE source = ? AND status = 'ok' AND doc_id IS NOT NULL ORDER BY relpath",
            [source],
        )

    def current_families(self, source: str) -> list[dict[str, Any]]:
        """The family recorded last for each document of ``source``."""
        return self.query_dicts(
            "SELECT * FROM current_document_families WHERE source = ?", [source]
        )

    def clause_matrix_cells(self, profile: str, run_id: str | None) -> list[dict[str, Any]]:
        """The view ``clause_matrix`` of ``profile``: the families ``run_id`` planned, or all."""
        return self.query_dicts(sql_text("clause_matrix_of.sql"),
                                {"profile": profile, "run_id": run_id})  # fmt: skip

    def review_run_profile(self, run_id: str) -> str | None:
        """The profile a review run used (None: no such review run)."""
        rows = self.query("SELECT profile FROM runs WHERE run_id = ? AND kind = 'review'",
                          [run_id])  # fmt: skip
        return rows[0][0] if rows else None

    # -- evaluation ---------------------------------------------------------------------

    def extractions_of_run(self, run_id: str) -> list[dict[str, Any]]:
        return self.query_dicts("SELECT * FROM extractions WHERE run_id = ?", [run_id])

    def latest_extractions_per_document(self) -> list[dict[str, Any]]:
        """Per document, the extractions of the latest run that extracted from it."""
        return self.query_dicts(
            "SELECT e.* FROM extractions e JOIN (SELECT doc_id, arg_max(run_id, created_at) "
            "AS run_id FROM extractions GROUP BY doc_id) latest USING (doc_id, run_id)"
        )

    def reviewed_doc_ids(self, run_ids: Sequence[str]) -> set[str]:
        """The documents any of ``run_ids`` reviewed."""
        rows = self.query(
            "SELECT DISTINCT doc_id FROM document_reviews WHERE list_contains(?, run_id)",
            [list(run_ids)],
        )
        return {row[0] for row in rows}

    def documents_with_text(self, doc_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Relpath, kind, text and page starts of each of ``doc_ids`` that has a stored text."""
        rows = self.rows_for_keys("doc_id", doc_ids, sql_text("documents_with_text.sql"))
        return {row["doc_id"]: row for row in rows}

    def billed_cost_by_model(
        self, run_ids: Sequence[str], doc_ids: Iterable[str]
    ) -> dict[str, float]:
        """Cost per model of every attempt of ``run_ids`` that carried any of ``doc_ids``."""
        rows = self.query(
            "SELECT model, coalesce(sum(cost_usd), 0) FROM requests"
            " WHERE list_contains(?, run_id) AND list_has_any(doc_ids, ?) GROUP BY model",
            [list(run_ids), sorted(doc_ids)],
        )
        return {model: float(total) for model, total in rows}

    # -- findings -----------------------------------------------------------------------

    def current_finding_rows(self, run_id: str, source: str, profile: str) -> list[dict[str, Any]]:
        """The grounded findings of the files ``run_id`` saw of ``source``, each from the
        latest review of its content with ``profile``; an unreviewed file has reviewed = false."""
        params = {"source": source, "run_id": run_id, "profile": profile}
        return self.query_dicts(sql_text("current_findings.sql"), params)

    def findings_tracked(self, run_id: str) -> bool:
        """Whether the findings of ``run_id`` have already been classified and landed."""
        return bool(self.query("SELECT 1 FROM finding_runs WHERE run_id = ?", [run_id]))

    def latest_findings_run(self, source: str, profile: str) -> str | None:
        """The last run whose findings of ``source`` with ``profile`` were tracked, if any."""
        rows = self.query(
            "SELECT arg_max(run_id, created_at) FROM finding_runs WHERE source = ? AND profile = ?",
            [source, profile],
        )
        return rows[0][0]

    def unfixed_findings(self, run_id: str) -> list[dict[str, Any]]:
        """The findings ``run_id`` still reported (every state but fixed)."""
        return self.query_dicts(
            "SELECT * FROM findings WHERE run_id = ? AND state <> 'fixed'", [run_id]
        )

    def suppressed_fingerprints(self) -> set[str]:
        return {row[0] for row in self.query("SELECT fingerprint FROM finding_suppressions")}

    def findings_run_previous(self, run_id: str) -> str | None:
        """The tracked run the findings of ``run_id`` were compared against (None: the first)."""
        rows = self.query("SELECT previous_run_id FROM finding_runs WHERE run_id = ?", [run_id])
        return rows[0][0]

    def finding_state_counts(self, run_id: str) -> dict[str, int]:
        """How many findings of ``run_id`` are in each state (only states that occur)."""
        rows = self.query(
            "SELECT state, count(*) FROM findings WHERE run_id = ? GROUP BY state", [run_id]
        )
        return {state: int(count) for state, count in rows}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
