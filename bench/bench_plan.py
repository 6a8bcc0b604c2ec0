"""Plan and price time per document on synthetic corpora of small documents.

Plans (group, route, pack) and prices 1,000 / 10,000 / 50,000 small text documents with the
legal profile set to ``pack_small`` (the layout that packs the most, so packing is exercised)
and prints the time per document at each size and its ratio to the smallest: it should stay
flat (within +-30%) if planning and pricing are O(n log n). No document text is tokenized;
pricing reads the counts the plan holds.

    python bench/bench_plan.py [--sizes 1000 10000 50000]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from datetime import UTC, datetime

from nightshift.models import ModelIds
from nightshift.profiles import load_profile
from tasks.price import price_plan
from tasks.review_plan import PlanInputs, plan_review

AT = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


def corpus(size: int) -> PlanInputs:
    candidates, texts = [], {}
    for n in range(size):
        doc_id = hashlib.sha256(str(n).encode()).hexdigest()
        candidates.append({"doc_id": doc_id, "relpath": f"notes/n{n:06d}.txt", "kind": "text",
                           "lines": 10})  # fmt: skip
        texts[doc_id] = {"text": "x", "tokens": 200 + n % 1_700, "page_starts": None,
                         "page_token_starts": None}  # fmt: skip
    return PlanInputs(candidates, texts, frozenset())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    args = parser.parse_args()
    profile = load_profile("legal").model_copy(update={"packing": "pack_small"})
    plan_review(corpus(100), profile, ModelIds())  # warm-up: tokenizer and imports loaded
    price_plan(plan_review(corpus(100), profile, ModelIds()), profile, AT)
    print("documents | items | plan s | price s | us/doc | ratio to first")
    first = None
    for size in args.sizes:
        inputs = corpus(size)
        start = time.perf_counter()
        plan = plan_review(inputs, profile, ModelIds())
        planned = time.perf_counter()
        price_plan(plan, profile, AT)
        priced = time.perf_counter()
        per_doc = (priced - start) / size * 1e6
        first = first or per_doc
        print(f"{size:,} | {len(plan.items):,} | {planned - start:.2f} | {priced - planned:.2f} "
              f"| {per_doc:.0f} | {per_doc / first:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
