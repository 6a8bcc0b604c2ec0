"""Planning: documents into work items, by relatedness first and size second.

- A codebase is packed whole into one context when it fits (cross-file reasoning is why a 1M
  context is worth using); a larger one splits along directory boundaries, keeping files whole.
- A contract travels with its amendments and exhibits: documents in the same sub-folder, or at
  the top level sharing a file-name stem, form one group.
- Unrelated small groups share a request, bounded by input tokens, by the output the answer
  will need (a long answer is slow) and by how many documents one failure may take down.
- A document larger than the budget is split into windows of whole pages (PDF) or lines, with
  a small overlap; every unit is covered.

Every document given lands in exactly one work item, or in windows that cover all of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from nightshift.models import DocKind

if TYPE_CHECKING:
    from tasks.route import Route

CONTEXT_TOKENS = 1_048_576
SAFETY_MARGIN = 0.01  # of the context, for the estimate of markup tokens
# The <document id="<sha256>" name="..." kind="..." window="..."> ... </document id="<sha256>">
# wrapper: at most 105 tokens measured with the V4 tokenizer over 200 ids (the id, written
# twice, is most of it), plus the path (at most about one token per two characters).
DOCUMENT_OVERHEAD_TOKENS = 110
PAGE_OVERHEAD_TOKENS = 10  # <page n="..."> markers
CODE_LINE_OVERHEAD_TOKENS = 3  # "123| " line prefixes
OVERLAP_FRACTION = 0.02  # of a window's budget, repeated at the start of the next window

# "msa-amendment-2", "msa_exhibit_b", "msa (schedule 1)" all travel with "msa".
ATTACHMENT_SUFFIX = re.compile(
    r"[\s_\-.(]+(amendment|amend|exhibit|schedule|annex|appendix|addendum|attachment|sow)"
    r"([\s_\-.]*(no\.?|number)?[\s_\-.]*[0-9a-z]{1,3})?\)?$",
    re.IGNORECASE,
)


class UnplannableError(ValueError):
    """A document that no window can hold (one page or line alone is over the budget)."""


@dataclass(frozen=True)
class PlanDocument:
    """What the planner needs of a document: its size and where its units start.

    ``unit_token_starts`` are the token offsets of its pages (PDF) or lines, and
    ``unit_char_starts`` the matching character offsets; both may be empty when the document
    fits a request whole.
    """

    doc_id: str
    relpath: str
    kind: DocKind
    tokens: int
    unit_token_starts: tuple[int, ...] = ()
    unit_char_starts: tuple[int, ...] = ()
    units: int = 0  # pages or lines

    @property
    def overhead(self) -> int:
        per_unit = 0
        if self.kind is DocKind.PDF:
            per_unit = PAGE_OVERHEAD_TOKENS
        elif self.kind is DocKind.CODE:
            per_unit = CODE_LINE_OVERHEAD_TOKENS
        return self.wrapper_tokens + per_unit * self.units

    @property
    def wrapper_tokens(self) -> int:
        return DOCUMENT_OVERHEAD_TOKENS + len(self.relpath) // 2

    @property
    def cost(self) -> int:
        """Tokens this document takes in a prompt, markup included."""
        return self.tokens + self.overhead


@dataclass(frozen=True)
class Slice:
    """A document, or the window of it ``[unit_start, unit_end)``, in a work item."""

    doc_id: str
    relpath: str
    kind: DocKind
    tokens: int
    unit_start: int = 0
    unit_end: int | None = None  # None: to the end
    char_start: int = 0
    char_end: int | None = None
    window: str | None = None  # "2/5"


@dataclass(frozen=True)
class WorkItem:
    item_id: str
    group: str
    slices: tuple[Slice, ...]
    input_tokens: int  # estimate: documents with markup, without the fixed prompt
    route: Route | None = None  # model and effort, decided once when the item is planned

    @property
    def doc_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.doc_id for s in self.slices))

    @property
    def is_window(self) -> bool:
        return any(s.window for s in self.slices)


@dataclass(frozen=True)
class Budget:
    input_tokens: int  # for documents, after the fixed prompt and max_tokens are taken out
    output_tokens: int  # max_tokens of one request
    output_tokens_per_document: int
    max_documents: int

    @classmethod
    def for_request(
        cls,
        max_tokens: int,
        fixed_prompt_tokens: int,
        output_tokens_per_document: int,
        max_documents: int,
        context_tokens: int = CONTEXT_TOKENS,
    ) -> Budget:
        margin = int(context_tokens * SAFETY_MARGIN)
        available = context_tokens - max_tokens - fixed_prompt_tokens - margin
        return cls(available, max_tokens, output_tokens_per_document, max_documents)

    def documents_fitting_output(self) -> int:
        return max(1, self.output_tokens // self.output_tokens_per_document)


def group_key(relpath: str, whole_source: bool) -> str:
    if whole_source:
        return "."
    path = PurePosixPath(relpath)
    if len(path.parts) > 1:
        return str(path.parent)
    # "./" keeps top-level stems apart from folder groups: msa.pdf is not the folder msa/.
    return "./" + (ATTACHMENT_SUFFIX.sub("", path.stem).lower() or path.stem.lower())


def stem_key(relpath: str) -> str:
    path = PurePosixPath(relpath)
    return str(path.parent / (ATTACHMENT_SUFFIX.sub("", path.stem).lower() or path.stem.lower()))


def plan_work(
    documents: Sequence[PlanDocument],
    budget: Budget,
    whole_source: bool,
    rejected: list[tuple[PlanDocument, str]] | None = None,
) -> list[WorkItem]:
    """Work items for ``documents``; ``whole_source`` packs the source as one group (code).

    A document that cannot be planned (one page or line alone over the budget) is left out
    and appended to ``rejected`` with the reason, so that one bad file never stops the rest.
    """
    groups: dict[str, list[PlanDocument]] = {}
    for document in sorted(documents, key=lambda d: d.relpath):
        groups.setdefault(group_key(document.relpath, whole_source), []).append(document)
    items: list[WorkItem] = []
    packable: list[tuple[str, list[PlanDocument]]] = []
    for key, members in groups.items():
        for part_key, part in _fit_group(key, members, budget, whole_source):
            if len(part) == 1 and part[0].cost > budget.input_tokens:
                try:
                    items.extend(_windows(part_key, part[0], budget))
                except UnplannableError as exc:
                    if rejected is None:
                        raise
                    rejected.append((part[0], str(exc)))
            else:
                packable.append((part_key, part))
    items.extend(_pack(packable, budget, whole_source))
    return items


def _fits(members: Sequence[PlanDocument], budget: Budget, whole_source: bool) -> bool:
    if sum(d.cost for d in members) > budget.input_tokens:
        return False
    if whole_source:
        return True  # findings scale with problems, not files; input is the bound
    return len(members) <= min(budget.max_documents, budget.documents_fitting_output())


def _fit_group(
    key: str, members: list[PlanDocument], budget: Budget, whole_source: bool
) -> list[tuple[str, list[PlanDocument]]]:
    """The group whole when it fits; else split (codebases by directory, others by document)."""
    if _fits(members, budget, whole_source) or len(members) == 1:
        return [(key, members)]
    if not whole_source:
        # Too many for one request: keep each contract with its amendments and exhibits.
        by_stem: dict[str, list[PlanDocument]] = {}
        for member in members:
            by_stem.setdefault(stem_key(member.relpath), []).append(member)
        result = []
        for stem, stem_members in by_stem.items():
            if len(stem_members) > 1 and _fits(stem_members, budget, whole_source):
                result.append((stem, stem_members))
            else:
                result.extend((stem, [member]) for member in stem_members)
        return result
    depth = 0 if key == "." else len(PurePosixPath(key).parts)
    by_directory: dict[str, list[PlanDocument]] = {}
    for member in members:
        parts = PurePosixPath(member.relpath).parts
        sub = "/".join(parts[: depth + 1]) if len(parts) > depth + 1 else key
        by_directory.setdefault(sub, []).append(member)
    if len(by_directory) == 1:
        (only,) = by_directory
        if only == key:  # files directly in this directory: split file by file
            return [(key, [member]) for member in members]
        return _fit_group(only, members, budget, whole_source)
    result = []
    for sub, sub_members in by_directory.items():
        if sub == key:
            result.extend((key, [member]) for member in sub_members)
        else:
            result.extend(_fit_group(sub, sub_members, budget, whole_source))
    return result


def _pack(
    groups: list[tuple[str, list[PlanDocument]]], budget: Budget, whole_source: bool
) -> list[WorkItem]:
    """First-fit decreasing: big groups first, each into the first open pack it fits."""
    packs: list[tuple[list[str], list[PlanDocument]]] = []
    for key, members in sorted(groups, key=lambda g: (-sum(d.cost for d in g[1]), g[0])):
        for keys, pack in packs:
            if _fits(pack + members, budget, whole_source):
                keys.append(key)
                pack.extend(members)
                break
        else:
            packs.append(([key], list(members)))
    items = []
    for keys, pack in packs:
        slices = tuple(Slice(d.doc_id, d.relpath, d.kind, d.tokens) for d in pack)
        items.append(_item("+".join(keys), slices, sum(d.cost for d in pack)))
    return items


def _windows(key: str, document: PlanDocument, budget: Budget) -> list[WorkItem]:
    starts = document.unit_token_starts
    if not starts:
        raise UnplannableError(f"{document.relpath} needs windows but has no unit offsets")
    units = len(starts)
    per_unit = {DocKind.PDF: PAGE_OVERHEAD_TOKENS, DocKind.CODE: CODE_LINE_OVERHEAD_TOKENS}
    unit_overhead = per_unit.get(document.kind, 0)
    room = budget.input_tokens - document.wrapper_tokens
    overlap = int(room * OVERLAP_FRACTION)

    def end_token(unit: int) -> int:
        return starts[unit] if unit < units else document.tokens

    def cost(first: int, last: int) -> int:
        return end_token(last) - starts[first] + unit_overhead * (last - first)

    ranges: list[tuple[int, int]] = []
    first = 0
    while first < units:
        last = first + 1
        if cost(first, last) > room:
            raise UnplannableError(
                f"{document.relpath}: unit {first + 1} alone has {cost(first, last)} tokens, "
                f"over the {room}-token budget; units must be split finer"
            )
        while last < units and cost(first, last + 1) <= room:
            last += 1
        ranges.append((first, last))
        if last >= units:
            break
        following = last
        while following - 1 > first and end_token(last) - starts[following - 1] <= overlap:
            following -= 1
        first = following
    items = []
    chars = document.unit_char_starts
    for index, (first, last) in enumerate(ranges):
        window = f"{index + 1}/{len(ranges)}"
        char_end = chars[last] if chars and last < units else None
        piece = Slice(
            document.doc_id, document.relpath, document.kind, cost(first, last),
            unit_start=first, unit_end=last if last < units else None,
            char_start=chars[first] if chars else 0, char_end=char_end, window=window,
        )  # fmt: skip
        items.append(
            _item(f"{key}#{window}", (piece,), cost(first, last) + document.wrapper_tokens)
        )
    return items


def single_item(document: PlanDocument) -> WorkItem:
    """A work item holding ``document`` whole: how an unplannable document is recorded."""
    piece = Slice(document.doc_id, document.relpath, document.kind, document.tokens)
    return _item(document.relpath, (piece,), document.cost)


def _item(group: str, slices: tuple[Slice, ...], input_tokens: int) -> WorkItem:
    identity = "|".join(f"{s.doc_id}:{s.unit_start}:{s.unit_end}" for s in slices)
    item_id = "wi-" + hashlib.sha256(identity.encode()).hexdigest()[:16]
    return WorkItem(item_id, group, slices, input_tokens)
