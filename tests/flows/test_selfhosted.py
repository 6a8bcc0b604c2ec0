"""The self-hosted backend end to end: the simulator answering as vLLM serving V4-Flash."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from connectors.simulator import SimulatorConfig, running_simulator
from tests.flows.conftest import run_flow

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
SERVED = "deepseek-ai/DeepSeek-V4-Flash"


def test_review_through_a_vllm_endpoint(
    prefect_harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    source = tmp_path / "contracts"
    shutil.copytree(SAMPLE / "contracts", source)
    db = tmp_path / "selfhosted.duckdb"
    with running_simulator(SimulatorConfig(flavour="vllm", models=(SERVED,))) as endpoint:
        monkeypatch.setenv("NIGHTSHIFT_SELFHOSTED_BASE_URL", endpoint.base_url + "/v1")
        monkeypatch.setenv("NIGHTSHIFT_SELFHOSTED_API_KEY", "sk-selfhosted-test")
        monkeypatch.setenv("NIGHTSHIFT_SELFHOSTED_MODEL", SERVED)
        result = run_flow(source=str(source), profile="legal", db=str(db),
                               backend="selfhosted")  # fmt: skip
        bodies = [entry.model for entry in endpoint.stats.log]
    assert result.status == "completed"
    assert result.backend.startswith(f"self-hosted {SERVED}")
    assert set(bodies) == {SERVED}
    with duckdb.connect(str(db), read_only=True) as con:
        requests = con.execute(
            "SELECT model, status, cache_hit_tokens, cost_usd FROM requests"
        ).fetchall()
        grounded = con.execute("SELECT bool_and(grounded), count(*) FROM extractions").fetchone()
    assert requests and all(r[:2] == (SERVED, "ok") for r in requests)
    assert all(r[2] == 0 and r[3] == 0.0 for r in requests)  # no cache fields; paid by the hour
    assert grounded[0] is True and grounded[1] > 50
