"""Planning a review from its inputs: routes are decided per family before packing."""

from __future__ import annotations

import hashlib

from connectors.local import LocalSource
from connectors.store import Store
from nightshift.models import ModelIds
from nightshift.profiles import load_profile
from nightshift.tokenizer import count_tokens
from tasks.ingest import IngestOptions, ingest_source
from tasks.review_plan import (
    VIEW_BATCH_ITEMS,
    PlanInputs,
    PlanViews,
    load_plan_inputs,
    plan_review,
)

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


def test_a_plan_from_the_store_holds_no_text_and_reads_it_per_batch_of_items(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(150):
        (corpus / f"c{n:03d}.txt").write_text(f"Agreement {n}.\n" + SENTENCE * 20)
    profile = LEGAL.model_copy(update={"max_documents_per_request": 1})
    with Store(tmp_path / "db.duckdb") as store:
        source = LocalSource(corpus)
        ingest_source(source, store, IngestOptions(workers=1), "run-1")
        inputs = load_plan_inputs(store, source.uri, profile, True)
        assert all("text" not in row for row in inputs.texts.values())
        plan = plan_review(inputs, profile, MODELS)
        views = plan.views
        assert isinstance(views, PlanViews) and views.reads == 0 and views.held_chars == 0
        first, last = plan.items[0], plan.items[-1]
        shown = views[first.item_id][0]
        assert shown.text.startswith("Agreement ") and shown.doc_id == first.doc_ids[0]
        # The first item read its text and those of the items after it, in one query.
        for item in plan.items[1:VIEW_BATCH_ITEMS]:
            assert views[item.item_id][0].text.endswith(SENTENCE)
        assert views.reads == 1
        assert views[last.item_id][0].doc_id == last.doc_ids[0]
        assert views.reads == 2
        # Kept up to the cap: a small cap keeps about one batch, never the whole corpus.
        capped = PlanViews(plan.items, inputs.texts, store, max_chars=10_000)
        for item in plan.items:
            assert capped[item.item_id][0].doc_id == item.doc_ids[0]
        text_chars = len(views[first.item_id][0].text)
        assert capped.held_chars <= (VIEW_BATCH_ITEMS + 1) * text_chars
        assert capped.held_chars < len(plan.items) * text_chars / 2
