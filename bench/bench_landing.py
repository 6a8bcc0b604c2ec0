"""Landing answers, bookkeeping included, against one plain Arrow insert of the same rows.

Synthetic answers (one work item, one request, ``--extractions`` extractions each) are landed
into a fresh DuckDB file three ways, and the rows they wrote are counted:

- ``plain Arrow``: every row built up front, then one ``INSERT ... SELECT`` from Arrow per table
  in one transaction (the floor: no bookkeeping, nothing durable until the end);
- ``writer``: what dispatch does now, on an event loop: the run's bookkeeping read once up
  front (the ledger's answered keys, items done before), then per answer the ledger look-up
  (in memory), the attempt row (awaited: durable), extractions, field states, the work item
  and the review check (in memory) through ``Landing`` and the ``AnswerWriter`` (grouped
  commits on its thread), ``--concurrency`` answers at a time;
- ``direct``: the same calls with no writer: a DuckDB statement (and commit) per call on the
  calling thread, as dispatch landed answers before the writer.

``vs plain`` is each row's time over the plain insert's (target: the writer at most 3x).

    python bench/bench_landing.py [--answers 1000 5000] [--extractions 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from connectors.deepseek_protocol import AttemptRecord, ChatResult, Usage
from connectors.store import Store
from connectors.tables import FieldStateRow, ReviewRow, Row
from nightshift.models import ModelIds, WorkItemStatus
from nightshift.profiles import load_profile
from tasks.answer_writer import AnswerWriter
from tasks.costing import AttemptCost
from tasks.land import Landing, durable, request_row, work_item_row
from tasks.plan import WorkItem
from tasks.requests import PlannedRequest, plan_request
from tasks.review_plan import PlanInputs, plan_review
from tasks.validate import AnswerCheck, Extraction, FieldOutcome, FieldState

AT = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)
PROFILE = load_profile("legal").model_copy(update={"max_documents_per_request": 1})
COST = AttemptCost(0.001, True, True)


@dataclass(frozen=True)
class Answer:
    planned: PlannedRequest
    attempt: AttemptRecord
    result: ChatResult
    check: AnswerCheck


def answers(count: int, extractions: int) -> tuple[list[Answer], dict[str, set[str]]]:
    candidates, texts = [], {}
    for n in range(count):
        doc_id = f"{n:064x}"
        candidates.append({"doc_id": doc_id, "relpath": f"c{n:06d}.txt", "kind": "text",
                           "lines": 3})  # fmt: skip
        texts[doc_id] = {"text": f"Agreement {n}.", "tokens": 300, "page_starts": None,
                         "page_token_starts": None}  # fmt: skip
    plan = plan_review(PlanInputs(candidates, texts, frozenset()), PROFILE, ModelIds())
    made = []
    fields = PROFILE.fields
    for item in plan.items:
        assert item.route is not None
        planned = plan_request(item, plan.views[item.item_id], PROFILE, fields, item.route, 0)
        usage = Usage(400, 0, 400, 200)
        attempt = AttemptRecord(1, AT, AT, "ok", 200, None, usage)
        result = ChatResult('{"extractions": []}', None, "stop", usage, item.route.model)
        doc = item.doc_ids[0]
        found = tuple(
            Extraction(doc, fields[e % len(fields)].name, {"text": f"value {e}"},
                       f"quote number {e} of the clause", True, "exact", e * 40, e * 40 + 30,
                       None, None, 1, None, 1.0)
            for e in range(extractions)
        )  # fmt: skip
        outcomes = tuple(FieldOutcome(doc, f.name, FieldState.ANSWERED) for f in fields)
        made.append(Answer(planned, attempt, result, AnswerCheck(found, outcomes=outcomes)))
    return made, plan.covering


def fresh_landing(path: Path) -> tuple[Store, Landing]:
    store = Store(path)
    return store, Landing(store, "run-1", PROFILE, "simulator", lambda: AT)


def plain(path: Path, made: Sequence[Answer]) -> tuple[float, int]:
    store, landing = fresh_landing(path)
    start = time.perf_counter()
    rows: list[Sequence[Row]] = []
    for answer in made:
        planned = answer.planned
        rows.append([request_row(planned, answer.attempt, COST, answer.result, "run-1", "x")])
        rows.append([landing._extraction_row(planned, e, AT) for e in answer.check.extractions])
        rows.append([FieldStateRow("run-1", o.doc_id, PROFILE.name, PROFILE.version, o.field,
                                   str(o.state), planned.key, None, "x", AT)
                     for o in answer.check.outcomes])  # fmt: skip
        rows.append([work_item_row(planned.item, "run-1", PROFILE, WorkItemStatus.DONE, None,
                                   AT)])  # fmt: skip
        rows.append([ReviewRow(d, PROFILE.name, PROFILE.version, "run-1", AT, "x")
                     for d in planned.item.doc_ids])  # fmt: skip
    by_table: dict[str, list[Row]] = {}
    for group in rows:
        if group:
            by_table.setdefault(group[0].TABLE, []).extend(group)
    with store.transaction():
        for table_rows in by_table.values():
            store.append(table_rows)
    seconds = time.perf_counter() - start
    total = sum(len(r) for r in by_table.values())
    store.close()
    return seconds, total


async def land_one(landing: Landing, answer: Answer, covering: dict[str, set[str]]) -> None:
    planned = answer.planned
    assert await durable(landing.stored_answer(planned.key)) is None
    await durable(landing.attempts(planned, [(answer.attempt, COST)], answer.result))
    landing.extractions(planned, answer.check)
    landing.field_states(planned, answer.check)
    item: WorkItem = planned.item
    landing.work_items([item], WorkItemStatus.DONE, None)
    await durable(landing.reviews(item, covering))


def through(path: Path, made: Sequence[Answer], covering: dict[str, set[str]], concurrency: int,
            writer: bool) -> tuple[float, int]:  # fmt: skip
    store, landing = fresh_landing(path)
    # As dispatch does: the run's bookkeeping read once up front (timed with the landing).
    start = time.perf_counter()
    landing.remember_run(covering, {i for ids in covering.values() for i in ids})

    async def land_all() -> None:
        slots = asyncio.Semaphore(concurrency)

        async def one(answer: Answer) -> None:
            async with slots:
                await land_one(landing, answer, covering)

        await asyncio.gather(*(one(a) for a in made))

    if writer:
        with AnswerWriter(store) as answer_writer, landing.writing_through(answer_writer):
            asyncio.run(land_all())
    else:
        asyncio.run(land_all())
    seconds = time.perf_counter() - start
    tables = ("requests", "extractions", "field_states", "work_items", "document_reviews")
    total = sum(store.query(f"SELECT count(*) FROM {t}")[0][0] for t in tables)
    store.close()
    return seconds, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, nargs="+", default=[1_000])
    parser.add_argument("--extractions", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--direct-max", type=int, default=1_000,
                        help="no direct (row-at-a-time) landing above this")  # fmt: skip
    args = parser.parse_args()
    print("answers | way | rows | s | rows/s | vs plain")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.answers:
            made, covering = answers(size, args.extractions)
            floor, floor_rows = plain(Path(tmp) / f"plain-{size}.duckdb", made)
            print(f"{size:,} | plain Arrow | {floor_rows:,} | {floor:.2f} | "
                  f"{floor_rows / floor:,.0f} | 1.00")  # fmt: skip
            ways = [("writer", True)] + ([("direct", False)] if size <= args.direct_max else [])
            for name, writer in ways:
                path = Path(tmp) / f"{name}-{size}.duckdb"
                seconds, rows = through(path, made, covering, args.concurrency, writer)
                print(f"{size:,} | {name} | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} | "
                      f"{seconds / floor:.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
