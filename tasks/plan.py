"""Planning: documents into work items, by relatedness first and size second.

- A codebase is packed whole into one context when it fits (cross-file reasoning is why a 1M
  context is worth using); a larger one splits along directory boundaries, keeping files whole.
- A contract travels with its amendments and exhibits: documents in the same sub-folder, or at
  the top level sharing a file-name stem, form one group.
- Each group (or each part of a group too large for one request) is routed on its OWN size,
  before anything is packed; packing never changes a route (see ``Router.pack_room``).
- The profile's ``packing`` says which groups may share a request: ``related`` keeps unrelated
  groups apart (a contract family per request; the parts of one repository may share one);
  ``pack_small`` lets small groups of the same route share a request. Either way a pack is
  bounded by input tokens, by the output the answer will need (a long answer is slow) and by
  how many documents one failure may take down.
- A document larger than the budget is split into windows of whole pages (PDF) or lines, with
  a small overlap; every unit is covered, and every window is routed on its own size.

Every document given lands in exactly one work item, or in windows that cover all of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal, Protocol

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

# Which groups may share a request (a profile setting; see the module doc).
Packing = Literal["related", "pack_small"]

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
    units: int = 0  # pages or lines shown: what the page markers or line numbers cost


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
        reasoning_tokens: int = 0,
    ) -> Budget:
        """``max_tokens`` is the answer's room; ``reasoning_tokens`` the most any request of
        the run may add to think (its own ``max_tokens`` covers both, inside the context)."""
        margin = int(context_tokens * SAFETY_MARGIN)
        available = context_tokens - max_tokens - reasoning_tokens - fixed_prompt_tokens - margin
        return cls(available, max_tokens, output_tokens_per_document, max_documents)

    def documents_fitting_output(self) -> int:
        return max(1, self.output_tokens // self.output_tokens_per_document)


@dataclass(frozen=True)
class PackRoom:
    """What a pack of one route may hold and keep that route: input tokens, documents."""

    input_tokens: int | None = None  # None: no bound beyond the budget
    documents: int | None = None


class Router(Protocol):
    """Routes a group on its own size; says how large a pack may grow without a new route."""

    def route(self, input_tokens: int, documents: int) -> Route: ...

    def pack_room(self, route: Route) -> PackRoom: ...


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
    *,
    router: Router | None = None,
    packing: Packing = "pack_small",
) -> list[WorkItem]:
    """Work items for ``documents``; ``whole_source`` packs the source as one group (code).

    With a ``router`` every group, part or window is routed on its own size before packing,
    and packs hold one route only. A document that cannot be planned (one page or line alone
    over the budget) is left out and appended to ``rejected`` with the reason, so that one bad
    file never stops the rest.
    """
    groups: dict[str, list[PlanDocument]] = {}
    for document in sorted(documents, key=lambda d: d.relpath):
        groups.setdefault(group_key(document.relpath, whole_source), []).append(document)
    items: list[WorkItem] = []
    shelves: dict[tuple[str, tuple[object, ...]], list[_Part]] = {}
    for key, members in groups.items():
        for part_key, part in _fit_group(key, members, budget, whole_source):
            if len(part) == 1 and part[0].cost > budget.input_tokens:
                try:
                    items.extend(_windows(part_key, part[0], budget, router))
                except UnplannableError as exc:
                    if rejected is None:
                        raise
                    rejected.append((part[0], str(exc)))
                continue
            cost = sum(d.cost for d in part)
            route = router.route(cost, len(part)) if router else None
            # "related": the parts of one repository belong together; contracts stay apart.
            family = "" if packing == "pack_small" else (key if whole_source else part_key)
            shelf = shelves.setdefault((family, _route_class(route)), [])
            shelf.append(_Part(part_key, tuple(part), cost, route))
    for shelf in shelves.values():
        items.extend(_pack(shelf, budget, whole_source, router))
    return items


@dataclass(frozen=True)
class _Part:
    """A group, or a part of one, that goes into one request whole: routed, then packed."""

    key: str
    documents: tuple[PlanDocument, ...]
    cost: int
    route: Route | None


def _route_class(route: Route | None) -> tuple[object, ...]:
    """What makes two routes the same request settings (the reason text differs per part)."""
    if route is None:
        return ()
    return (route.family, route.model, route.thinking, route.reasoning_effort)


def _fits(members: Sequence[PlanDocument], budget: Budget, whole_source: bool) -> bool:
    if sum(d.cost for d in members) > budget.input_tokens:
        return False
    if whole_source:
        return True  # findings scale with problems, not files; input is the bound
    return len(members) <= _document_bound(budget)


def _document_bound(budget: Budget) -> int:
    return min(budget.max_documents, budget.documents_fitting_output())


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


class _Rooms:
    """The free room (tokens, documents) of the packs opened so far, as a tree of maxima over
    the pack index: the first pack with room for a part is found in O(log n) instead of by
    trying every pack. Packs not yet opened have no room."""

    def __init__(self, capacity: int) -> None:
        self.size = 1
        while self.size < capacity:
            self.size *= 2
        self.tokens = [-1] * (2 * self.size)
        self.documents = [-1] * (2 * self.size)

    def set(self, index: int, tokens: int, documents: int) -> None:
        node = index + self.size
        self.tokens[node], self.documents[node] = tokens, documents
        node //= 2
        while node:
            left, right = 2 * node, 2 * node + 1
            self.tokens[node] = max(self.tokens[left], self.tokens[right])
            self.documents[node] = max(self.documents[left], self.documents[right])
            node //= 2

    def first(self, tokens: int, documents: int) -> int | None:
        """The lowest pack index with room for both, or None."""
        stack = [1]
        while stack:
            node = stack.pop()
            if self.tokens[node] < tokens or self.documents[node] < documents:
                continue  # no pack below this node has room for both
            if node >= self.size:
                return node - self.size
            stack.append(2 * node + 1)
            stack.append(2 * node)  # the left subtree (lower indexes) is searched first
        return None


def _pack(
    parts: list[_Part], budget: Budget, whole_source: bool, router: Router | None
) -> list[WorkItem]:
    """First-fit decreasing: big parts first, each into the first open pack it fits.

    Sums are kept per pack, so each part costs one tree search, not a re-sum of every pack.
    A pack stays inside the budget and inside its route's room, so it keeps its parts' route.
    """
    route = parts[0].route
    room = PackRoom() if router is None or route is None else router.pack_room(route)
    max_tokens = budget.input_tokens
    if room.input_tokens is not None:
        max_tokens = min(max_tokens, room.input_tokens)
    # Code: findings scale with problems, not files; input is the bound.
    everything = sum(len(p.documents) for p in parts)
    max_documents = everything if whole_source else _document_bound(budget)
    if room.documents is not None:
        max_documents = min(max_documents, room.documents)
    rooms = _Rooms(len(parts))
    packs: list[list[_Part]] = []
    tokens_left: list[int] = []
    documents_left: list[int] = []
    for part in sorted(parts, key=lambda p: (-p.cost, p.key)):
        index = rooms.first(part.cost, len(part.documents))
        if index is None:
            index = len(packs)
            packs.append([])
            tokens_left.append(max_tokens)
            documents_left.append(max_documents)
        packs[index].append(part)
        tokens_left[index] -= part.cost
        documents_left[index] -= len(part.documents)
        rooms.set(index, tokens_left[index], documents_left[index])
    items = []
    for pack in packs:
        members = [d for part in pack for d in part.documents]
        slices = tuple(Slice(d.doc_id, d.relpath, d.kind, d.tokens, units=d.units) for d in members)
        cost = sum(part.cost for part in pack)
        route = pack[0].route
        if router is not None and len(pack) > 1:
            route = router.route(cost, len(members))
            assert _route_class(route) == _route_class(pack[0].route), "packing changed a route"
        items.append(_item("+".join(part.key for part in pack), slices, cost, route))
    return items


def _windows(
    key: str, document: PlanDocument, budget: Budget, router: Router | None
) -> list[WorkItem]:
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
            document.doc_id, document.relpath, document.kind, end_token(last) - starts[first],
            unit_start=first, unit_end=last if last < units else None,
            char_start=chars[first] if chars else 0, char_end=char_end, window=window,
            units=last - first,
        )  # fmt: skip
        input_tokens = cost(first, last) + document.wrapper_tokens
        route = router.route(input_tokens, 1) if router else None
        items.append(_item(f"{key}#{window}", (piece,), input_tokens, route))
    return items


def single_item(document: PlanDocument) -> WorkItem:
    """A work item holding ``document`` whole: how an unplannable document is recorded."""
    piece = Slice(document.doc_id, document.relpath, document.kind, document.tokens,
                  units=document.units)  # fmt: skip
    return _item(document.relpath, (piece,), document.cost)


def _item(
    group: str, slices: tuple[Slice, ...], input_tokens: int, route: Route | None = None
) -> WorkItem:
    identity = "|".join(f"{s.doc_id}:{s.unit_start}:{s.unit_end}" for s in slices)
    item_id = "wi-" + hashlib.sha256(identity.encode()).hexdigest()[:16]
    return WorkItem(item_id, group, slices, input_tokens, route)
