"""What a run report shows, read from the database: the run, its cost, its failures, and its
results (the clause matrix for extraction profiles, findings for codebase reviews), each quote
with the text around it. ``tasks/report_html.py`` renders it; nothing here formats HTML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.store import Store
from nightshift.errors import ConfigError, StoreError
from nightshift.profiles import load_profile
from tasks.matrix import ChainLink, ClauseMatrix, MatrixCell, MatrixRow, matrix_with_columns

CONTEXT_CHARS = 240  # text shown on each side of a quote
CONTEXT_LINES = 2  # code lines shown on each side of a finding's line
NIGHTS_SHOWN = 7

FINDING_STATES = ("new", "persisting", "fixed", "suppressed")


@dataclass(frozen=True)
class QuoteInContext:
    """A grounded quote as it sits in its source: the text before, the quote, the text after,
    and where it is (page of a PDF, line of a text or code file)."""

    before: str
    quote: str
    after: str
    page: int | None
    line: int | None

    @property
    def location(self) -> str:
        if self.page is not None:
            return f"page {self.page}"
        return f"line {self.line}" if self.line is not None else ""


@dataclass(frozen=True)
class MatrixSection:
    """The clause matrix of the run's source, as ``nightshift matrix`` shows it (a row per
    contract family, the value in force per field), and each quote of each cell's chain in its
    document's text, in the chain's order."""

    matrix: ClauseMatrix
    contexts: Mapping[tuple[str, str, str], tuple[QuoteInContext, ...]]  # (source, family, field)

    def quotes(self, row: MatrixRow, cell: MatrixCell) -> tuple[QuoteInContext, ...]:
        return self.contexts.get((row.source, row.family_id, cell.field), ())


@dataclass(frozen=True)
class CodeLine:
    number: int
    text: str
    is_finding: bool


@dataclass(frozen=True)
class FindingEntry:
    state: str
    field: str
    relpath: str
    line: int | None
    severity: str
    fingerprint: str
    quote: str
    context: tuple[CodeLine, ...]

    @property
    def location(self) -> str:
        return f"{self.relpath}:{self.line}" if self.line is not None else self.relpath


@dataclass(frozen=True)
class RunReport:
    run: dict[str, Any]  # the run's row of the review_runs view
    backend_label: str
    by_model: list[dict[str, Any]]
    nights: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    matrix: MatrixSection | None
    findings: tuple[FindingEntry, ...] | None

    @property
    def cache_hit_share(self) -> float:
        prompt = self.run["prompt_tokens"]
        return self.run["cache_hit_tokens"] / prompt if prompt else 0.0

    def finding_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(FINDING_STATES, 0)
        for finding in self.findings or ():
            counts[finding.state] = counts.get(finding.state, 0) + 1
        return counts


def build_report(store: Store, run_id: str | None = None) -> RunReport:
    """The report of review run ``run_id``, or of the latest review run."""
    found = store.review_runs(1, run_id)
    if not found:
        which = f"no review run {run_id!r}" if run_id else "no review run yet"
        raise StoreError(f"{which} in {store.path}")
    run = found[0]
    totals = store.query("SELECT totals FROM runs WHERE run_id = ?", [run["run_id"]])[0][0]
    label = json.loads(totals).get("backend", run["backend"]) if totals else run["backend"]
    findings = None
    matrix = None
    if store.findings_tracked(run["run_id"]):
        findings = findings_section(store, run["run_id"])
    else:
        matrix = matrix_section(store, run["profile"], run["source"])
    return RunReport(
        run=run,
        backend_label=label or "",
        by_model=store.cost_by_model(run["run_id"]),
        nights=store.nights_until(run["beijing_night"], NIGHTS_SHOWN),
        failures=store.run_failures(run["run_id"]),
        matrix=matrix,
        findings=findings,
    )


# -- field results -------------------------------------------------------------------------


def matrix_section(store: Store, profile: str, source: str) -> MatrixSection:
    """The clause matrix of ``source``'s contract families for ``profile``, as they stand now
    (the latest review of each document), with every quote of every chain in context."""
    found = matrix_with_columns(store, profile, profile_columns(store, profile))
    rows = tuple(row for row in found.rows if row.source == source)
    matrix = ClauseMatrix(found.profile, None, found.columns, rows)
    links = [
        (row, cell, link) for row in rows for cell in row.cells for link in cell.chain
    ]  # fmt: skip
    doc_ids = {link.doc_id for _, _, link in links}
    texts = store.documents_with_text(doc_ids)
    located: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for quote in store.quote_locations(profile, doc_ids):
        located.setdefault((quote["doc_id"], quote["field"], quote["quote"]), quote)
    contexts: dict[tuple[str, str, str], tuple[QuoteInContext, ...]] = {}
    for row, cell, link in links:
        text = texts.get(link.doc_id, {}).get("text", "")
        where = located.get((link.doc_id, cell.field, link.quote)) or _unlocated(link)
        key = (row.source, row.family_id, cell.field)
        contexts[key] = (*contexts.get(key, ()), quote_in_context(text, where))
    return MatrixSection(matrix, contexts)


def profile_columns(store: Store, profile: str) -> tuple[str, ...]:
    """The profile's fields in its order; the fields its reviews decided, sorted, when its file
    is not at hand (a run made with a profile file kept elsewhere)."""
    try:
        return tuple(spec.name for spec in load_profile(profile).fields)
    except ConfigError:
        rows = store.query(
            "SELECT DISTINCT field FROM field_states WHERE profile = ? ORDER BY field", [profile]
        )
        return tuple(row[0] for row in rows)


def _unlocated(link: ChainLink) -> dict[str, Any]:
    """A quote whose offsets are not known: shown as stored, with its page."""
    return {"quote": link.quote, "char_start": None, "char_end": None, "page": link.page,
            "line": None}  # fmt: skip


def quote_in_context(text: str, row: dict[str, Any]) -> QuoteInContext:
    """The quote of extraction ``row`` with up to ``CONTEXT_CHARS`` of ``text`` on each side,
    cut at word boundaries; the quote as stored when its offsets are not known."""
    start, end = row["char_start"], row["char_end"]
    if start is None or end is None or not text:
        return QuoteInContext("", row["quote"] or "", "", row["page"], row["line"])
    lo = max(0, start - CONTEXT_CHARS)
    hi = min(len(text), end + CONTEXT_CHARS)
    before, after = text[lo:start], text[end:hi]
    if lo > 0 and " " in before:
        before = "… " + before.split(" ", 1)[1]
    if hi < len(text) and " " in after:
        after = after.rsplit(" ", 1)[0] + " …"
    return QuoteInContext(before, text[start:end], after, row["page"], row["line"])


# -- findings ------------------------------------------------------------------------------


def findings_section(store: Store, run_id: str) -> tuple[FindingEntry, ...]:
    """The run's tracked findings, new first, each with the code lines around it."""
    rows = store.findings_of_run(run_id)
    texts = store.documents_with_text({row["doc_id"] for row in rows if row["doc_id"]})
    entries = []
    for row in rows:
        text = texts.get(row["doc_id"] or "", {}).get("text", "")
        value = json.loads(row["value"]) if row["value"] else {}
        severity = value.get("severity", "") if isinstance(value, dict) else ""
        entries.append(
            FindingEntry(
                state=row["state"],
                field=row["field"],
                relpath=row["relpath"],
                line=row["line"],
                severity=str(severity or ""),
                fingerprint=row["fingerprint"],
                quote=row["quote"] or "",
                context=code_context(text, row["line"]),
            )
        )
    order = {state: index for index, state in enumerate(FINDING_STATES)}
    return tuple(sorted(entries, key=lambda e: (order.get(e.state, 9), e.relpath, e.line or 0)))


def code_context(text: str, line: int | None) -> tuple[CodeLine, ...]:
    """The lines ``line - CONTEXT_LINES`` to ``line + CONTEXT_LINES`` of ``text`` (1-based)."""
    if not text or line is None:
        return ()
    lines = text.splitlines()
    first = max(1, line - CONTEXT_LINES)
    last = min(len(lines), line + CONTEXT_LINES)
    return tuple(CodeLine(n, lines[n - 1], n == line) for n in range(first, last + 1))


# -- the runs list -------------------------------------------------------------------------

RUNS_COLUMNS = (
    "run", "started (UTC)", "source", "profile", "backend", "status", "documents", "requests",
    "cost USD",
)  # fmt: skip


def recent_runs(store: Store, limit: int) -> list[list[str]]:
    """The rows of ``nightshift runs``: the latest ``limit`` review runs, newest first."""
    rows = []
    for row in store.review_runs(limit):
        backend = f"{row['backend']}{' (simulated)' if row['simulated'] else ''}"
        rows.append([
            row["run_id"], f"{row['started_at']:%Y-%m-%d %H:%M}", row["source"] or "",
            row["profile"] or "", backend, run_status(row), str(row["documents"]),
            str(row["requests"]), f"{row['cost_usd']:.4f}",
        ])  # fmt: skip
    return rows


def run_status(row: dict[str, Any]) -> str:
    """The run's status and why; a run that found nothing new says what it skipped and why."""
    status = row["status"]
    if row["status_reason"]:
        return f"{status}: {row['status_reason']}"
    skipped = row["skipped_documents"]
    if skipped and not row["documents"]:
        return (
            f"{status}: nothing new, {skipped} documents already reviewed with this profile version"
        )
    if skipped:
        return f"{status}; {skipped} documents already reviewed, skipped"
    return status
