"""The planner: properties over synthetic document sets, and the cases that matter by name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import accumulate, pairwise
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nightshift.models import DocKind, ModelIds
from nightshift.profiles import load_profile
from tasks.plan import (
    CONTEXT_TOKENS,
    DOCUMENT_OVERHEAD_TOKENS,
    OVERLAP_FRACTION,
    SAFETY_MARGIN,
    Budget,
    PlanDocument,
    WorkItem,
    _pack,
    _Part,
    group_key,
    plan_work,
)
from tasks.route import ProfileRouter

SETTINGS = settings(max_examples=60, deadline=None)
EXTENSIONS = {DocKind.PDF: ".pdf", DocKind.TEXT: ".txt", DocKind.CODE: ".py"}
FOLDERS = ("", "acme/", "acme/2024/", "beta/")
STEMS = ("msa", "nda", "lease", "supply")  # never a folder name: see the collision test
SUFFIXES = ("", "-amendment-1", " exhibit b", "_schedule_2", " (annex 3)")
CHARS_PER_TOKEN = 4


def document(doc_id: str, relpath: str, kind: DocKind, unit_tokens: Sequence[int]) -> PlanDocument:
    """A document whose units (pages or lines) have these token counts, offsets consistent."""
    token_starts = tuple(accumulate(unit_tokens, initial=0))[:-1]
    char_starts = tuple(CHARS_PER_TOKEN * t + i for i, t in enumerate(token_starts))
    return PlanDocument(
        doc_id, relpath, kind, sum(unit_tokens), token_starts, char_starts, len(unit_tokens)
    )


def expected_group(folder: str, stem: str) -> str:
    return folder.rstrip("/") if folder else stem


@st.composite
def budgets(draw: st.DrawFn) -> Budget:
    return Budget(
        input_tokens=draw(st.integers(1_000, 20_000)),
        output_tokens=16_384,
        output_tokens_per_document=draw(st.integers(500, 8_000)),
        max_documents=draw(st.integers(1, 10)),
    )


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[PlanDocument], dict[str, str]]:
    """Documents of mixed kinds in nested folders; returns them and each one's expected group."""
    specs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(FOLDERS),
                st.sampled_from(STEMS),
                st.sampled_from(SUFFIXES),
                st.sampled_from(list(EXTENSIONS)),
                st.lists(st.integers(0, 400), min_size=1, max_size=60),
            ),
            min_size=1,
            max_size=25,
            unique_by=lambda spec: spec[:4],
        )
    )
    documents, groups = [], {}
    for number, (folder, stem, suffix, kind, unit_tokens) in enumerate(specs):
        doc_id = f"doc{number:02d}"
        relpath = f"{folder}{stem}{suffix}{EXTENSIONS[kind]}"
        documents.append(document(doc_id, relpath, kind, unit_tokens))
        groups[doc_id] = expected_group(folder, stem)
    return documents, groups


def check_coverage(documents: Sequence[PlanDocument], budget: Budget, items: list[WorkItem]):
    """Every document once in a whole item, or in windows covering all its units; in budget."""
    whole: dict[str, int] = defaultdict(int)
    windows: dict[str, list] = defaultdict(list)
    for item in items:
        assert item.input_tokens <= budget.input_tokens, item
        if item.is_window:
            assert len(item.slices) == 1
            windows[item.slices[0].doc_id].append(item.slices[0])
        else:
            assert item.input_tokens == sum(d.cost for d in documents if d.doc_id in item.doc_ids)
            for doc_id in item.doc_ids:
                whole[doc_id] += 1
    by_id = {d.doc_id: d for d in documents}
    assert set(whole) | set(windows) == set(by_id)
    assert not set(whole) & set(windows)
    assert all(count == 1 for count in whole.values())
    for doc_id, pieces in windows.items():
        doc = by_id[doc_id]
        assert doc.cost > budget.input_tokens, "a document that fits is never windowed"
        pieces.sort(key=lambda s: s.unit_start)
        assert [p.window for p in pieces] == [f"{i + 1}/{len(pieces)}" for i in range(len(pieces))]
        assert pieces[0].unit_start == 0
        assert pieces[-1].unit_end is None and pieces[-1].char_end is None
        for before, after in pairwise(pieces):
            assert before.unit_end is not None
            assert before.unit_start < after.unit_start <= before.unit_end  # touch or overlap
            assert before.char_end == doc.unit_char_starts[before.unit_end]
        for piece in pieces:
            assert piece.char_start == doc.unit_char_starts[piece.unit_start]
    ids = [item.item_id for item in items]
    assert len(ids) == len(set(ids))


@SETTINGS
@given(corpora(), budgets())
def test_every_document_lands_once_within_budget(corpus, budget):
    documents, _groups = corpus
    check_coverage(documents, budget, plan_work(documents, budget, whole_source=False))


@SETTINGS
@given(corpora(), budgets())
def test_packs_respect_document_and_output_bounds(corpus, budget):
    documents, _groups = corpus
    bound = min(budget.max_documents, budget.output_tokens // budget.output_tokens_per_document)
    for item in plan_work(documents, budget, whole_source=False):
        assert len(item.doc_ids) <= max(1, bound)


@SETTINGS
@given(corpora(), budgets())
def test_a_group_that_fits_shares_one_item(corpus, budget):
    documents, groups = corpus
    bound = min(budget.max_documents, budget.documents_fitting_output())
    items = plan_work(documents, budget, whole_source=False)
    item_of = {doc_id: item.item_id for item in items for doc_id in item.doc_ids}
    members: dict[str, list[PlanDocument]] = defaultdict(list)
    for doc in documents:
        members[groups[doc.doc_id]].append(doc)
    for group, docs in members.items():
        if sum(d.cost for d in docs) <= budget.input_tokens and len(docs) <= bound:
            assert len({item_of[d.doc_id] for d in docs}) == 1, group


@SETTINGS
@given(corpora(), budgets(), st.randoms(use_true_random=False))
def test_item_ids_do_not_depend_on_input_order(corpus, budget, rnd):
    documents, _groups = corpus
    shuffled = list(documents)
    rnd.shuffle(shuffled)
    first = plan_work(documents, budget, whole_source=False)
    second = plan_work(shuffled, budget, whole_source=False)
    assert [i.item_id for i in first] == [i.item_id for i in second]
    assert first == second


# --- codebases ------------------------------------------------------------------------------

DIRECTORIES = ("src", "src/core", "src/core/io", "src/web", "tests", "docs/api")


@st.composite
def repositories(draw: st.DrawFn) -> list[PlanDocument]:
    """Files in a tree where every directory holding a sub-directory also holds a file.

    (A directory whose only entry is one sub-directory is the subject of its own test.)
    """
    files = draw(
        st.lists(
            st.tuples(st.sampled_from(DIRECTORIES), st.lists(st.integers(1, 60), max_size=40)),
            min_size=1,
            max_size=30,
        )
    )
    used = {directory for directory, _lines in files}
    ancestors = {str(p) for d in used for p in PurePosixPath(d).parents if str(p) != "."}
    documents = [document("root", "README.py", DocKind.CODE, [5])]
    for directory in sorted(ancestors | used):
        documents.append(document(f"init:{directory}", f"{directory}/__init__.py", DocKind.CODE,
                                  [2]))  # fmt: skip
    for number, (directory, lines) in enumerate(files):
        lines = lines or [1]
        documents.append(document(f"f{number}", f"{directory}/m{number}.py", DocKind.CODE, lines))
    return documents


def code_budget(input_tokens: int) -> Budget:
    return Budget(input_tokens, 16_384, output_tokens_per_document=5_000, max_documents=2)


@SETTINGS
@given(repositories(), st.integers(1_000, 20_000))
def test_codebase_is_one_item_when_it_fits_else_whole_directories(documents, input_tokens):
    budget = code_budget(input_tokens)
    items = plan_work(documents, budget, whole_source=True)
    check_coverage(documents, budget, items)
    total = sum(d.cost for d in documents)
    if total <= budget.input_tokens:
        assert len(items) == 1, "a repository that fits goes whole, however many files"
        return
    item_of = {doc_id: item.item_id for item in items for doc_id in item.doc_ids}
    for directory in {str(PurePosixPath(d.relpath).parent) for d in documents} - {"."}:
        inside = [d for d in documents if d.relpath.startswith(directory + "/")]
        if sum(d.cost for d in inside) <= budget.input_tokens:
            assert len({item_of[d.doc_id] for d in inside}) == 1, directory


def test_codebase_under_one_top_directory_still_splits_along_directories():
    sizes = {"a": (300, 100, 100), "b": (250, 150, 100), "c": (200, 200, 100)}
    documents = [
        document(f"{d}{i}", f"repo/{d}/f{i}.py", DocKind.CODE, [size])
        for d, row in sizes.items()
        for i, size in enumerate(row)
    ]
    per_directory = {d: sum(x.cost for x in documents if f"/{d}/" in x.relpath) for d in sizes}
    budget = code_budget(max(per_directory.values()) + 10)  # one directory fits, not two
    items = plan_work(documents, budget, whole_source=True)
    for directory in ("a", "b", "c"):
        holding = {i.item_id for i in items for s in i.slices if f"/{directory}/" in s.relpath}
        assert len(holding) == 1, directory


def test_codebase_pack_ignores_the_document_count_bound():
    documents = [document(f"f{i}", f"src/m{i}.py", DocKind.CODE, [10]) for i in range(50)]
    items = plan_work(documents, code_budget(20_000), whole_source=True)
    assert len(items) == 1 and len(items[0].doc_ids) == 50


def test_large_code_file_is_windowed_by_lines_and_others_stay_whole():
    big = document("big", "src/big.py", DocKind.CODE, [20] * 200)
    small = [document(f"s{i}", f"src/s{i}.py", DocKind.CODE, [20] * 5) for i in range(3)]
    items = plan_work([big, *small], code_budget(1_500), whole_source=True)
    check_coverage([big, *small], code_budget(1_500), items)
    assert all(i.doc_ids == ("big",) for i in items if i.is_window)
    assert len([i for i in items if not i.is_window]) == 1


# --- windows --------------------------------------------------------------------------------


def test_windows_overlap_on_whole_pages_and_carry_offsets():
    pdf = document("p", "big.pdf", DocKind.PDF, [5] * 300)
    budget = Budget(1_000, 16_384, 1_000, 8)
    items = plan_work([pdf], budget, whole_source=False)
    check_coverage([pdf], budget, items)
    assert len(items) > 1
    pieces = [i.slices[0] for i in items]
    # the overlap is 2% of the room: as many 5-token pages as fit in it repeat in the next window
    overlap = int((budget.input_tokens - DOCUMENT_OVERHEAD_TOKENS) * OVERLAP_FRACTION) // 5
    assert overlap >= 1
    assert all(b.unit_end - a.unit_start == overlap for b, a in pairwise(pieces))
    assert items[0].group.endswith(f"big#1/{len(items)}")
    assert items[-1].group.endswith(f"big#{len(items)}/{len(items)}")


def test_window_item_ids_are_stable_and_differ_by_window():
    pdf = document("p", "big.pdf", DocKind.PDF, [50] * 100)
    budget = Budget(1_000, 16_384, 1_000, 8)
    first = plan_work([pdf], budget, whole_source=False)
    assert [i.item_id for i in first] == [i.item_id for i in plan_work([pdf], budget, False)]
    assert len({i.item_id for i in first}) == len(first)


def test_document_without_unit_offsets_cannot_be_windowed():
    flat = PlanDocument("t", "huge.txt", DocKind.TEXT, tokens=5_000)
    with pytest.raises(ValueError, match="no unit offsets"):
        plan_work([flat], Budget(1_000, 16_384, 1_000, 8), whole_source=False)


def test_one_oversized_line_does_not_abort_the_plan():
    minified = document("min", "bundle.txt", DocKind.TEXT, [5_000])
    fine = document("ok", "notes.txt", DocKind.TEXT, [100])
    rejected: list = []
    items = plan_work(
        [minified, fine], Budget(1_000, 16_384, 1_000, 8), whole_source=False, rejected=rejected
    )
    assert "ok" in {d for i in items for d in i.doc_ids}
    assert [(document.doc_id, "alone has") for document, _ in rejected] == [("min", "alone has")]
    assert "alone has" in rejected[0][1]


# --- grouping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "together"),
    [
        ("msa.pdf", "MSA-Amendment-2.pdf", True),
        ("msa.pdf", "msa_exhibit_b.pdf", True),
        ("msa.pdf", "msa (schedule 1).pdf", True),
        ("msa.pdf", "msa amendment no. 3.pdf", True),
        ("msa.pdf", "nda.pdf", False),
        ("msa.pdf", "msa-2024.pdf", False),
        ("acme/anything.pdf", "acme/other.txt", True),
        ("acme/x.pdf", "acme/2024/x-amendment-1.pdf", False),
        ("exhibit.pdf", "exhibit-b.pdf", False),  # nothing left after the suffix: the stem
    ],
)
def test_group_key(first, second, together):
    assert (group_key(first, False) == group_key(second, False)) is together
    assert group_key(first, whole_source=True) == group_key(second, whole_source=True) == "."


def test_contract_travels_with_amendment_and_exhibit_at_top_level():
    documents = [
        document("m", "msa.pdf", DocKind.PDF, [500]),
        document("a", "msa-amendment-1.pdf", DocKind.PDF, [500]),
        document("e", "msa exhibit b.pdf", DocKind.PDF, [500]),
        document("n", "nda.pdf", DocKind.PDF, [2_000]),
    ]
    items = plan_work(documents, Budget(3_000, 16_384, 1_000, 8), whole_source=False)
    assert sorted(sorted(i.doc_ids) for i in items) == [["a", "e", "m"], ["n"]]


def test_top_level_stem_and_folder_of_same_name_are_different_groups():
    assert group_key("msa.pdf", False) != group_key("msa/other.pdf", False)


def test_amendment_stays_with_its_contract_inside_a_large_folder():
    documents = [document(f"c{i}", f"contracts/c{i}.pdf", DocKind.PDF, [1_000]) for i in range(12)]
    documents.append(document("am", "contracts/c7-amendment-1.pdf", DocKind.PDF, [1_000]))
    items = plan_work(documents, Budget(100_000, 16_384, 3_000, 8), whole_source=False)
    assert len({i.item_id for i in items if {"c7", "am"} & set(i.doc_ids)}) == 1


# --- budget ---------------------------------------------------------------------------------


def test_budget_for_request_takes_out_output_fixed_prompt_and_margin():
    budget = Budget.for_request(16_384, 2_000, 3_000, 8)
    margin = int(CONTEXT_TOKENS * SAFETY_MARGIN)
    assert budget.input_tokens == CONTEXT_TOKENS - 16_384 - 2_000 - margin
    assert budget.documents_fitting_output() == 5
    assert Budget.for_request(1_000, 0, 5_000, 8).documents_fitting_output() == 1


# --- packing: the tree of free room against the first-fit it replaced -----------------------


def reference_first_fit(parts: list[_Part], max_tokens: int, max_documents: int) -> list[list[str]]:
    """The packer as it was: first-fit decreasing, re-summing every open pack for every part."""
    packs: list[list[_Part]] = []
    for part in sorted(parts, key=lambda p: (-p.cost, p.key)):
        for pack in packs:
            tokens = sum(p.cost for p in pack) + part.cost
            documents = sum(len(p.documents) for p in pack) + len(part.documents)
            if tokens <= max_tokens and documents <= max_documents:
                pack.append(part)
                break
        else:
            packs.append([part])
    return [[p.key for p in pack] for pack in packs]


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(1, 5_000), st.integers(1, 4)), min_size=1, max_size=80),
    st.integers(1_000, 12_000),
    st.integers(1, 10),
)
def test_tree_packer_makes_the_same_packs_as_plain_first_fit(sizes, input_tokens, max_docs):
    parts = []
    for index, (cost, count) in enumerate(sizes):
        docs = tuple(
            PlanDocument(f"p{index}d{n}", f"p{index}/d{n}.txt", DocKind.TEXT, 1)
            for n in range(count)
        )
        parts.append(_Part(f"p{index}", docs, cost, None))
    budget = Budget(input_tokens, 16_384, 1, max_docs)
    items = _pack(parts, budget, whole_source=False, router=None)
    assert [item.group.split("+") for item in items] == reference_first_fit(
        parts, input_tokens, max_docs
    )
    landed = [d for item in items for d in item.doc_ids]
    assert sorted(landed) == sorted(d.doc_id for p in parts for d in p.documents)
    by_key = {p.key: p for p in parts}
    for item in items:
        keys = item.group.split("+")
        if len(keys) > 1:  # a part alone may be over a bound; a pack of several never is
            assert sum(by_key[k].cost for k in keys) <= input_tokens
            assert len(item.doc_ids) <= max_docs


# --- routing per document, then packing by route ---------------------------------------------

LEGAL = load_profile("legal")
ROUTER = ProfileRouter(LEGAL, ModelIds())
LEGAL_BUDGET = Budget.for_request(LEGAL.max_tokens, 1_500, LEGAL.output_tokens_per_document,
                                  LEGAL.max_documents_per_request)  # fmt: skip


def contract(doc_id: str, relpath: str, tokens: int) -> PlanDocument:
    return document(doc_id, relpath, DocKind.TEXT, [tokens])


def legal_corpus() -> list[PlanDocument]:
    return [
        contract("master", "harrow/master.txt", 60_000),
        contract("amend1", "harrow/amendment-1.txt", 5_000),
        contract("amend2", "harrow/amendment-2.txt", 4_000),
        contract("nda", "nda.txt", 3_000),
        contract("lease", "lease.txt", 70_000),
        contract("supply", "supply.txt", 80_000),
        contract("long", "long.txt", 250_000),
    ]


def item_of(items: list[WorkItem]) -> dict[str, WorkItem]:
    return {doc_id: item for item in items for doc_id in item.doc_ids}


def test_related_packing_routes_each_family_on_its_own_size():
    items = plan_work(legal_corpus(), LEGAL_BUDGET, False, router=ROUTER, packing="related")
    of = item_of(items)
    assert of["master"] is of["amend1"] is of["amend2"]  # the family travels together
    assert len(items) == 5  # the family, and each unrelated contract apart
    assert of["long"].doc_ids == ("long",) and of["long"].route.family == "pro"
    for doc_id in ("master", "nda", "lease", "supply"):
        assert of[doc_id].route.family == "flash", doc_id


def test_pack_small_never_moves_a_document_to_pro():
    items = plan_work(legal_corpus(), LEGAL_BUDGET, False, router=ROUTER, packing="pack_small")
    of = item_of(items)
    assert of["master"] is of["amend1"] is of["amend2"]
    assert of["long"].doc_ids == ("long",) and of["long"].route.family == "pro"
    # 69K + 70K + 80K + 3K would be over 200K, which is Pro's: the packs stay under it.
    threshold = LEGAL.routing.pro_above_input_tokens
    for item in items:
        if item is not of["long"]:
            assert item.route.family == "flash" and item.input_tokens <= threshold
    assert len({of[d].item_id for d in ("master", "nda", "lease", "supply")}) < 4  # some packed
