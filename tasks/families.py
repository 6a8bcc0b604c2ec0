"""Contract families: a master with its amendments and attachments (exhibits, schedules, SOWs).

A family is what planning already keeps together (``tasks/plan.py``): a sub-folder, or at the
top level the documents sharing a file-name stem once an attachment suffix is taken off
("msa-amendment-2" belongs to "msa"). A sub-folder holding several masters splits by stem, so
unrelated contracts filed together never supersede each other. Each document's role follows
from its name: a master (no suffix), an amendment (amendment, addendum) or an attachment (an
exhibit, schedule, annex, appendix, SOW), with the number its name gives.

What the rows say is read by the views of ``connectors/sql/009_families_matrix.sql``: for each
field, the value in force is the latest amendment's that addresses it, else the master's, else
an attachment's, with the chain that led to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, Literal

from connectors.store import Store
from connectors.tables import FamilyRow
from tasks.plan import ATTACHMENT_SUFFIX, stem_key

Role = Literal["master", "amendment", "attachment"]
AMENDING = {"amendment", "amend", "addendum"}


@dataclass(frozen=True)
class FamilyMember:
    family_id: str
    role: Role
    ordinal: int | None  # "amendment-2" is 2, "exhibit b" is 2, else None


def role_of(relpath: str) -> tuple[Role, int | None]:
    """A document's role in its family, and its number, from its file name."""
    # The space lets a name that is only a suffix ("amendment-no-1.pdf") match as one.
    match = ATTACHMENT_SUFFIX.search(" " + PurePosixPath(relpath).stem)
    if match is None:
        return "master", None
    kind = match.group(1).lower()
    number = re.search(r"([0-9]+|[a-z])\)?$", match.group(0).lower()) if match.group(2) else None
    ordinal = None
    if number:
        token = number.group(1)
        ordinal = int(token) if token.isdigit() else ord(token) - ord("a") + 1
    return ("amendment" if kind in AMENDING else "attachment"), ordinal


def assign_families(relpaths: Iterable[str]) -> dict[str, FamilyMember]:
    """The family of each of ``relpaths`` (the documents of one source), by relpath."""
    by_folder: dict[str, list[str]] = {}
    for relpath in sorted(set(relpaths)):
        by_folder.setdefault(str(PurePosixPath(relpath).parent), []).append(relpath)
    families: dict[str, FamilyMember] = {}
    for folder, members in by_folder.items():
        roles = {relpath: role_of(relpath) for relpath in members}
        masters = sum(1 for role, _ in roles.values() if role == "master")
        for relpath, (role, ordinal) in roles.items():
            # A folder of one contract is its family ("harrowgate-bellwether/"), whatever its
            # attachments are named; elsewhere the stem decides.
            family_id = folder + "/" if folder != "." and masters <= 1 else stem_key(relpath)
            families[relpath] = FamilyMember(family_id, role, ordinal)
    return families


def family_rows(
    source: str, documents: Sequence[Mapping[str, Any]], now: datetime
) -> list[FamilyRow]:
    """Rows for ``documents`` (doc_id, relpath) of ``source``."""
    families = assign_families(row["relpath"] for row in documents)
    return [
        FamilyRow(row["doc_id"], source, row["relpath"], families[row["relpath"]].family_id,
                  families[row["relpath"]].role, families[row["relpath"]].ordinal, now)
        for row in documents
    ]  # fmt: skip


def land_families(store: Store, source: str, now: datetime) -> int:
    """Record the family of every parsed document of ``source`` whose family is new or changed
    (a document added to a folder can change its siblings'); returns how many rows landed."""
    documents = store.source_documents(source)
    known = {(r["doc_id"], r["relpath"]): r for r in store.current_families(source)}
    changed = [
        row
        for row in family_rows(source, documents, now)
        if (previous := known.get((row.doc_id, row.relpath))) is None
        or (previous["family_id"], previous["role"], previous["ordinal"])
        != (row.family_id, row.role, row.ordinal)
    ]
    store.append(changed)
    return len(changed)


def with_family_context(
    candidates: list[dict[str, Any]], source_documents: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``candidates`` plus the other members of their families among ``source_documents``
    (rows of the same shape): an amendment that arrives on a later night is reviewed with its
    master and earlier amendments, not alone."""
    families = assign_families(row["relpath"] for row in source_documents)
    wanted = {
        families[row["relpath"]].family_id for row in candidates if row["relpath"] in families
    }
    chosen = {row["doc_id"] for row in candidates}
    context = [
        row
        for row in source_documents
        if row["doc_id"] not in chosen and families[row["relpath"]].family_id in wanted
    ]
    return sorted([*candidates, *context], key=lambda row: row["relpath"])
