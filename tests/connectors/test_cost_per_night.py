"""The cost-per-night views on a real DuckDB file: Beijing nights, savings, last night."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from connectors.store import Store
from connectors.tables import RunRow


def add_run(
    store: Store, run_id: str, started: datetime, backend: str, cost: float, totals: dict | None
) -> None:
    encoded = json.dumps(totals) if totals else None
    run = RunRow(run_id, None, "review", "legal", "1", "src", backend, started,
                 status="completed", totals=encoded)  # fmt: skip
    store.append([run])
    store.query(
        "INSERT INTO requests (request_key, attempt, run_id, work_item_id, pass_index, doc_ids, "
        "model, status, prompt_tokens, cache_hit_tokens, completion_tokens, cost_usd) "
        "VALUES (?, 1, ?, 'w', 0, ['d1', 'd2'], 'deepseek-v4-flash', 'ok', 1000, 250, 100, ?)",
        [f"key-{run_id}", run_id, cost],
    )


def test_runs_fall_into_beijing_nights_and_the_last_night_is_the_latest(tmp_path: Path) -> None:
    cheap = {"peak_cost_usd": 0.02, "all_pro_cost_usd": 0.05}
    dearer = {"peak_cost_usd": 0.06, "all_pro_cost_usd": 0.09, "skipped_documents": 4}
    with Store(tmp_path / "n.duckdb") as store:
        # 15:30 UTC is 23:30 Beijing on the 28th and 17:30 UTC is 01:30 Beijing on the 29th:
        # one night (the 28th's), across Beijing's midnight.
        add_run(store, "a", datetime(2026, 11, 28, 15, 30, tzinfo=UTC), "simulator", 0.01, cheap)
        add_run(store, "b", datetime(2026, 11, 28, 17, 30, tzinfo=UTC), "simulator", 0.03, dearer)
        # Same night, a real backend: its own row.
        add_run(store, "c", datetime(2026, 11, 28, 18, 0, tzinfo=UTC), "deepseek", 0.5, None)
        # The next night (Beijing 23:00 on the 29th).
        add_run(store, "d", datetime(2026, 11, 29, 15, 0, tzinfo=UTC), "deepseek", 0.2,
                {"peak_cost_usd": 0.4, "all_pro_cost_usd": 0.6})  # fmt: skip
        nights = store.query_dicts(
            "SELECT CAST(beijing_night AS VARCHAR) AS night, backend, simulated, runs, requests,"
            " skipped_documents, cache_hit_share, cost_usd, savings_vs_peak_usd,"
            " savings_vs_all_pro_usd FROM cost_per_night ORDER BY night, backend"
        )
        last = store.query("SELECT CAST(beijing_night AS VARCHAR), backend FROM last_night")
    assert [(n["night"], n["backend"], n["simulated"], n["runs"]) for n in nights] == [
        ("2026-11-28", "deepseek", False, 1),
        ("2026-11-28", "simulator", True, 2),
        ("2026-11-29", "deepseek", False, 1),
    ]
    simulated = nights[1]
    assert simulated["requests"] == 2 and simulated["skipped_documents"] == 4
    assert simulated["cache_hit_share"] == 0.25
    assert round(simulated["cost_usd"], 6) == 0.04
    assert round(simulated["savings_vs_peak_usd"], 6) == 0.04  # (0.02-0.01) + (0.06-0.03)
    assert round(simulated["savings_vs_all_pro_usd"], 6) == 0.1  # (0.05-0.01) + (0.09-0.03)
    # A run without a priced comparison (failed, interrupted) still costs; it claims no savings.
    assert nights[0]["cost_usd"] == 0.5 and nights[0]["savings_vs_peak_usd"] is None
    assert last == [("2026-11-29", "deepseek")]
