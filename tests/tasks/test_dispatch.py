"""Dispatch against the simulator over real sockets, on real DuckDB files: escalation, the
ledger's no-paying-twice rule, the budget and the off-peak window (with an injected clock)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.backends import Backend
from connectors.deepseek import ClientConfig, DeepSeekClient, RetryPolicy
from connectors.deepseek_protocol import ChatRequest
from connectors.local import LocalSource
from connectors.simulator import SimulatorConfig, SimulatorHandle, running_simulator
from connectors.store import Store
from nightshift.models import ModelIds, RunStatus
from nightshift.offpeak import current_window, next_window
from nightshift.profiles import Profile, load_profile
from tasks.costing import worst_period_cost_usd
from tasks.dispatch import Dispatcher, DispatchReport, DispatchRun, dispatch_run
from tasks.gate import Gate
from tasks.ingest import IngestOptions, ingest_source
from tasks.ledger import DispatchStats
from tasks.requests import REASONING_ROOM
from tasks.review_plan import plan_source

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
MODELS = ModelIds()


@dataclass
class Outcome:
    statuses: dict[str, str]  # of the items started (none is started once the gate closed)
    stats: DispatchStats
    gate: Gate
    planned: int = 0


def review(
    db: Path,
    source: Path,
    simulator: SimulatorHandle,
    *,
    profile: str | Profile = "legal",
    gate: Gate | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    run_id: str = "run-1",
    force: bool = False,
    max_in_flight: int = 8,
    scope: str = "simulator",
) -> Outcome:
    """Ingest, plan and dispatch as the flow does, without Prefect."""
    loaded = profile if isinstance(profile, Profile) else load_profile(profile)
    gate = gate or Gate()
    with Store(db) as store:
        local = LocalSource(source)
        ingest_source(local, store, IngestOptions(workers=1), run_id)
        plan = plan_source(store, local.uri, loaded, force, scope, MODELS)
        # The backend answering is named by ``scope``; requests go to the simulator.
        name, _, base_url = scope.partition(" ")
        backend = Backend(name, base_url or simulator.base_url, SecretStr("sk-test"),  # type: ignore[arg-type]
                          "deepseek", MODELS, scope)  # fmt: skip
        run = DispatchRun(plan, store, loaded, backend, run_id, gate, clock, max_in_flight)

        async def dispatch() -> Outcome:
            fast = ClientConfig(retry=RetryPolicy(backoff_base=0.001, backoff_cap=0.01))
            async with DeepSeekClient(simulator.base_url, "sk-test", config=fast) as client:
                dispatcher = Dispatcher(run, client)
                statuses = await dispatcher.run_items(plan.items)
                return Outcome(statuses, dispatcher.stats, gate, len(plan.items))

        return asyncio.run(dispatch())


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    target = tmp_path / "contracts"
    shutil.copytree(SAMPLE / "contracts", target)
    return target


def rows(db: Path, sql: str) -> list[tuple]:
    with Store(db) as store:
        return store.query(sql)


def test_invented_quotes_climb_the_ladder_to_pro(tmp_path: Path, contracts: Path):
    # The simulator's Flash invents governing-law quotes at any effort; Pro does not.
    config = SimulatorConfig(invent_quotes=("governing_law",))
    db = tmp_path / "db.duckdb"
    with running_simulator(config) as simulator:
        outcome = review(db, contracts, simulator)
    assert set(outcome.statuses.values()) == {"done"}
    assert outcome.stats.escalated == 2 * len(outcome.statuses)  # Flash at max, then Pro
    flash = rows(db, "SELECT reasoning_effort, grounded, count(*) FROM extractions "
                     "JOIN requests USING (request_key) WHERE field = 'governing_law' AND "
                     "extractions.model = 'deepseek-v4-flash' GROUP BY ALL ORDER BY 1")  # fmt: skip
    assert flash == [("high", False, 8), ("max", False, 8)]
    pro = rows(db, "SELECT grounded, count(*) FROM extractions WHERE field = 'governing_law' "
                   "AND model = 'deepseek-v4-pro' GROUP BY ALL")  # fmt: skip
    assert pro == [(True, 8)]
    climbs = rows(db, "SELECT fields, route_reason, escalated_from IS NOT NULL FROM requests "
                      "WHERE escalated_from IS NOT NULL OR model = 'deepseek-v4-pro'")  # fmt: skip
    assert len(climbs) == 2 * len(outcome.statuses)
    for fields, reason, has_origin in climbs:
        assert fields == ["governing_law"]  # only the failed field climbs
        assert reason.startswith((
            "ladder flash:high -> flash:max after deepseek-v4-flash: ungrounded quotes",
            "ladder flash:max -> pro:high after deepseek-v4-flash: ungrounded quotes",
        ))  # fmt: skip
        assert has_origin
    latest = rows(db, "SELECT DISTINCT model FROM latest_extractions WHERE field = 'governing_law'")
    assert latest == [("deepseek-v4-pro",)]


def test_a_rerun_sends_nothing_already_answered(tmp_path: Path, contracts: Path):
    db = tmp_path / "db.duckdb"
    with running_simulator() as simulator:
        first = review(db, contracts, simulator)
        sent = simulator.stats.requests
        second = review(db, contracts, simulator, run_id="run-2", force=True)
        assert simulator.stats.requests == sent  # every answer came from the ledger
    assert first.stats.sent == sent > 0
    assert (second.stats.sent, second.stats.reused) == (0, sent)
    twice = rows(db, "SELECT request_key FROM requests WHERE status = 'ok' GROUP BY 1 "
                     "HAVING count(*) > 1")  # fmt: skip
    assert twice == []


def test_answers_cut_at_max_tokens_are_continued_and_nothing_is_paid_twice(
    tmp_path: Path, contracts: Path
):
    plain = load_profile("legal").model_copy(update={"thinking": False})
    with running_simulator() as simulator:
        review(tmp_path / "whole.duckdb", contracts, simulator, profile=plain)
    whole_rows = rows(tmp_path / "whole.duckdb", "SELECT max(completion_tokens) FROM requests")
    longest = whole_rows[0][0]
    # Room for a bit over half of the longest answer: the long ones are cut once or twice.
    cut = plain.model_copy(update={"max_tokens": longest // 2 + 20})
    db = tmp_path / "cut.duckdb"
    with running_simulator() as simulator:
        outcome = review(db, contracts, simulator, profile=cut)
        sent = simulator.stats.requests
        again = review(db, contracts, simulator, profile=cut, run_id="run-2", force=True)
        assert simulator.stats.requests == sent  # the rerun reuses every piece of every answer
    assert set(outcome.statuses.values()) == {"done"} and outcome.stats.continued > 0
    assert outcome.stats.escalated == 0 and again.stats.sent == 0
    # The ledger: each continuation names the cut answer it continues, from where it stopped.
    chain = rows(db, "SELECT c.request_key, p.finish_reason, c.prompt_tokens > p.prompt_tokens "
                     "FROM requests c JOIN requests p ON p.request_key = c.continues "
                     "WHERE c.run_id = 'run-1' AND p.run_id = 'run-1'")  # fmt: skip
    assert len(chain) == outcome.stats.continued
    assert {(finish, longer) for _key, finish, longer in chain} == {("length", True)}
    paid_twice = rows(db, "SELECT request_key FROM requests WHERE status = 'ok' GROUP BY 1 "
                          "HAVING count(*) > 1")  # fmt: skip
    assert paid_twice == []
    # Every field lands as it does from uncut answers, none split off, none left unanswered.
    landed = "SELECT doc_id, field, quote, grounded FROM extractions WHERE run_id = 'run-1' "
    assert rows(db, landed + "ORDER BY ALL") == rows(
        tmp_path / "whole.duckdb", landed + "ORDER BY ALL"
    )
    states = "SELECT doc_id, field, state FROM latest_field_states ORDER BY ALL"
    assert rows(db, states) == rows(tmp_path / "whole.duckdb", states)


def test_reviewed_documents_are_skipped_unless_forced(tmp_path: Path, contracts: Path):
    db = tmp_path / "db.duckdb"
    with running_simulator() as simulator:
        review(db, contracts, simulator)
        again = review(db, contracts, simulator, run_id="run-2")
    assert again.statuses == {}


def test_budget_stops_dispatch_before_the_cap(tmp_path: Path, contracts: Path):
    db = tmp_path / "db.duckdb"
    at = datetime.now(UTC)
    max_tokens = 16_384 + REASONING_ROOM["high"]  # the answer's room and room to think
    first_item_worst = worst_period_cost_usd("deepseek-v4-flash", 20_000, max_tokens, at)
    # Room for one request's reservation (priced at peak, the worst period), not for a second
    # one on top of what the first really cost.
    cap = first_item_worst * 1.1
    gate = Gate(budget_usd=cap)
    with running_simulator() as simulator:
        # The items start at once: the others wait for the first reservations to settle, then
        # find that their own worst case no longer fits.
        outcome = review(db, contracts, simulator, gate=gate, max_in_flight=8)
    statuses = list(outcome.statuses.values())
    assert "done" in statuses and "pending" in statuses
    spent = rows(db, "SELECT sum(cost_usd) FROM requests")[0][0]
    assert 0 < spent <= cap
    reason = rows(db, "SELECT status_reason FROM work_items WHERE status = 'pending'")[0][0]
    assert reason.startswith("budget:")


class SteppingClock:
    """Each reading moves time on by ``step``: a run that takes time, without waiting."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        current = self.now
        self.now += self.step
        return current


def test_window_closing_mid_run_defers_and_the_next_night_finishes(tmp_path: Path, contracts: Path):
    db = tmp_path / "db.duckdb"
    # Tonight's window (a weekday night under the rule of August 2026), ending soon.
    night = next_window(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    clock = SteppingClock(night.end - timedelta(minutes=20), timedelta(minutes=6))
    with running_simulator() as simulator:
        tonight = review(db, contracts, simulator, gate=Gate(enforce_window=True), clock=clock,
                         max_in_flight=1)  # fmt: skip
        assert {"done", "pending"} <= set(tonight.statuses.values())
        assert tonight.gate.closed_reason.startswith("window:")
        sent_tonight = simulator.stats.requests
        tomorrow_start = next_window(night.end).start + timedelta(minutes=5)
        assert current_window(tomorrow_start) is not None
        tomorrow = review(db, contracts, simulator, gate=Gate(enforce_window=True),
                          clock=SteppingClock(tomorrow_start, timedelta(minutes=1)),
                          run_id="run-2", max_in_flight=1)  # fmt: skip
        assert set(tomorrow.statuses.values()) == {"done"}
        finished_tonight = [s for s in tonight.statuses.values() if s == "done"]
        assert len(finished_tonight) + len(tomorrow.statuses) == tonight.planned
        assert simulator.stats.requests == sent_tonight + tomorrow.stats.sent
    twice = rows(db, "SELECT request_key FROM requests WHERE status = 'ok' GROUP BY 1 "
                     "HAVING count(*) > 1")  # fmt: skip
    assert twice == []
    covered = rows(db, "SELECT count(DISTINCT doc_id) FROM document_reviews")[0][0]
    assert covered == 8


def test_answers_and_reviews_of_one_backend_are_not_another_s(tmp_path: Path, contracts: Path):
    db = tmp_path / "db.duckdb"
    with running_simulator() as simulator:
        first = review(db, contracts, simulator, scope="simulator")
        real = review(db, contracts, simulator, run_id="run-2", scope="deepseek https://api.x")
        again = review(db, contracts, simulator, run_id="run-3", scope="deepseek https://api.x")
    assert first.stats.sent == real.stats.sent > 0
    assert real.stats.reused == 0  # nothing the simulator answered passes for the API's answer
    assert again.statuses == {}  # reviewed by that backend now
    backends = rows(db, "SELECT DISTINCT backend FROM document_reviews ORDER BY 1")
    assert backends == [("deepseek https://api.x",), ("simulator",)]


def small_contracts(root: Path, count: int) -> Path:
    root.mkdir()
    for n in range(count):
        text = f"AGREEMENT {n}\n\nThis Agreement shall be governed by the laws of Delaware.\n"
        (root / f"c{n:03d}.txt").write_text(text, encoding="utf-8")
    return root


def dispatch_whole_plan(
    tmp_path: Path, simulator: SimulatorHandle, documents: int, limit: int, **run_fields: object
) -> DispatchReport:
    """Ingest ``documents`` one-request contracts, plan them one per item, dispatch the run."""
    loaded = load_profile("legal").model_copy(
        update={"max_documents_per_request": 1, "fields_per_pass": None}
    )
    with Store(tmp_path / "db.duckdb") as store:
        local = LocalSource(small_contracts(tmp_path / "corpus", documents))
        ingest_source(local, store, IngestOptions(workers=1), "run-1")
        plan = plan_source(store, local.uri, loaded, False, "simulator", MODELS)
        assert len(plan.items) == documents
        backend = Backend("deepseek", simulator.base_url, SecretStr("sk-test"), "deepseek",
                          MODELS, "simulator")  # fmt: skip
        run = DispatchRun(plan, store, loaded, backend, "run-1", Gate(),
                          lambda: datetime.now(UTC), limit, **run_fields)  # type: ignore[arg-type]  # fmt: skip
        report = dispatch_run(run)
        done = store.query("SELECT count(*) FROM current_work_items WHERE status = 'done'")
        assert done == [(documents,)]
        return report


def test_the_configured_limit_is_the_limit_across_item_boundaries(tmp_path: Path):
    # More items than one batch of the former dispatcher (50): the limit must be reached anyway,
    # and never passed. Each answer takes long enough for all 64 to be sent before the first
    # returns, even on a busy machine.
    with running_simulator(SimulatorConfig(seconds_per_request=5.0)) as simulator:
        report = dispatch_whole_plan(tmp_path, simulator, 90, 64)
        seen = simulator.stats.max_in_flight[MODELS.flash]
    assert report.status is RunStatus.COMPLETED
    assert report.stats.sent == 90
    assert seen == 64


def test_every_request_is_sent_inside_the_plugged_slot(tmp_path: Path):
    entered: list[str] = []
    inside = 0
    most_inside = 0

    @asynccontextmanager
    async def account_slot(request: ChatRequest) -> AsyncIterator[None]:
        nonlocal inside, most_inside
        entered.append(request.model)
        inside += 1
        most_inside = max(most_inside, inside)
        try:
            yield
        finally:
            inside -= 1

    with running_simulator(SimulatorConfig(seconds_per_request=0.05)) as simulator:
        report = dispatch_whole_plan(tmp_path, simulator, 12, 4, request_slot=account_slot)
    assert len(entered) == report.stats.sent == 12
    assert set(entered) == {MODELS.flash}
    assert most_inside == 4
