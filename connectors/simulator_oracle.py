"""The simulator's oracle: labelled answers, perturbed the way real models answer.

Where the rule-based model (``simulator_model``) tests the protocol, the oracle measures the
pipeline's own losses without an API key: it answers each request with the expert-labelled
spans of the documents shown, so everything that does not land as a grounded extraction on
the right page was lost by the pipeline (windowing, text extraction, grounding, validation),
not by a model.

Labels (matched to documents by the ``name`` attribute of the prompt, the file's relpath; a
label's file name matches a document whose name ends with it):

- documents, CUAD's ``labels.jsonl``: one JSON object a line,
  ``{"filename": "a.pdf", "labels": {"Governing Law": {"context_spans": [...], "answer": "..."}}}``;
  a category name becomes a field name in snake case ("Anti-Assignment" -> ``anti_assignment``)
  unless ``FIELD_ALIASES`` says otherwise;
- code, a JSON file ``{"issues": [{"file": "db.py", "line": 120, "kind": "sql injection",
  "cwe": "CWE-89", "line_text": "..."}]}``; an issue answers a field with its CWE, else the
  field whose name is its kind in snake case.

The oracle answers only the fields asked and only spans inside the window shown; a field with
no label is left out (declared absent), as the profiles' instructions ask of a model. Each
answer is perturbed at the seeded rates of ``Perturbation``; the choice for one span depends on
the seed and the span only, never on the order of requests.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.simulator_model import (
    SimAnswer,
    SimDocument,
    absent,
    asked_fields,
    parse_documents,
)

# CUAD categories whose legal-profile field is not their name in snake case.
FIELD_ALIASES = {
    "No-Solicit Of Customers": "non_solicitation",
    "No-Solicit Of Employees": "non_solicitation",
    "Rofr/Rofo/Rofn": "rofr_rofo_rofn",
    "Unlimited/All-You-Can-Eat-License": "unlimited_license",
}
OMITTED = "<omitted>"  # CUAD joins the parts of a span cut in two with this marker
ELISION_MARKS = ("...", "…", "[...]")
ELISION_MIN_WORDS = 16  # only a long quote is elided to its first and last words
ELISION_KEEP_WORDS = 6
WINDOW_PROBE_WORDS = 5  # a span is in a window when its first words are shown there
STRAIGHT = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


@dataclass(frozen=True)
class Perturbation:
    """Rates (0..1) at which each habit of real models is applied to a labelled answer."""

    elide: float = 0.10  # "first six words ... last six words" (quotes of 16+ words)
    reflow: float = 0.30  # whitespace re-flowed: line breaks to spaces, or new line breaks
    quotes: float = 0.20  # curly quotes straightened, or straight ones curled
    drop_period: float = 0.30  # the trailing period left off
    line_shift: float = 0.10  # code: the line number off by 1-3
    paraphrase: float = 0.01  # the quote reworded (it must then fail grounding)
    seed: int = 0


NO_PERTURBATION = Perturbation(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class LabelledSpan:
    text: str
    answer: str


@dataclass(frozen=True)
class LabelledFinding:
    line: int
    kind: str
    cwe: str | None = None
    line_text: str | None = None
    severity: str | None = None


@dataclass(frozen=True)
class Labels:
    """Spans per document and field; findings per code file."""

    documents: Mapping[str, Mapping[str, tuple[LabelledSpan, ...]]] = field(default_factory=dict)
    findings: Mapping[str, tuple[LabelledFinding, ...]] = field(default_factory=dict)

    def for_name(self, name: str) -> tuple[str, Mapping[str, tuple[LabelledSpan, ...]]] | None:
        return _by_name(self.documents, name)

    def findings_for(self, name: str) -> tuple[LabelledFinding, ...]:
        found = _by_name(self.findings, name)
        return found[1] if found else ()


def field_name(category: str) -> str:
    """The profile field a CUAD category answers ("Cap On Liability" -> ``cap_on_liability``)."""
    return FIELD_ALIASES.get(category) or re.sub(r"[^a-z0-9]+", "_", category.lower()).strip("_")


def load_labels(path: str | Path) -> Labels:
    """Labels from a CUAD-style ``.jsonl`` (documents) or a findings ``.json`` (code)."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith(".jsonl"):
        return parse_document_labels(json.loads(line) for line in text.splitlines() if line.strip())
    payload = json.loads(text)
    if isinstance(payload, dict) and "issues" in payload:
        return parse_finding_labels(payload["issues"])
    return parse_document_labels(payload if isinstance(payload, list) else [payload])


def parse_document_labels(records: Any) -> Labels:
    documents: dict[str, dict[str, tuple[LabelledSpan, ...]]] = {}
    for record in records:
        fields: dict[str, tuple[LabelledSpan, ...]] = {}
        for category, label in (record.get("labels") or {}).items():
            spans = [
                LabelledSpan(part.strip(), str(label.get("answer") or ""))
                for span in label.get("context_spans") or []
                for part in str(span).split(OMITTED)
                if part.strip()
            ]
            if spans:
                name = field_name(category)
                fields[name] = fields.get(name, ()) + tuple(spans)
        documents[str(record["filename"])] = fields
    return Labels(documents=documents)


def parse_finding_labels(issues: Sequence[Mapping[str, Any]]) -> Labels:
    findings: dict[str, list[LabelledFinding]] = {}
    for issue in issues:
        findings.setdefault(str(issue["file"]), []).append(
            LabelledFinding(
                line=int(issue["line"]),
                kind=str(issue.get("kind") or ""),
                cwe=issue.get("cwe"),
                line_text=issue.get("line_text"),
                severity=issue.get("severity"),
            )
        )
    return Labels(findings={name: tuple(items) for name, items in findings.items()})


class Oracle:
    """Answers a request with the labelled spans of its documents, perturbed."""

    def __init__(self, labels: Labels, perturbation: Perturbation = Perturbation()) -> None:
        self.labels = labels
        self.perturbation = perturbation

    @classmethod
    def from_path(cls, path: str | Path, perturbation: Perturbation = Perturbation()) -> Oracle:
        return cls(load_labels(path), perturbation)

    def answer(self, messages: Sequence[Mapping[str, Any]], *, json_mode: bool) -> SimAnswer:
        """What a model that knows the labels says to ``messages`` (the simulator's shape)."""
        user_text = "\n".join(
            str(m.get("content") or "") for m in messages if m.get("role") == "user"
        )
        fields = asked_fields(messages)
        if fields is None:
            content = "{}" if json_mode else "Oracle: nothing asked."
            return SimAnswer(content, "Oracle: no fields block, nothing to extract.", 0)
        documents = parse_documents(user_text)
        extractions = self.extract(documents, fields)
        # What a labelled document has no label for, the oracle knows is absent; of a document
        # without labels it knows nothing, and says nothing.
        known = [d for d in documents if self.labels.for_name(d.attrs.get("name", "")) is not None]
        declared = absent(known, fields, extractions)
        answer: dict[str, Any] = {"extractions": extractions}
        if declared:
            answer["absent"] = declared
        content = json.dumps(answer, ensure_ascii=False)
        reasoning = f"Oracle: {len(extractions)} labelled answer(s) for {len(fields)} field(s)."
        return SimAnswer(content, reasoning, len(extractions))

    def extract(
        self, documents: Sequence[SimDocument], fields: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for doc in documents:
            name = doc.attrs.get("name", "")
            if doc.kind == "code":
                out.extend(self._findings(doc, name, fields))
                continue
            labelled = self.labels.for_name(name)
            if labelled is None:
                continue
            label_name, by_field = labelled
            shown = None if "window" not in doc.attrs else _probe_text(_shown_text(doc))
            for spec in fields:
                spans = by_field.get(str(spec["name"]), ())
                for number, span in enumerate(spans):
                    if shown is not None and _probe(span.text) not in shown:
                        continue
                    key = f"{label_name}|{spec['name']}|{number}"
                    quote = self._perturbed(span.text, key)
                    value = span.answer if len(spans) == 1 and span.answer else span.text
                    out.append({"doc_id": doc.doc_id, "field": spec["name"],
                                "value": " ".join(value.split()), "quote": quote})  # fmt: skip
        return out

    def _findings(
        self, doc: SimDocument, name: str, fields: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        shown = dict(doc.lines)
        out = []
        for finding in self.labels.findings_for(name):
            if finding.line not in shown:
                continue  # outside the window
            spec = _field_for(finding, fields)
            if spec is None:
                continue
            key = f"{name}|{finding.line}|{finding.kind}"
            rng = self._rng(key + "|line")
            line = finding.line
            if rng.random() < self.perturbation.line_shift:
                line = max(1, line + rng.choice((-3, -2, -1, 1, 2, 3)))
            # A perfect model quotes the line it was shown: where ingest redacted a secret on
            # it, the label's text (with the secret) is not what the model sees.
            quote = finding.line_text
            if not quote or quote not in shown[finding.line]:
                quote = shown[finding.line].strip()
            value = {
                "severity": finding.severity or spec.get("severity"),
                "cwe": finding.cwe or spec.get("cwe"),
                "explanation": finding.kind,
            }
            out.append({"doc_id": doc.doc_id, "field": spec["name"], "value": value,
                        "quote": self._perturbed(quote, key, code=True), "line": line})  # fmt: skip
        return out

    def _rng(self, key: str) -> random.Random:
        digest = hashlib.sha256(f"{self.perturbation.seed}|{key}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def _perturbed(self, quote: str, key: str, *, code: bool = False) -> str:
        rates = self.perturbation
        rng = self._rng(key)
        draws = [rng.random() for _ in range(5)]  # one per habit, drawn whatever applies
        if draws[0] < rates.paraphrase:
            return paraphrase(quote)
        if not code and draws[1] < rates.elide and len(quote.split()) >= ELISION_MIN_WORDS:
            words = quote.split()
            mark = ELISION_MARKS[int(draws[1] * 1000) % len(ELISION_MARKS)]
            quote = " ".join([*words[:ELISION_KEEP_WORDS], mark, *words[-ELISION_KEEP_WORDS:]])
        if not code and draws[2] < rates.reflow:
            quote = reflow(quote, rng)
        if draws[3] < rates.quotes:
            quote = curl(quote) if quote.translate(STRAIGHT) == quote else quote.translate(STRAIGHT)
        if not code and draws[4] < rates.drop_period:
            quote = quote.rstrip().removesuffix(".")
        return quote


def reflow(quote: str, rng: random.Random) -> str:
    """Line breaks to spaces, or a line break every few words, as a model re-wraps text."""
    words = quote.split()
    if rng.random() < 0.5:
        return " ".join(words)
    width = rng.randint(6, 12)
    return "\n".join(" ".join(words[i : i + width]) for i in range(0, len(words), width))


def curl(quote: str) -> str:
    """Straight quotes curled: an opening one after a space or at the start, else closing."""
    out = []
    for index, char in enumerate(quote):
        opening = index == 0 or quote[index - 1].isspace() or quote[index - 1] in "([{"
        if char == '"':
            out.append("“" if opening else "”")
        elif char == "'":
            out.append("‘" if opening else "’")
        else:
            out.append(char)
    return "".join(out)


def paraphrase(quote: str) -> str:
    """The same clause in other words: every pair of words swapped, every third word dropped."""
    words = [w for i, w in enumerate(quote.split()) if i % 3 != 2]
    for i in range(0, len(words) - 1, 2):
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def _by_name(table: Mapping[str, Any], name: str) -> tuple[str, Any] | None:
    if name in table:
        return name, table[name]
    base = name.rsplit("/", 1)[-1]
    for label_name, value in table.items():
        if label_name == base or name.endswith("/" + label_name):
            return label_name, value
    return None


def _field_for(
    finding: LabelledFinding, fields: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    kind = field_name(finding.kind)
    for spec in fields:
        if finding.cwe and spec.get("cwe") == finding.cwe:
            return spec
    for spec in fields:
        if spec.get("name") == kind:
            return spec
    return None


def _shown_text(doc: SimDocument) -> str:
    if doc.kind == "pdf":
        return "\n".join(doc.pages)
    return doc.text


def _probe_text(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).translate(STRAIGHT).casefold()
    return " ".join(folded.split())


def _probe(span: str) -> str:
    return _probe_text(" ".join(span.split()[:WINDOW_PROBE_WORDS]))
