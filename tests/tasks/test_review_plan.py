"""Planning a review from its inputs: routes are decided per family before packing."""

from __future__ import annotations

import hashlib

from nightshift.models import ModelIds
from nightshift.profiles import load_profile
from nightshift.tokenizer import count_tokens
from tasks.review_plan import PlanInputs, plan_review

LEGAL = load_profile("legal")
MODELS = ModelIds("flash-x", "pro-x")
SENTENCE = "The Supplier shall deliver the goods within thirty days of each purchase order. "


def inputs(documents: dict[str, int]) -> PlanInputs:
    """Text documents (relpath -> repetitions of a sentence), with their real token counts."""
    candidates, texts = [], {}
    for relpath, repeats in documents.items():
        text = SENTENCE * repeats
        doc_id = hashlib.sha256(text.encode() + relpath.encode()).hexdigest()
        candidates.append({"doc_id": doc_id, "relpath": relpath, "kind": "text", "lines": 1})
        texts[doc_id] = {"text": text, "tokens": count_tokens(text), "page_starts": None,
                         "page_token_starts": None}  # fmt: skip
    return PlanInputs(candidates, texts, frozenset())


def test_family_unrelated_and_long_contract_are_routed_and_packed_per_document():
    plan = plan_review(
        inputs({
            "acme/master.txt": 300, "acme/amendment-1.txt": 40, "nda.txt": 30,
            "lease.txt": 50, "huge.txt": 20_000,
        }),
        LEGAL, MODELS,
    )  # fmt: skip
    by_names = {tuple(sorted(s.relpath for s in item.slices)): item.route for item in plan.items}
    assert set(by_names) == {
        ("acme/amendment-1.txt", "acme/master.txt"), ("nda.txt",), ("lease.txt",), ("huge.txt",),
    }  # fmt: skip
    assert by_names[("huge.txt",)].model == "pro-x"  # over 200K tokens on its own
    assert "high-fidelity" in by_names[("huge.txt",)].reason
    for names, route in by_names.items():
        if names != ("huge.txt",):
            assert route.model == "flash-x", names
    assert plan.models == MODELS
