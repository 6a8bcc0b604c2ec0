"""Validating an answer: JSON, then schema, then grounding, then completeness.

What a model returns is untrusted input. A local repair (code fences, prose around the object,
trailing commas) is tried once; what still fails is reported as a problem that the dispatcher
turns into an escalation or a recorded failure. Every extraction that passes the schema lands,
grounded or not, so that nothing is hidden; the verified view shows only grounded ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from nightshift.models import DocKind
from tasks.ground import GroundingIndex
from tasks.prompt import DocumentView

# A quote must be long enough to support a value: "the", "of it" or "Section" is in every
# contract and says nothing about which clause was meant. Counted in non-space characters, not
# words: one word can be specific (a heading such as "Insurance" or "Indemnification" stands
# for the clause under it). A line of code can be one token ("eval(data)"), not a bare keyword.
MIN_QUOTE_CHARS = 8  # prose
MIN_CODE_QUOTE_CHARS = 6  # code
# Numbers in a value and its quote ("90 days", "2024-01-31", "$1,000,000"); thousands
# separators are dropped, leading zeros ignored, so "04" in a date equals "4" in "April 4".
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# The values checked against their quote: a number or an amount, with at most a unit word
# ("90", "$1,000,000", "15%", "90 days"). Dates and phrases are not checked: reviewers derive
# them ("3/18/15" from "five years from the date hereof"), so a mismatch proves nothing.
CHECKED_VALUE = re.compile(r"^[$€£]?\s?\d[\d,]*(?:\.\d+)?\s?%?(?:\s+[A-Za-z]+)?$")
# A quote that spells numbers out ("ninety (90) days", "thirty days") may hold the value in
# words, which this check does not read: such quotes pass.
NUMBER_WORDS = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred|thousand|million|billion)\b",
    re.IGNORECASE,
)

FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)
TRAILING_COMMA = re.compile(r",\s*([}\]])")


@dataclass(frozen=True)
class Extraction:
    doc_id: str
    field: str
    value: Any
    quote: str
    grounded: bool
    match: str | None = None
    char_start: int | None = None
    char_end: int | None = None
    page: int | None = None
    file: str | None = None
    line: int | None = None
    window: str | None = None
    score: float | None = None  # the match's score: 1.0 but for fuzzy matches


class FieldState(StrEnum):
    """What became of one asked field of one document in one answer."""

    ANSWERED = "answered"  # at least one extraction, grounded or not
    ABSENT = "absent"  # the model declared the document has no such clause or finding
    MISSING = "missing"  # neither: skipped, cut off by truncation, or the answer was unreadable


@dataclass(frozen=True)
class FieldOutcome:
    doc_id: str
    field: str
    state: FieldState


@dataclass(frozen=True)
class AnswerCheck:
    extractions: tuple[Extraction, ...] = ()
    invalid_json: bool = False
    repaired: bool = False
    truncated: bool = False
    problems: tuple[str, ...] = ()
    ungrounded_fields: frozenset[str] = field(default_factory=frozenset)
    outcomes: tuple[FieldOutcome, ...] = ()  # every asked field of every document shown

    @property
    def needs_escalation(self) -> bool:
        return self.invalid_json or self.truncated or bool(self.ungrounded_fields)


def parse_answer(content: str) -> tuple[Any, bool]:
    """The JSON object in ``content`` and whether a repair was needed; (None, True) if none.

    The repair strips code fences and trailing commas and takes the first JSON object found
    in prose around it (braces in that prose are skipped, not trusted).
    """
    try:
        return json.loads(content), False
    except json.JSONDecodeError:
        pass
    text = TRAILING_COMMA.sub(r"\1", FENCE.sub("", content))
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last:
        try:
            return json.loads(text[first : last + 1]), True
        except json.JSONDecodeError:
            pass
    # Braces in the prose around the object: take the first complete object instead.
    decoder = json.JSONDecoder()
    start = first
    while start >= 0:
        try:
            payload, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            payload = None
        if isinstance(payload, dict):
            return payload, True
        start = text.find("{", start + 1)
    return None, True


def check_answer(
    content: str,
    finish_reason: str | None,
    views: Sequence[DocumentView],
    asked_fields: Sequence[str],
    indexes: Mapping[str, GroundingIndex],
) -> AnswerCheck:
    """Check one answer against the documents and fields that its request showed and asked.

    Documents shown as context (``role="context"``) are not asked about: an answer's items
    about them are left out, and no field of theirs is answered, absent or missing."""
    shown_as_context = {view.doc_id for view in views if view.role == "context"}
    shown_as_context |= {view.name for view in views if view.role == "context"}
    views = [view for view in views if view.role != "context"]
    truncated = finish_reason == "length"
    payload, repaired = parse_answer(content)
    items = payload.get("extractions") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        reason = "output truncated (finish_reason=length)" if truncated else "no JSON object"
        missing = field_outcomes(views, asked_fields, set(), set())
        return AnswerCheck(invalid_json=True, repaired=repaired, truncated=truncated,
                           problems=(f"invalid answer: {reason}",), outcomes=missing)  # fmt: skip
    by_id = {view.doc_id: view for view in views}
    by_name = {view.name: view for view in views}
    asked = set(asked_fields)
    extractions: list[Extraction] = []
    problems: list[str] = []
    ungrounded: set[str] = set()
    for number, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"item {number}: not an object")
            continue
        view = by_id.get(str(item.get("doc_id"))) or by_name.get(str(item.get("doc_id")))
        name, quote = item.get("field"), item.get("quote")
        if view is None and str(item.get("doc_id")) in shown_as_context:
            continue  # reviewed on an earlier night; the changes are what is asked
        if view is None:
            problems.append(f"item {number}: unknown doc_id {item.get('doc_id')!r}")
            continue
        if not isinstance(name, str) or name not in asked:
            problems.append(f"item {number}: field {name!r} was not asked")
            continue
        if not isinstance(quote, str) or not quote.strip():
            problems.append(f"item {number}: field {name!r} has no quote")
            ungrounded.add(name)
            continue
        line = item.get("line")
        hint = line if isinstance(line, int) and not isinstance(line, bool) else None
        value = item.get("value")
        index = indexes[view.doc_id]
        extraction = ground_extraction(view, name, value, quote, index, line_hint=hint)
        if not quote_supports_value(quote, view.kind):
            # Kept out of the verified view, but no reason to ask a stronger model: a short
            # answer (a party's name) is short on every model.
            extraction = replace(extraction, grounded=False)
            problems.append(f"{name}: quote {quote.strip()!r} is too short to support a value")
            extractions.append(extraction)
            continue
        if extraction.grounded and not value_consistent(value, quote):
            extraction = replace(extraction, grounded=False)
            problems.append(f"{name}: value {value!r} disagrees with the numbers of its quote")
        if not extraction.grounded:
            ungrounded.add(name)
            if extraction.match is None:
                problems.append(f"{name}: quote not found in {view.name}")
        extractions.append(extraction)
    declared = declared_absent(payload.get("absent"), views, asked)
    answered = {(e.doc_id, e.field) for e in extractions}
    return AnswerCheck(
        tuple(extractions), False, repaired, truncated, tuple(problems), frozenset(ungrounded),
        field_outcomes(views, asked_fields, answered, declared),
    )  # fmt: skip


def declared_absent(
    entries: Any, views: Sequence[DocumentView], asked: set[str]
) -> set[tuple[str, str]]:
    """(doc id, field) pairs the answer declares absent. An entry names a document by id (or
    name) and a field; one without a document applies to every document of the request."""
    if not isinstance(entries, list):
        return set()
    ids = {view.doc_id: view.doc_id for view in views} | {view.name: view.doc_id for view in views}
    declared: set[tuple[str, str]] = set()
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("field") not in asked:
            continue
        named = entry.get("doc_id")
        targets = [ids[str(named)]] if str(named) in ids else []
        if named in (None, "", "*"):
            targets = list(dict.fromkeys(view.doc_id for view in views))
        declared.update((doc_id, str(entry["field"])) for doc_id in targets)
    return declared


def field_outcomes(
    views: Sequence[DocumentView],
    asked_fields: Sequence[str],
    answered: set[tuple[str, str]],
    declared: set[tuple[str, str]],
) -> tuple[FieldOutcome, ...]:
    """The state of every asked field of every document shown (answered wins over absent)."""
    outcomes = []
    for doc_id in dict.fromkeys(view.doc_id for view in views):
        for name in asked_fields:
            if (doc_id, name) in answered:
                state = FieldState.ANSWERED
            elif (doc_id, name) in declared:
                state = FieldState.ABSENT
            else:
                state = FieldState.MISSING
            outcomes.append(FieldOutcome(doc_id, name, state))
    return tuple(outcomes)


def quote_supports_value(quote: str, kind: DocKind) -> bool:
    """Whether ``quote`` is long enough to ground anything (see ``MIN_QUOTE_*``)."""
    chars = sum(not c.isspace() for c in quote)
    return chars >= (MIN_CODE_QUOTE_CHARS if kind is DocKind.CODE else MIN_QUOTE_CHARS)


def value_consistent(value: Any, quote: str) -> bool:
    """False only when a numeric value ("90 days", 90, "$5,000") is contradicted by its quote:
    the quote has digits, none of them the value's number, and no number spelled out ("90
    days" quoted from "within 60 days after Section 4.2"). Everything else passes (see
    ``CHECKED_VALUE`` and ``NUMBER_WORDS``): a wrong verdict would throw away a right answer."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return True
    text = str(value).strip()
    if not CHECKED_VALUE.match(text):
        return True
    quoted = _numbers(quote)
    if not quoted or NUMBER_WORDS.search(quote):
        return True
    return bool(_numbers(text) & quoted)


def _numbers(text: str) -> set[str]:
    numbers = set()
    for match in NUMBER.finditer(text):
        number = match.group().replace(",", "")
        whole, _, fraction = number.partition(".")
        fraction = fraction.rstrip("0")
        number = (whole.lstrip("0") or "0") + (f".{fraction}" if fraction else "")
        numbers.add(number)
    return numbers


def ground_extraction(
    view: DocumentView,
    name: str,
    value: Any,
    quote: str,
    index: GroundingIndex,
    line_hint: int | None = None,
) -> Extraction:
    # The model's line number tells identical lines apart; prose has no line numbers shown.
    hint = line_hint if view.kind is DocKind.CODE else None
    location = index.locate(quote, view.char_start, view.end, line_hint=hint)
    is_code = view.kind is DocKind.CODE
    if location is None:
        return Extraction(view.doc_id, name, value, quote, False,
                          file=view.name if is_code else None, window=view.window)  # fmt: skip
    return Extraction(
        doc_id=view.doc_id,
        field=name,
        value=value,
        quote=quote,
        grounded=True,
        match=location.match,
        score=location.score,
        char_start=location.char_start,
        char_end=location.char_end,
        page=location.page if view.kind is DocKind.PDF else None,
        file=view.name if is_code else None,
        line=None if view.kind is DocKind.PDF else location.line,
        window=view.window,
    )
