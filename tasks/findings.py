"""Findings tracked night to night: a stable fingerprint per finding, and what changed.

A review lands extractions per run and per document content, and an unchanged file is not
reviewed again. What a team wants to know each morning is different: which problems does the
code have *now*, which are new since last night, which went away. ``track_findings`` answers
that after each run of a findings profile (``task: findings``, the codebase profile):

- the findings of a run are those of every file the run saw, each taken from the latest review
  of its current content (so an unchanged file keeps its findings without being sent again);
- each finding has a fingerprint: its file, its field, the whitespace-normalised code of its
  line, the normalised code of the line that opens its enclosing block (the nearest line above
  with less indentation: ``def charge(...)``, ``class Invoice``), and which occurrence of that
  pair in the file it is. Lines inserted or removed elsewhere move it, but do not change it;
- against the previous tracked run of the same source and profile, a finding is ``new``,
  ``persisting``, or ``suppressed`` (its fingerprint is in ``finding_suppressions``), and a
  fingerprint reported then and not now is ``fixed``;
- a file seen but whose current content is not reviewed yet (the run was deferred, or failed
  before it) keeps last run's findings: not reviewed is not fixed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.store import Store
from connectors.tables import FindingRow, FindingRunRow, SuppressionRow
from nightshift.profiles import Profile

NEW, PERSISTING, FIXED, SUPPRESSED = "new", "persisting", "fixed", "suppressed"


@dataclass(frozen=True)
class Finding:
    fingerprint: str
    field: str
    relpath: str
    line: int | None
    quote: str | None
    doc_id: str | None
    value: str | None  # JSON


@dataclass(frozen=True)
class FindingsSummary:
    run_id: str
    previous_run_id: str | None
    counts: dict[str, int]


def _normalised(code: str) -> str:
    return " ".join(code.split())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def enclosing_block(lines: Sequence[str], index: int) -> str:
    """The normalised code of the nearest non-blank line above ``lines[index]`` with less
    indentation (its block's opening line), or "" at the top level."""
    indent = _indent(lines[index])
    for above in range(index - 1, -1, -1):
        line = lines[above]
        if line.strip() and _indent(line) < indent:
            return _normalised(line)
    return ""


def fingerprints(relpath: str, field: str, text: str, line_numbers: Sequence[int]) -> list[str]:
    """The fingerprint of a finding of ``field`` at each of ``line_numbers`` (1-based) of
    ``text``; never the number itself, so a finding keeps it when lines move."""
    lines = text.split("\n")
    keys = [(_normalised(line), enclosing_block(lines, i)) for i, line in enumerate(lines)]
    result = []
    for number in line_numbers:
        key = keys[number - 1]
        occurrence = keys[:number].count(key) - 1  # identical lines in one block stay apart
        material = json.dumps([relpath, field, key[0], key[1], occurrence])
        result.append(hashlib.sha256(material.encode("utf-8")).hexdigest()[:32])
    return result


def current_findings(
    store: Store, run_id: str, source: str, profile: str
) -> tuple[list[Finding], set[str]]:
    """The findings of the files ``run_id`` saw, and the files seen whose content is not
    reviewed yet."""
    rows = store.current_finding_rows(run_id, source, profile)
    unreviewed = {row["relpath"] for row in rows if not row["reviewed"]}
    answered = [row for row in rows if row["field"] is not None]
    texts = store.load_texts({row["doc_id"] for row in answered})
    found: dict[str, Finding] = {}
    for row in answered:
        text = texts[row["doc_id"]]["text"]
        line = row["line"]
        if line is None and row["char_start"] is not None:
            line = text.count("\n", 0, row["char_start"]) + 1
        if line is None:
            continue
        (fingerprint,) = fingerprints(row["relpath"], row["field"], text, [line])
        found.setdefault(
            fingerprint,
            Finding(fingerprint, row["field"], row["relpath"], line, row["quote"],
                    row["doc_id"], row["value"]),
        )  # fmt: skip
    return list(found.values()), unreviewed


def track_findings(
    store: Store, run_id: str, source: str, profile: Profile, now: datetime
) -> FindingsSummary | None:
    """Classify the findings of review run ``run_id`` of ``source`` against the previous
    tracked run and land them (``findings``, ``finding_runs``); None for a profile that does
    not report findings. Running it again for the same run changes nothing."""
    if profile.task != "findings":
        return None
    name = profile.name
    if store.findings_tracked(run_id):
        return _summary(store, run_id)
    previous = store.latest_findings_run(source, name)
    before: dict[str, dict[str, Any]] = {}
    if previous is not None:
        before = {row["fingerprint"]: row for row in store.unfixed_findings(previous)}
    suppressed = store.suppressed_fingerprints()
    found, unreviewed = current_findings(store, run_id, source, name)
    now_fps = {f.fingerprint for f in found}

    def row(finding: Finding, state: str, first_seen: str) -> FindingRow:
        return FindingRow(run_id, source, name, finding.fingerprint, state, finding.field,
                          finding.relpath, finding.line, finding.quote, finding.doc_id,
                          finding.value, first_seen, now)  # fmt: skip

    rows_out = []
    for finding in found:
        earlier = before.get(finding.fingerprint)
        state = PERSISTING if earlier is not None else NEW
        if finding.fingerprint in suppressed:
            state = SUPPRESSED
        rows_out.append(row(finding, state, earlier["first_seen_run"] if earlier else run_id))
    for fingerprint, earlier in before.items():
        if fingerprint in now_fps:
            continue
        finding = Finding(fingerprint, earlier["field"], earlier["relpath"], earlier["line"],
                          earlier["quote"], earlier["doc_id"], earlier["value"])  # fmt: skip
        if earlier["relpath"] in unreviewed:  # not reviewed is not fixed
            state = SUPPRESSED if fingerprint in suppressed else PERSISTING
        else:
            state = FIXED
        rows_out.append(row(finding, state, earlier["first_seen_run"]))
    with store.transaction():
        store.append(rows_out)
        store.append([FindingRunRow(run_id, source, name, previous, now)])
    return _summary(store, run_id)


def _summary(store: Store, run_id: str) -> FindingsSummary:
    counts = dict.fromkeys((NEW, PERSISTING, FIXED, SUPPRESSED), 0)
    counts.update(store.finding_state_counts(run_id))
    return FindingsSummary(run_id, store.findings_run_previous(run_id), counts)


def suppress_finding(store: Store, fingerprint: str, reason: str, now: datetime) -> None:
    """Record that a finding is accepted (a false positive, a risk taken): from the next run on
    it is reported as ``suppressed``, never as ``new``."""
    store.append([SuppressionRow(fingerprint, reason, now)])
