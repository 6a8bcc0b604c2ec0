"""Pricing a plan from counted tokens: sizes against the rendered prompt, cache hits, floor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nightshift.models import DocKind, ModelIds
from nightshift.offpeak import OFF_PEAK
from nightshift.pricing import cost_usd, default_price_book
from nightshift.profiles import load_profile
from nightshift.tokenizer import count_tokens
from tasks.plan import Slice
from tasks.price import REQUESTS_BEFORE_A_SHARED_PREFIX_HITS, price_plan
from tasks.prompt import DocumentView, PromptSizer, build_messages
from tasks.review_plan import plan_review
from tests.tasks.test_review_plan import inputs

LEGAL = load_profile("legal")
CODEBASE = load_profile("codebase")
AT = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)  # a Sunday: off-peak all day

PAGES = ["This Agreement is made by and between Acme Corp. and Beta LLC.\n"] * 3 + [
    "12. Governing law. The laws of the State of New York govern this Agreement.\n" * 40
]
CODE = "".join(f"def f{n}(x):\n    return x + {n}\n" for n in range(300))


def pdf_view() -> tuple[Slice, DocumentView]:
    text = "\f".join(PAGES)
    starts = tuple(sum(len(p) + 1 for p in PAGES[:i]) for i in range(len(PAGES)))
    piece = Slice("a" * 64, "contracts/msa.pdf", DocKind.PDF, count_tokens(text), units=4)
    view = DocumentView("a" * 64, "contracts/msa.pdf", DocKind.PDF, text, starts)
    return piece, view


def code_view() -> tuple[Slice, DocumentView]:
    lines = CODE.count("\n")
    piece = Slice("b" * 64, "src/app.py", DocKind.CODE, count_tokens(CODE), units=lines)
    return piece, DocumentView("b" * 64, "src/app.py", DocKind.CODE, CODE)


@pytest.mark.parametrize("views", [[pdf_view()], [code_view()], [pdf_view(), code_view()]])
def test_sizes_from_counted_tokens_match_the_rendered_request(views):
    sizer = PromptSizer(LEGAL)
    pieces = [piece for piece, _ in views]
    messages = build_messages(LEGAL, [view for _, view in views], LEGAL.fields)
    rendered = sum(count_tokens(m["content"]) for m in messages)
    sized = sizer.system_tokens() + sizer.user_tokens(pieces, LEGAL.fields)
    assert abs(sized - rendered) <= max(3, rendered // 100), (sized, rendered)


def test_system_prefix_hits_from_the_third_request_and_the_floor_is_below_the_plan():
    plan = plan_review(inputs({f"c{n}.txt": 200 for n in range(5)}), LEGAL, ModelIds())
    report = price_plan(plan, LEGAL, AT)
    system = PromptSizer(LEGAL).system_tokens()
    assert report.requests == 5
    misses_first = REQUESTS_BEFORE_A_SHARED_PREFIX_HITS
    assert report.predicted_cache_hit_tokens == system * (5 - misses_first)
    assert 0 < report.floor_off_peak_usd <= report.off_peak_usd
    # One contract a request costs the floor and one more system message at the miss price:
    # the cache stores a prefix common to two requests once it has seen the second.
    flash = ModelIds().flash
    second_miss = cost_usd(flash, 0, system, 0, AT, period_kind=OFF_PEAK) - cost_usd(
        flash, system, 0, 0, AT, period_kind=OFF_PEAK
    )
    assert report.off_peak_usd - report.floor_off_peak_usd == pytest.approx(second_miss)


def test_alternatives_price_the_same_tokens_on_every_model_of_the_period():
    plan = plan_review(inputs({"a.txt": 100, "b.txt": 100}), LEGAL, ModelIds())
    report = price_plan(plan, LEGAL, AT)
    listed = set(default_price_book().period_at(AT).listed)
    assert {row["model"] for row in report.alternatives} == listed
    shipped = next(r for r in report.alternatives if r["model"] == "deepseek-v4-flash")
    assert shipped["off_peak_usd"] == pytest.approx(report.off_peak_usd, rel=1e-3)
    offs = [row["off_peak_usd"] for row in report.alternatives]
    assert offs == sorted(offs)
