"""Grounding: throughput on a ~1M-token document, and, given a labelled corpus, how many
labelled spans an oracle's answers land as grounded extractions on the right page.

    python bench/bench_grounding.py                      # throughput only
    python bench/bench_grounding.py --cuad DIR           # plus recall on CUAD-style labels
                                                         # (DIR/labels.jsonl, DIR/pdf/*.pdf)

Throughput is quotes per second per kind of match, against ``str.find`` of the exact quote in
the same run (the floor: what a look-up that tolerates nothing costs). Recall goes through the
real path: PDF text extractor (pypdf and pdfium) with ingest's normalisation, the prompt, the
oracle's answer, ``check_answer`` (grounding, quote length, value check). A span counts when
its extraction is grounded on a page where the span's first words are (found by a plain
whitespace- and case-folded search of the pages, independent of the grounding code).
"""

from __future__ import annotations

import argparse
import json
import random
import time
import unicodedata
from collections import Counter
from pathlib import Path

from connectors.simulator_oracle import NO_PERTURBATION, Oracle, load_labels
from nightshift.models import DocKind
from nightshift.profiles import load_profile
from nightshift.tokenizer import count_tokens
from tasks.ground import GroundingIndex
from tasks.pdf_text import EXTRACTORS
from tasks.prompt import DocumentView, build_messages
from tasks.validate import check_answer, quote_supports_value

SYLLABLES = ("ab", "con", "de", "ex", "for", "gra", "in", "li", "men", "no", "per", "re", "sta",
             "ter", "un", "ver", "al", "ti", "on", "ment")  # fmt: skip
# A few thousand pseudo-words, drawn with a skew as real words are: repetitive like contract
# prose, not so repetitive that every three-word phrase occurs everywhere.
WORDS = tuple("".join(random.Random(n).choices(SYLLABLES, k=1 + n % 4)) for n in range(3000))
ZIPF = [sum(1 / (r + 1) for r in range(n + 1)) for n in range(len(WORDS))]  # cumulative
MIN_SPAN_WORDS = 4
PROBE_WORDS = 8


def synthetic_document(tokens: int, seed: int = 1) -> tuple[str, tuple[int, ...]]:
    rng = random.Random(seed)
    pages, size = [], 0
    while size < tokens * 3.2:  # these pseudo-words tokenise at ~3.2 characters a token
        lines = [" ".join(rng.choices(WORDS, cum_weights=ZIPF, k=12)) + "." for _ in range(45)]
        page = "\n".join(lines) + f"\nSource: ACME CORP, 10-K, page {len(pages) + 1}"
        pages.append(page)
        size += len(page) + 1
    starts, position = [], 0
    for page in pages:
        starts.append(position)
        position += len(page) + 1
    return "\f".join(pages), tuple(starts)


def throughput(tokens: int, quotes: int) -> None:
    text, starts = synthetic_document(tokens)
    began = time.perf_counter()
    index = GroundingIndex(text, starts)
    build = time.perf_counter() - began
    print(f"document: {len(text):,} chars, ~{count_tokens(text[:200_000]) * len(text) // 200_000:,}"
          f" tokens, {len(starts)} pages; index built in {build:.2f} s, "
          f"{len(index.positions) * 4 / len(text):.1f} bytes of offsets a char")  # fmt: skip
    rng = random.Random(2)
    samples = []
    for _ in range(quotes):
        at = rng.randrange(0, len(text) - 400)
        at = text.find(" ", at) + 1
        samples.append(text[at : text.find(" ", at + 160)])
    variants = {
        "exact": lambda q: q,
        "normalized": lambda q: " ".join(q.upper().split()),
        "elided": lambda q: " ".join(q.split()[:6]) + " ... " + " ".join(q.split()[-6:]),
        "fuzzy": lambda q: q[:40] + "x" + q[41:],
    }
    baseline = _rate(lambda q: text.find(q), samples)
    print(f"{'kind':<12}{'quotes/s':>12}{'vs str.find':>14}{'found as':>30}")
    print(f"{'str.find':<12}{baseline:>12,.0f}{1.0:>14.3f}")
    for kind, change in variants.items():
        changed = [change(q) for q in samples]
        kinds: Counter[str] = Counter()
        rate = _rate(lambda q, kinds=kinds: kinds.update([_kind(index.locate(q))]), changed)
        found = ", ".join(f"{k} {n}" for k, n in kinds.most_common())
        print(f"{kind:<12}{rate:>12,.0f}{rate / baseline:>14.3f}{found:>30}")


def _rate(look_up, quotes) -> float:
    began = time.perf_counter()
    for quote in quotes:
        look_up(quote)
    return len(quotes) / (time.perf_counter() - began)


def _kind(location) -> str:
    return "none" if location is None else location.match


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def true_pages(span: str, pages: list[str]) -> set[int]:
    """Pages where the span starts: its first words (fewer when a page break cuts them), else
    where its last words are."""
    words = span.split()
    folded = [_fold(page) for page in pages]
    for size in (PROBE_WORDS, 6, 4, 3):
        probe = _fold(" ".join(words[:size]))
        found = {n for n, page in enumerate(folded, 1) if probe in page}
        if found:
            return found
    probe = _fold(" ".join(words[-PROBE_WORDS:]))
    return {n for n, page in enumerate(folded, 1) if probe in page}


def recall(corpus: Path, engines: list[str]) -> None:
    labels_path = corpus / "labels.jsonl"
    labels = load_labels(labels_path)
    records = [json.loads(line) for line in labels_path.read_text().splitlines() if line.strip()]
    profile = load_profile("legal")
    fields = {spec.name for spec in profile.fields}
    oracles = {"exact": Oracle(labels, NO_PERTURBATION), "perturbed": Oracle(labels)}
    print(f"{'engine':<8}{'answers':<11}{'spans':>7}{'landed':>8}{'share':>8}"
          f"{'wrong page':>12}{'short':>7}{'value':>7}  kinds")  # fmt: skip
    for engine in engines:
        documents = []
        for record in records:
            path = corpus / record["pdf"]
            pages = list(EXTRACTORS[engine](str(path), [""], lambda done, total: None).pages)
            starts, position = [], 0
            for page in pages:
                starts.append(position)
                position += len(page) + 1
            text = "\f".join(pages)
            view = DocumentView(record["filename"][:12], record["filename"], DocKind.PDF, text,
                                tuple(starts))  # fmt: skip
            index = GroundingIndex(text, view.page_starts)
            documents.append((record["filename"], view, pages, index))
        for mode, oracle in oracles.items():
            counts: Counter[str] = Counter()
            kinds: Counter[str] = Counter()
            for name, view, pages, index in documents:
                labelled = labels.documents[name]
                messages = build_messages(profile, [view], profile.fields)
                content = oracle.answer(messages, json_mode=True).content
                indexes = {view.doc_id: index}
                checked = check_answer(content, "stop", [view], sorted(fields), indexes)
                by_field: dict[str, list] = {}
                for extraction in checked.extractions:
                    by_field.setdefault(extraction.field, []).append(extraction)
                for field, spans in labelled.items():
                    if field not in fields:
                        continue
                    for span, extraction in zip(spans, by_field.get(field, []), strict=False):
                        if len(span.text.split()) < MIN_SPAN_WORDS:
                            continue
                        counts["spans"] += 1
                        if not extraction.grounded:
                            counts[_loss(extraction)] += 1
                            continue
                        truth = true_pages(span.text, pages)
                        if truth and extraction.page not in truth:
                            counts["wrong page"] += 1
                            continue
                        counts["landed"] += 1
                        kinds[extraction.match or "?"] += 1
            share = counts["landed"] / counts["spans"] if counts["spans"] else 0.0
            print(f"{engine:<8}{mode:<11}{counts['spans']:>7}{counts['landed']:>8}{share:>8.4f}"
                  f"{counts['wrong page']:>12}{counts['short']:>7}{counts['value']:>7}  "
                  f"{dict(kinds)}")  # fmt: skip


def _loss(extraction) -> str:
    """Why a labelled span did not land: not found, or found but refused by validation."""
    if extraction.match is None:
        return "ungrounded"
    return "short" if not quote_supports_value(extraction.quote, DocKind.PDF) else "value"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--quotes", type=int, default=300)
    parser.add_argument("--cuad", type=Path, help="a folder with labels.jsonl and pdf/")
    parser.add_argument("--engines", default="pypdf,pdfium")
    args = parser.parse_args()
    throughput(args.tokens, args.quotes)
    if args.cuad:
        recall(args.cuad, args.engines.split(","))


if __name__ == "__main__":
    main()
