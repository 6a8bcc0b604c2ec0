"""Quality against labels: precision, recall and F1 per field, grounding by match kind, and
cost per correct extraction by model.

Which extractions: those of ``run_id``, or else, per document, those of the latest run that
extracted from it. Which documents: the labelled ones (matched by relpath, as the oracle
matches them) that the chosen run(s) reviewed or extracted from; a labelled document the runs
never saw is not counted against recall. Which fields: those of the extractions' profile(s).

The matching rule. Labelled spans are located in the document's stored (normalised) text with
the grounding index, so both sides live in the same coordinates. A grounded extraction is
correct when, for a label of the same document and field, either

- overlap / union of the two character ranges is at least ``MIN_OVERLAP`` (0.5): the quote and
  the label are mostly the same text, whichever is longer; or
- the label's range contains the quote's: a model that quotes the operative sentence of a
  long labelled clause has found the clause (CUAD spans are often whole sections).

An ungrounded extraction is never correct. Precision is correct extractions over extractions
(after removing duplicates of one range, e.g. from overlapping windows); recall is labels
matched by at least one extraction over labels. A labelled span that cannot be located in the
stored text stays in the recall denominator (``unlocated`` counts them): losing it is a loss.
Code findings are correct when file, field and grounded line equal a label's.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.simulator_oracle import Labels, field_name, load_labels
from connectors.store import Store
from nightshift.errors import ConfigError
from nightshift.profiles import Profile, load_profile
from tasks.ground import GroundingIndex

MIN_OVERLAP = 0.5
ALL = "(all)"


@dataclass(frozen=True)
class Score:
    """Counts for one field (or one model); the ratios follow from them."""

    key: str
    labelled: int = 0
    predicted: int = 0
    correct: int = 0  # predictions that match a label
    found: int = 0  # labels matched by at least one prediction

    @property
    def precision(self) -> float | None:
        return self.correct / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.found / self.labelled if self.labelled else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "labelled": self.labelled, "predicted": self.predicted,
                "correct": self.correct, "found": self.found, "precision": self.precision,
                "recall": self.recall, "f1": self.f1}  # fmt: skip


@dataclass(frozen=True)
class ModelCost:
    model: str
    predicted: int
    correct: int
    cost_usd: float

    @property
    def cost_per_correct(self) -> float | None:
        return self.cost_usd / self.correct if self.correct else None

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "predicted": self.predicted, "correct": self.correct,
                "cost_usd": self.cost_usd, "cost_per_correct": self.cost_per_correct}  # fmt: skip


@dataclass(frozen=True)
class EvalReport:
    run_ids: tuple[str, ...]
    documents: int  # labelled documents evaluated
    fields: tuple[Score, ...]  # per field, then ``ALL`` (micro-averaged)
    models: tuple[ModelCost, ...]
    grounding: Mapping[str, int] = field(default_factory=dict)  # match kind -> extractions
    unlocated: int = 0  # labelled spans not found in the stored text

    @property
    def total(self) -> Score:
        return self.fields[-1]

    def grounding_rates(self) -> dict[str, float]:
        extractions = sum(self.grounding.values())
        return {kind: n / extractions for kind, n in self.grounding.items()} if extractions else {}

    def table_rows(self) -> list[dict[str, Any]]:
        """One row per field and a last ``(all)`` row: for a CLI table."""
        return [score.as_dict() | {"field": score.key} for score in self.fields]

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_ids": list(self.run_ids),
            "documents": self.documents,
            "fields": [score.as_dict() for score in self.fields],
            "models": [cost.as_dict() for cost in self.models],
            "grounding": dict(self.grounding),
            "grounding_rates": self.grounding_rates(),
            "unlocated_labels": self.unlocated,
            "rule": f"overlap/union >= {MIN_OVERLAP} or label contains quote; code: same line",
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def markdown(self) -> str:
        """The per-field table and the grounding shares, for a Prefect artifact."""
        columns = ("field", "labelled", "predicted", "correct", "found", "precision", "recall",
                   "f1")  # fmt: skip
        lines = [
            f"# nightshift eval: {self.documents} labelled documents",
            "",
            "| " + " | ".join(columns) + " |",
            "|---" + "|---:" * (len(columns) - 1) + "|",
        ]
        for row in self.table_rows():
            cells = [f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
        rates = ", ".join(f"{kind} {share:.1%}" for kind, share in self.grounding_rates().items())
        lines += ["", f"Grounded extractions by match kind: {rates or 'none'}."]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Label:
    doc_id: str
    field: str
    span: tuple[int, int] | None  # characters (documents) or (line, line) for code


def evaluate_run(
    store_or_path: Store | str | Path,
    labels_path: str | Path,
    run_id: str | None = None,
    *,
    profile: Profile | str | None = None,
    min_words: int = 0,
) -> EvalReport:
    """Score a run's extractions (or the latest per document) against the labels file.

    ``min_words`` leaves out, on both sides, labelled spans and quotes of fewer words (CUAD
    labels party names and defined terms, which no clause-quoting answer reproduces)."""
    labels = load_labels(labels_path)
    if isinstance(store_or_path, Store):
        return _evaluate(store_or_path, labels, run_id, profile, min_words)
    if not Path(store_or_path).exists():
        raise ConfigError(f"no database at {store_or_path}")
    with Store(store_or_path) as store:
        return _evaluate(store, labels, run_id, profile, min_words)


def _evaluate(
    store: Store,
    labels: Labels,
    run_id: str | None,
    profile: Profile | str | None,
    min_words: int = 0,
) -> EvalReport:
    extractions = (
        store.extractions_of_run(run_id)
        if run_id is not None
        else store.latest_extractions_per_document()
    )
    run_ids = tuple(sorted({e["run_id"] for e in extractions} | ({run_id} if run_id else set())))
    seen = store.reviewed_doc_ids(run_ids) | {e["doc_id"] for e in extractions}
    documents = store.documents_with_text(seen)
    profiles = [_profile(profile)] if profile else _profiles({e["profile"] for e in extractions})
    fields = sorted({spec.name for p in profiles for spec in p.fields})
    cwe_fields = {spec.cwe: spec.name for p in profiles for spec in p.fields if spec.cwe}
    wanted = set(fields) or {e["field"] for e in extractions}
    gold, unlocated = _gold(labels, documents, wanted, cwe_fields, min_words)
    labelled_ids = {label.doc_id for label in gold} | {
        doc_id for doc_id, doc in documents.items() if _has_labels(labels, doc["relpath"])
    }
    predictions = _deduplicated(
        e for e in extractions
        if e["doc_id"] in labelled_ids and e["field"] in wanted
        and len((e["quote"] or "").split()) >= min_words
    )  # fmt: skip
    correct_flags = [_is_correct(p, gold) for p in predictions]
    scores: list[Score] = []
    for name in sorted(wanted):
        scores.append(_score(name, [g for g in gold if g.field == name], predictions,
                             correct_flags, name))  # fmt: skip
    scores.append(_score(ALL, list(gold), predictions, correct_flags, None))
    grounding = Counter((p["match"] or "ungrounded") if p["grounded"] else "ungrounded"
                        for p in predictions)  # fmt: skip
    return EvalReport(
        run_ids=run_ids,
        documents=len(labelled_ids),
        fields=tuple(scores),
        models=tuple(_costs(store, run_ids, labelled_ids, predictions, correct_flags)),
        grounding=dict(sorted(grounding.items())),
        unlocated=unlocated,
    )


def _profile(profile: Profile | str) -> Profile:
    return profile if isinstance(profile, Profile) else load_profile(profile)


def _profiles(names: Iterable[str]) -> list[Profile]:
    found = []
    for name in sorted(names):
        try:
            found.append(load_profile(name))
        except (ConfigError, OSError):
            continue  # a profile from a file path not at hand: score the fields predicted
    return found


def _has_labels(labels: Labels, relpath: str) -> bool:
    return labels.for_name(relpath) is not None or bool(labels.findings_for(relpath))


def _gold(
    labels: Labels,
    documents: Mapping[str, Mapping[str, Any]],
    fields: set[str],
    cwe_fields: Mapping[str, str],
    min_words: int = 0,
) -> tuple[list[_Label], int]:
    gold: list[_Label] = []
    unlocated = 0
    for doc_id, doc in sorted(documents.items()):
        for finding in labels.findings_for(doc["relpath"]):
            name = cwe_fields.get(finding.cwe or "") or field_name(finding.kind)
            if name in fields:
                gold.append(_Label(doc_id, name, (finding.line, finding.line)))
        labelled = labels.for_name(doc["relpath"])
        if labelled is None:
            continue
        index = GroundingIndex(doc["text"], tuple(doc["page_starts"] or ()))
        for name, spans in sorted(labelled[1].items()):
            if name not in fields:
                continue
            for span in spans:
                if len(span.text.split()) < min_words:
                    continue
                where = index.locate(span.text)
                unlocated += where is None
                gold.append(_Label(doc_id, name, None if where is None else
                                   (where.char_start, where.char_end)))  # fmt: skip
    return gold, unlocated


def _deduplicated(extractions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for e in sorted(extractions, key=lambda e: (e["doc_id"], e["field"], str(e["created_at"]))):
        key = (e["doc_id"], e["field"], e["char_start"], e["char_end"], e["line"])
        if e["grounded"] and key in seen:
            continue
        seen.add(key)
        out.append(e)
    return out


def _matches(prediction: Mapping[str, Any], label: _Label) -> bool:
    if label.span is None or not prediction["grounded"]:
        return False
    if prediction["file"] is not None or prediction["char_start"] is None:  # code: by line
        return prediction["line"] == label.span[0]
    start, end = prediction["char_start"], prediction["char_end"]
    if label.span[0] <= start and end <= label.span[1]:
        return True
    overlap = min(end, label.span[1]) - max(start, label.span[0])
    union = max(end, label.span[1]) - min(start, label.span[0])
    return overlap > 0 and overlap / union >= MIN_OVERLAP


def _same_item(prediction: Mapping[str, Any], label: _Label) -> bool:
    return label.doc_id == prediction["doc_id"] and label.field == prediction["field"]


def _is_correct(prediction: Mapping[str, Any], gold: Sequence[_Label]) -> bool:
    return any(
        g.doc_id == prediction["doc_id"]
        and g.field == prediction["field"]
        and _matches(prediction, g)
        for g in gold
    )


def _score(
    key: str,
    gold: Sequence[_Label],
    predictions: Sequence[Mapping[str, Any]],
    correct_flags: Sequence[bool],
    name: str | None,
) -> Score:
    mine = [(p, ok) for p, ok in zip(predictions, correct_flags, strict=True)
            if name is None or p["field"] == name]  # fmt: skip
    found = sum(
        any(p["doc_id"] == g.doc_id and p["field"] == g.field and _matches(p, g) for p, _ in mine)
        for g in gold
    )
    return Score(key, len(gold), len(mine), sum(ok for _, ok in mine), found)


def _costs(
    store: Store,
    run_ids: Sequence[str],
    doc_ids: set[str],
    predictions: Sequence[Mapping[str, Any]],
    correct_flags: Sequence[bool],
) -> list[ModelCost]:
    """Every billed attempt of the runs that touched a labelled document, per model."""
    cost = store.billed_cost_by_model(run_ids, doc_ids)
    predicted: Counter[str] = Counter(p["model"] for p in predictions)
    correct: Counter[str] = Counter(
        p["model"] for p, ok in zip(predictions, correct_flags, strict=True) if ok
    )
    models = sorted(set(cost) | set(predicted))
    by_model = defaultdict(float, cost)
    return [ModelCost(m, predicted[m], correct[m], by_model[m]) for m in models]
