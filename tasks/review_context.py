"""A later night of a repository: the changed files, with what they touch and their diffs.

The first review of a repository reads it whole. On later nights only the changed files are
asked about, but a change that turns an existing weakness into an exploit cannot be seen from
the changed file alone, so each request also shows:

- the unchanged files as context (``role="context"``): the whole repository when it fits the
  request's budget, else the files that name a changed file's module or that a changed file
  names (importers and imported modules, found by name: language-agnostic and cheap), as many
  as fit;
- each changed file's unified diff against the version last reviewed (the stored text of that
  version: the database keeps every content's text, so this works for any source, git or not).

Order is what keeps the prompt cache warm from one night to the next: the unchanged files come
first, oldest content first (files that change often sink to the end), rendered exactly as a
full review renders them, then the changed files, then the diffs (``tasks.prompt``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from connectors.store import Store
from nightshift.models import DocKind
from nightshift.profiles import Profile
from nightshift.tokenizer import count_tokens
from tasks.plan import Budget, PlanDocument, Router, WorkItem
from tasks.prompt import FIELDS_GAP, DocumentView, render_changes

DIFF_CONTEXT_LINES = 3
# File stems that name no module of their own: the package (folder) they open is the name.
PACKAGE_STEMS = frozenset({"__init__", "index", "mod", "main", "lib"})


@dataclass(frozen=True)
class RepositoryFile:
    """An unchanged file of the repository, as context shows it."""

    doc_id: str
    relpath: str
    kind: DocKind
    tokens: int
    lines: int
    text: str
    content_since: datetime | None  # when this content was first seen: older goes first

    @property
    def cost(self) -> int:
        """Tokens in a prompt, markup included, estimated as planning estimates documents."""
        return PlanDocument(self.doc_id, self.relpath, self.kind, self.tokens,
                            units=self.lines).cost  # fmt: skip


@dataclass(frozen=True)
class RepositoryContext:
    """What a later night shows beside the changed files: the unchanged files (in prompt
    order) and, by changed doc id, the text of the version last reviewed."""

    files: tuple[RepositoryFile, ...]
    previous_texts: Mapping[str, str]


@dataclass(frozen=True)
class ContextPlan:
    """Work items with their context: the items (sizes and routes with the context), the views
    each request shows, and the tokens the context and the diffs add per item."""

    items: list[WorkItem]
    views: dict[str, list[DocumentView]]
    added_tokens: dict[str, int]


def load_repository_context(
    store: Store,
    source: str,
    profile: Profile,
    candidates: Sequence[Mapping[str, Any]],
    backend_scope: str,
) -> RepositoryContext | None:
    """The context of a later night of ``source``; None for a profile that does not review a
    repository (``task: findings``) or a repository never reviewed with it (night one)."""
    if profile.task != "findings" or not candidates:
        return None
    rows = store.repository_files(source, profile.name, backend_scope)
    if not any(row["reviewed_doc_id"] for row in rows):
        return None
    asked = {row["doc_id"] for row in candidates}
    unchanged = [row for row in rows if row["doc_id"] not in asked]
    previous = {
        row["doc_id"]: row["reviewed_doc_id"]
        for row in rows
        if row["doc_id"] in asked and row["reviewed_doc_id"] not in (None, row["doc_id"])
    }
    texts = store.load_texts({row["doc_id"] for row in unchanged} | set(previous.values()))
    files = [
        RepositoryFile(row["doc_id"], row["relpath"], DocKind(row["kind"]), int(row["tokens"]),
                       row["lines"] or 1, texts[row["doc_id"]]["text"], row["content_since"])
        for row in unchanged if row["doc_id"] in texts
    ]  # fmt: skip
    files.sort(key=lambda f: (f.content_since is None, f.content_since or datetime.min, f.relpath))
    previous_texts = {
        doc_id: texts[old]["text"] for doc_id, old in previous.items() if old in texts
    }
    return RepositoryContext(tuple(files), previous_texts)


def unified_diff(before: str, after: str, relpath: str) -> str:
    """The unified diff of a file from ``before`` to ``after``, as ``git diff`` shows it."""
    lines = difflib.unified_diff(
        before.split("\n"), after.split("\n"), f"a/{relpath}", f"b/{relpath}",
        n=DIFF_CONTEXT_LINES, lineterm="",
    )  # fmt: skip
    return "\n".join(lines)


def module_names(relpath: str) -> set[str]:
    """The names other files use for ``relpath``: its stem, or its folder's name for a file
    that opens a package (``__init__.py``, ``index.ts``)."""
    path = PurePosixPath(relpath)
    stem = path.name.split(".")[0]
    if stem in PACKAGE_STEMS:
        return {path.parent.name} if path.parent.name else set()
    return {stem} if stem else set()


def _names_any(text: str, names: set[str]) -> bool:
    return any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) for name in names)


def related_files(
    changed: Sequence[DocumentView], files: Sequence[RepositoryFile]
) -> list[RepositoryFile]:
    """The files of ``files`` that name a changed file's module (importers) or whose module a
    changed file names (imported), in the order of ``files``."""
    changed_names = set().union(*(module_names(view.name) for view in changed))
    changed_texts = [view.text for view in changed]
    related = []
    for file in files:
        imports_a_change = bool(changed_names) and _names_any(file.text, changed_names)
        names = module_names(file.relpath)
        imported = bool(names) and any(_names_any(text, names) for text in changed_texts)
        if imports_a_change or imported:
            related.append(file)
    return related


def choose_context(
    changed: Sequence[DocumentView], context: RepositoryContext, room: int
) -> list[RepositoryFile]:
    """The whole repository when it fits ``room`` tokens; else the related files that fit."""
    if sum(file.cost for file in context.files) <= room:
        return list(context.files)
    chosen = []
    for file in related_files(changed, context.files):
        if file.cost <= room:
            chosen.append(file)
            room -= file.cost
    return chosen


def context_view(file: RepositoryFile) -> DocumentView:
    return DocumentView(file.doc_id, file.relpath, file.kind, file.text, role="context")


def add_context(
    items: Sequence[WorkItem],
    views: Mapping[str, Sequence[DocumentView]],
    context: RepositoryContext,
    budget: Budget,
    router: Router,
) -> ContextPlan:
    """Each item with its changed files marked (diffs) and the context that fits beside them,
    routed again on the request's whole size. An item whose diffs alone do not fit (a window
    of a huge file) is left as planned."""
    planned_items, planned_views, added = [], {}, {}
    for item in items:
        changed = [replace(view, changes=_changes(view, context)) for view in views[item.item_id]]
        changes_tokens = count_tokens(FIELDS_GAP + render_changes(changed))
        room = budget.input_tokens - item.input_tokens - changes_tokens
        if room < 0:
            planned_items.append(item)
            planned_views[item.item_id] = list(views[item.item_id])
            continue
        chosen = choose_context(changed, context, room)
        extra = changes_tokens + sum(file.cost for file in chosen)
        size = item.input_tokens + extra
        route = router.route(size, len(item.doc_ids) + len(chosen))
        planned_items.append(replace(item, input_tokens=size, route=route))
        planned_views[item.item_id] = [context_view(file) for file in chosen] + changed
        added[item.item_id] = extra
    return ContextPlan(planned_items, planned_views, added)


def _changes(view: DocumentView, context: RepositoryContext) -> str:
    before = context.previous_texts.get(view.doc_id)
    return "" if before is None else unified_diff(before, view.text, view.name)
