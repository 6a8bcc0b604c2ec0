"""Plan cost against its floor for a corpus, per packing layout.

Ingests DIR into a scratch DuckDB (or ``--db``, reused across runs), plans it with the profile
as shipped, with each packing layout, and as nightshift planned before routing went per
document (pack unrelated documents first, then route the pack), and prints, per layout: the
requests, the off-peak cost, the floor (every input token once at Flash's off-peak miss price,
the system message once at miss then at hit, the expected output at Flash's price) and their
ratio, and the documents that went to Pro while their own family is under the Pro threshold.

    python bench/bench_floor.py DIR [--profile legal] [--db corpus.duckdb]

Acceptance: the profile as shipped is at most 1.15x the floor and sends no document under
the Pro threshold to Pro.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from connectors.sources import open_source
from connectors.store import Store
from flows.pipelines import ingest_pipeline
from nightshift.profiles import Profile, load_profile
from nightshift.settings import Settings
from tasks.plan import plan_work
from tasks.price import PlanReport, price_plan
from tasks.review_plan import ReviewPlan, load_plan_inputs, plan_review
from tasks.route import route_item

MAX_FLOOR_RATIO = 1.15


def legacy_plan(plan: ReviewPlan, documents: list, profile: Profile) -> ReviewPlan:
    """The plan as it was: unrelated groups packed first, then each pack routed as a whole."""
    assert plan.budget is not None
    items = plan_work(documents, plan.budget, whole_source=profile.task == "findings")
    items = [replace(item, route=route_item(item, profile, plan.models)) for item in items]
    return replace(plan, items=items)


def pro_under_threshold(plan: ReviewPlan, profile: Profile) -> int:
    """Documents sent to Pro in a pack of several groups while under the Pro threshold alone
    (a pack's name joins its groups' names with "+"; one group over the threshold is Pro's)."""
    threshold = profile.routing.pro_above_input_tokens
    return sum(
        1
        for item in plan.items
        if item.route is not None and item.route.family == "pro" and "+" in item.group
        for piece in item.slices
        if piece.tokens <= threshold
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("--profile", default="legal")
    parser.add_argument("--db", help="DuckDB file to ingest into and reuse")
    parser.add_argument("--at", help="ISO instant whose prices apply (default: now)")
    args = parser.parse_args()
    at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    profile = load_profile(args.profile)
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(args.db) if args.db else Path(scratch) / "corpus.duckdb"
        settings = Settings(db_path=db)
        ingest_pipeline(args.source, settings)
        uri = open_source(args.source).uri
        with Store(db) as store:
            inputs = load_plan_inputs(store, uri, profile, force=True)
    layouts: list[tuple[str, ReviewPlan, Profile]] = []
    for packing in ("related", "pack_small"):
        variant = profile.model_copy(update={"packing": packing})
        label = f"{packing}{' (shipped)' if packing == profile.packing else ''}"
        layouts.append((label, plan_review(inputs, variant, settings.models), variant))
    shipped = next(plan for label, plan, _ in layouts if "shipped" in label)
    from tasks.review_plan import _plan_document  # the planner's view of each document

    documents = [_plan_document(row, inputs.texts[row["doc_id"]], shipped.budget)
                 for row in inputs.candidates if row["doc_id"] in inputs.texts]  # fmt: skip
    layouts.append(("before: pack, then route", legacy_plan(shipped, documents, profile), profile))
    print(f"{args.source}: {shipped.documents} documents, profile {profile.name}, prices at "
          f"{at:%Y-%m-%d %H:%M} UTC (off-peak)")  # fmt: skip
    header = ("layout", "requests", "Flash/Pro", "max docs/req", "prompt tok", "output tok",
              "plan $", "floor $", "ratio", "Pro docs under threshold")  # fmt: skip
    print(" | ".join(header))
    failures = []
    for label, plan, variant in layouts:
        report: PlanReport = price_plan(plan, variant, at)
        families = {"flash": 0, "pro": 0}
        for item in plan.items:
            assert item.route is not None
            families[item.route.family] += 1
        wrong = pro_under_threshold(plan, variant)
        most = max((len(item.doc_ids) for item in plan.items), default=0)
        print(" | ".join((
            label, str(report.requests), f"{families['flash']}/{families['pro']}", str(most),
            f"{report.prompt_tokens:,}", f"{report.expected_output_tokens:,}",
            f"{report.off_peak_usd:.4f}", f"{report.floor_off_peak_usd:.4f}",
            f"{report.floor_ratio:.2f}x", str(wrong),
        )))  # fmt: skip
        if "shipped" in label:
            if report.floor_ratio > MAX_FLOOR_RATIO:
                failures.append(f"{report.floor_ratio:.2f}x the floor > {MAX_FLOOR_RATIO}x")
            if wrong:
                failures.append(f"{wrong} documents under the Pro threshold went to Pro")
            print("alternatives (the shipped plan's tokens on each model, off-peak / peak $):")
            for row in report.alternatives:
                print(f"  {row['model']} ({row['family']}): {row['off_peak_usd']:.4f} / "
                      f"{row['peak_usd']:.4f}")  # fmt: skip
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
