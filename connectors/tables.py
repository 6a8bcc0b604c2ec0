"""The rows nightshift lands, each table's columns defined once.

A table's row is a frozen dataclass whose fields are the table's columns, in order; its Arrow
schema is derived from the field types, and ``Store.append`` writes a list of rows in one bulk
insert. The SQL migrations in ``connectors/sql/`` create the same columns: a test checks the two
against each other, so a column is spelled in the migration and here, nowhere else.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from typing import Any, ClassVar, Union

import pyarrow as pa

_SCALARS: dict[object, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    datetime: pa.timestamp("us", tz="UTC"),
    date: pa.date32(),
}


@dataclasses.dataclass(frozen=True)
class Row:
    """Base of every table row; ``TABLE`` names the DuckDB table it lands in."""

    TABLE: ClassVar[str] = ""

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class RunRow(Row):
    TABLE: ClassVar[str] = "runs"
    run_id: str
    flow_run_id: str | None
    kind: str
    profile: str | None
    profile_version: str | None
    source: str | None
    backend: str | None
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"
    status_reason: str | None = None
    window_end: datetime | None = None
    budget_usd: float | None = None
    totals: str | None = None  # JSON
    planned_cost_usd: float | None = None  # the plan priced in the period the run began
    planned_cache_hit_tokens: int | None = None
    planned_prompt_tokens: int | None = None
    planned_output_tokens: int | None = None


@dataclasses.dataclass(frozen=True)
class DocumentRow(Row):
    TABLE: ClassVar[str] = "documents"
    doc_id: str | None
    uri: str
    relpath: str
    source: str
    kind: str
    bytes: int | None
    pages: int | None
    lines: int | None
    tokens: int | None
    status: str
    status_reason: str | None
    parser: str | None
    etag: str | None
    modified_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    last_run_id: str | None


@dataclasses.dataclass(frozen=True)
class DocumentTextRow(Row):
    TABLE: ClassVar[str] = "document_texts"
    doc_id: str
    text: str
    page_starts: list[int] | None
    page_token_starts: list[int] | None
    tokens: int
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class DocumentPageRow(Row):
    """One page of a PDF parsed with OCR on: where its text came from, and how sure OCR was."""

    TABLE: ClassVar[str] = "document_pages"
    doc_id: str
    page: int
    text_chars: int
    ocr: bool
    ocr_status: str
    engine: str | None
    languages: str | None
    confidence: float | None
    seconds: float | None
    detail: str | None
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class RequestRow(Row):
    """One HTTP attempt of a request: the ledger."""

    TABLE: ClassVar[str] = "requests"
    request_key: str
    attempt: int
    run_id: str
    work_item_id: str
    pass_index: int
    doc_ids: list[str]
    fields: list[str]
    model: str
    reasoning_effort: str | None
    thinking: bool | None
    route_reason: str | None
    escalated_from: str | None
    started_at: datetime | None
    finished_at: datetime | None
    status: str
    http_status: int | None
    error: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    cache_hit_tokens: int | None
    cache_miss_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None
    predicted_cache_hit_tokens: int | None
    cost_usd: float | None
    started_off_peak: bool | None
    finished_off_peak: bool | None
    off_peak: bool | None
    response: str | None
    backend: str | None
    continues: str | None = None


@dataclasses.dataclass(frozen=True)
class WorkItemRow(Row):
    TABLE: ClassVar[str] = "work_items"
    work_item_id: str
    run_id: str
    profile: str
    profile_version: str
    grp: str | None
    doc_ids: list[str]
    spec: str  # JSON: the slices, so the item can be rebuilt as planned
    input_tokens: int | None
    status: str
    status_reason: str | None
    updated_at: datetime


@dataclasses.dataclass(frozen=True)
class ExtractionRow(Row):
    TABLE: ClassVar[str] = "extractions"
    run_id: str
    doc_id: str
    request_key: str
    work_item_id: str
    profile: str
    profile_version: str
    field: str
    value: str | None  # JSON
    quote: str | None
    char_start: int | None
    char_end: int | None
    page: int | None
    file: str | None
    line: int | None
    grounded: bool
    match: str | None
    window: str | None
    model: str
    created_at: datetime
    backend: str | None
    match_score: float | None = None
    ocr: bool | None = None  # grounded on a page whose text came from OCR
    # The value read as its field's type (tasks/typed_values.py); status 'invalid' flags a value
    # that could not be, with the reason.
    value_type: str | None = None
    value_status: str | None = None
    value_reason: str | None = None
    value_text: str | None = None
    value_date: date | None = None
    value_days: int | None = None
    value_amount: float | None = None
    value_currency: str | None = None
    value_bool: bool | None = None
    value_list: list[str] | None = None


@dataclasses.dataclass(frozen=True)
class ReviewRow(Row):
    """A document reviewed for a profile version by a backend."""

    TABLE: ClassVar[str] = "document_reviews"
    doc_id: str
    profile: str
    profile_version: str
    run_id: str
    reviewed_at: datetime
    backend: str | None


@dataclasses.dataclass(frozen=True)
class FieldStateRow(Row):
    """What became of one asked field of one document in one answer."""

    TABLE: ClassVar[str] = "field_states"
    run_id: str
    doc_id: str
    profile: str
    profile_version: str
    field: str
    state: str
    request_key: str
    window: str | None
    backend: str | None
    created_at: datetime


def _arrow_type(hint: object) -> pa.DataType:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _arrow_type(inner)
    if origin is list:
        (item,) = typing.get_args(hint)
        return pa.list_(_arrow_type(item))
    return _SCALARS[hint]


_SCHEMAS: dict[str, pa.Schema] = {}


def arrow_schema(row_type: type[Row]) -> pa.Schema:
    """The Arrow schema of ``row_type``'s table: one column per dataclass field, in order."""
    if row_type.TABLE not in _SCHEMAS:
        hints = typing.get_type_hints(row_type)
        fields = [(f.name, _arrow_type(hints[f.name])) for f in dataclasses.fields(row_type)]
        _SCHEMAS[row_type.TABLE] = pa.schema(fields)
    return _SCHEMAS[row_type.TABLE]


def to_arrow(rows: typing.Sequence[Row]) -> pa.Table:
    """One Arrow table of ``rows`` (all of one type)."""
    row_type = type(rows[0])
    schema = arrow_schema(row_type)
    columns = {name: [getattr(row, name) for row in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema)


@dataclasses.dataclass(frozen=True)
class FamilyRow(Row):
    """A document's place in its contract family (master, amendment, attachment)."""

    TABLE: ClassVar[str] = "document_families"
    doc_id: str
    source: str
    relpath: str
    family_id: str
    role: str
    ordinal: int | None  # the amendment's or attachment's number, where its name gives one
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class FindingRunRow(Row):
    """A review run whose findings were classified, and the run they were compared with."""

    TABLE: ClassVar[str] = "finding_runs"
    run_id: str
    source: str
    profile: str
    previous_run_id: str | None
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class FindingRow(Row):
    """One finding of a tracked run: new, persisting, fixed or suppressed."""

    TABLE: ClassVar[str] = "findings"
    run_id: str
    source: str
    profile: str
    fingerprint: str
    state: str
    field: str
    relpath: str
    line: int | None
    quote: str | None
    doc_id: str | None
    value: str | None  # JSON
    first_seen_run: str
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class SuppressionRow(Row):
    """A finding a team decided not to hear about again, by fingerprint, and why."""

    TABLE: ClassVar[str] = "finding_suppressions"
    fingerprint: str
    reason: str
    created_at: datetime


TABLE_ROWS: tuple[type[Row], ...] = (
    RunRow, DocumentRow, DocumentTextRow, RequestRow, WorkItemRow, ExtractionRow, ReviewRow,
    FieldStateRow, FindingRunRow, FindingRow, SuppressionRow, FamilyRow, DocumentPageRow,
)  # fmt: skip
