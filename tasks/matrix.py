"""The clause matrix: one row per contract family, one column per field of a profile.

Each cell holds the value in force (normalised, ``tasks/typed_values.py``), its state (found,
absent, failed, not reviewed), the quote and page it stands on, and the chain of family members
that addressed the field (master first, the member in force last). It is read from the view
``clause_matrix`` (``connectors/sql/009_families_matrix.sql``); renderers (the CLI's table,
CSV and XLSX here, the HTML report) take the ``ClauseMatrix`` value and nothing else.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from connectors.store import Store
from nightshift.errors import ConfigError
from nightshift.profiles import Profile, load_profile

CellState = Literal["found", "absent", "failed", "not reviewed"]
STATES: tuple[CellState, ...] = ("found", "absent", "failed", "not reviewed")


@dataclass(frozen=True)
class ChainLink:
    """One family member's answer to a field, in order of precedence."""

    doc_id: str
    relpath: str
    role: str  # master | amendment | attachment
    value: str | None
    quote: str | None
    page: int | None


@dataclass(frozen=True)
class MatrixCell:
    field: str
    state: CellState
    value: str | None = None  # the normalised value in force
    value_status: str | None = None  # ok | invalid (a value that could not be read as its type)
    value_reason: str | None = None
    relpath: str | None = None  # the member the value in force comes from
    quote: str | None = None
    page: int | None = None
    chain: tuple[ChainLink, ...] = ()

    @property
    def display(self) -> str:
        """What a spreadsheet cell shows: the value when found, else the state."""
        if self.state != "found":
            return self.state
        return self.value or ""


@dataclass(frozen=True)
class MatrixRow:
    family_id: str
    source: str
    members: tuple[str, ...]  # relpaths, in order of precedence (master before amendments)
    cells: tuple[MatrixCell, ...]  # one per column, in the matrix's column order

    @property
    def label(self) -> str:
        return self.family_id.rstrip("/") if len(self.members) > 1 else self.members[0]

    def cell(self, field: str) -> MatrixCell:
        return next(cell for cell in self.cells if cell.field == field)

    def state_counts(self) -> dict[CellState, int]:
        """How many fields are in each state, every state named."""
        counts = dict.fromkeys(STATES, 0)
        for cell in self.cells:
            counts[cell.state] += 1
        return counts


@dataclass(frozen=True)
class ClauseMatrix:
    profile: str
    run_id: str | None
    columns: tuple[str, ...]  # the profile's field names, in its order
    rows: tuple[MatrixRow, ...]


def clause_matrix(store: Store, profile: str | Profile, run_id: str | None = None) -> ClauseMatrix:
    """The matrix of ``profile``: every family it planned, or those of review run ``run_id``."""
    spec = profile if isinstance(profile, Profile) else load_profile(profile)
    if run_id is not None:
        used = store.review_run_profile(run_id)
        if used is None:
            raise ConfigError(f"no review run {run_id!r} in {store.path}")
        if used != spec.name:
            raise ConfigError(f"run {run_id} reviewed with profile {used!r}, not {spec.name!r}")
    return matrix_with_columns(store, spec.name, tuple(f.name for f in spec.fields), run_id)


def matrix_with_columns(
    store: Store, profile: str, columns: tuple[str, ...], run_id: str | None = None
) -> ClauseMatrix:
    """The matrix of the profile named ``profile`` with the given columns: for a profile whose
    file is not at hand (a report of a run made with a profile file elsewhere)."""
    by_family: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in store.clause_matrix_cells(profile, run_id):
        by_family.setdefault((record["source"], record["family_id"]), []).append(record)
    rows = [
        _row(source, family, records, columns) for (source, family), records in by_family.items()
    ]
    rows.sort(key=lambda row: (row.label, row.source))
    return ClauseMatrix(profile, run_id, columns, tuple(rows))


def _row(
    source: str, family_id: str, records: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> MatrixRow:
    by_field = {record["field"]: record for record in records}
    cells = tuple(_cell(field, by_field.get(field)) for field in columns)
    return MatrixRow(family_id, source, tuple(records[0]["members"]), cells)


def _cell(field: str, record: Mapping[str, Any] | None) -> MatrixCell:
    if record is None:  # a field no document was ever asked
        return MatrixCell(field, "not reviewed")
    chain = tuple(
        ChainLink(link["doc_id"], link["relpath"], link["role"], link["value_text"],
                  link["quote"], link["page"])
        for link in record["chain"] or ()
    )  # fmt: skip
    return MatrixCell(
        field=field, state=record["state"], value=record["value_text"],
        value_status=record["value_status"], value_reason=record["value_reason"],
        relpath=record["relpath"], quote=record["quote"], page=record["page"], chain=chain,
    )  # fmt: skip


# -- export ----------------------------------------------------------------------------

PER_FIELD = ("", " state", " page", " quote")  # the CSV's columns for each field


def write_csv(matrix: ClauseMatrix, path: Path) -> None:
    """One line per family: its documents, then per field the value, state, page and quote."""
    header = ["contract", "documents"]
    header += [f"{field}{suffix}" for field in matrix.columns for suffix in PER_FIELD]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in matrix.rows:
            line: list[object] = [row.label, "; ".join(row.members)]
            for cell in row.cells:
                line += [cell.value or "", cell.state, cell.page or "", cell.quote or ""]
            writer.writerow(line)


def chain_text(cell: MatrixCell) -> str:
    """The chain of a cell in words: "master.pdf: 90 days -> amendment-1.pdf: 120 days"."""
    return " -> ".join(f"{link.relpath}: {link.value or ''}" for link in cell.chain)
