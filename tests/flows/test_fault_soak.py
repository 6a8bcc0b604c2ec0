"""A fault-injection soak: 500 documents against the simulator on loopback, 30% of its answers
faulty in every way it offers (errors, disconnects, hung keep-alives, truncation, malformed 200s,
a 402 that stops the run), with a budget. Whatever happens, every document ends reviewed, failed
with a reason, or pending; no run settles above its cap; no key is paid twice; and every billed
attempt is in the ledger."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest
import yaml

from connectors.simulator import SimulatorConfig, running_simulator
from flows.pipelines import review_pipeline
from nightshift.options import ReviewOptions
from nightshift.profiles import BUILTIN_DIR
from nightshift.settings import Settings

DOCUMENTS = 500
# Every fault the simulator offers but "ok"; 30% of answers in all.
FAULT_RATES = {
    "429": 0.03, "500": 0.03, "503": 0.03, "400": 0.01, "422": 0.01,
    "insufficient_system_resource": 0.02, "disconnect": 0.02, "disconnect_mid": 0.02,
    "keepalive": 0.01, "blank_json": 0.02, "length": 0.02, "slow": 0.01,
    "keepalive_forever": 0.005, "malformed_content": 0.015, "malformed_choices": 0.015,
    "null_message": 0.01, "malformed_usage": 0.01, "not_json": 0.01,
}  # fmt: skip
# Faults whose 200 answer carries readable usage: the API bills them, so the ledger must too.
BILLED = {"ok", "keepalive", "slow", "blank_json", "length", "insufficient_system_resource",
          "malformed_content", "malformed_choices", "null_message"}  # fmt: skip


def write_corpus(root: Path) -> None:
    root.mkdir()
    for number in range(DOCUMENTS):
        (root / f"contract-{number:03d}.txt").write_text(
            f"SERVICES AGREEMENT No. {number}\n\nThis Agreement is made between Alpha {number} "
            f"LLC and Beta {number} Corp.\n\nThis Agreement shall be governed by the laws of the "
            f"State of Delaware.\n\nEither party may terminate this Agreement upon {number % 90} "
            "days' notice.\n",
            encoding="utf-8",
        )


def small_profile(path: Path) -> Path:
    """The legal profile with three fields and one document per request (500 requests)."""
    profile = yaml.safe_load(BUILTIN_DIR.joinpath("legal.yaml").read_text(encoding="utf-8"))
    profile["fields"] = [f for f in profile["fields"] if f["name"] in
                         ("parties", "governing_law", "termination_for_convenience")]  # fmt: skip
    # Thinking off: a reservation is then the answer's room alone, and the small budget lets
    # the first run reach the 402.
    profile.update(version="soak", max_documents_per_request=1, output_tokens_per_document=300,
                   max_tokens=2048, thinking=False)  # fmt: skip
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    return path


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_faults_lose_nothing_and_pay_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    profile = small_profile(tmp_path / "soak.yaml")
    db = tmp_path / "soak.duckdb"
    # Every answer well inside the attempt deadline: an answer the client gave up on is billed
    # but unreadable, which only the hung "keepalive_forever" fault is meant to test. The first
    # run meets a 402 (no balance) after 20 answers, which stops it.
    config = SimulatorConfig(fault_sequence=["ok"] * 20 + ["402"], fault_rates=FAULT_RATES,
                             seed=7, slow_seconds=0.3)  # fmt: skip
    budgets = {}
    with running_simulator(config) as simulator:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-soak-test")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", simulator.base_url)
        settings = Settings(request_deadline_seconds=10.0, deadline_seconds_per_output_token=0.0,
                            retry_backoff_seconds=0.01, max_in_flight=16)  # fmt: skip
        options = ReviewOptions(source=str(corpus), profile=str(profile), db=str(db),
                                budget_usd=0.02)  # fmt: skip
        # Run 1 is stopped by the 402 (or its budget); run 2 has a wider cap; run 3 finishes.
        first = review_pipeline(options, settings)
        budgets[first.run_id] = 0.02
        assert first.status == "failed"
        for cap in (0.5, 5.0):
            result = review_pipeline(options.model_copy(update={"budget_usd": cap}), settings)
            budgets[result.run_id] = cap
        log = list(simulator.stats.log)

    # Every document ends reviewed, failed with a reason, or pending.
    documents = {row[0] for row in query(db, "SELECT doc_id FROM current_documents")}
    assert len(documents) == DOCUMENTS
    reviewed = {row[0] for row in query(db, "SELECT doc_id FROM document_reviews")}
    open_items = query(db, """
        SELECT unnest(doc_ids), status, status_reason FROM current_work_items
        WHERE status <> 'done'""")  # fmt: skip
    accounted = reviewed | {doc for doc, _status, _reason in open_items}
    assert accounted == documents
    assert all(reason for _doc, _status, reason in open_items)
    assert len(reviewed) >= DOCUMENTS * 0.9  # the faults are retried, not given up on

    # No run settled above its cap.
    for run_id, spent in query(db, "SELECT run_id, sum(cost_usd) FROM requests GROUP BY 1"):
        assert spent <= budgets[run_id] + 1e-9, (run_id, spent)

    # No key paid twice: one successful answer per key, across every run.
    twice = query(db, "SELECT request_key FROM requests WHERE status = 'ok' "
                      "GROUP BY 1 HAVING count(*) > 1")  # fmt: skip
    assert twice == []

    # Every billed attempt is in the ledger.
    billed_by_simulator = sum(1 for entry in log if entry.fault in BILLED and entry.status == 200)
    billed_in_ledger = query(db, "SELECT count(*) FROM requests WHERE prompt_tokens IS NOT NULL")
    assert billed_in_ledger == [(billed_by_simulator,)]
    seen = Counter(entry.fault for entry in log)
    assert {"402", "malformed_content", "not_json", "keepalive_forever"} <= set(seen)
