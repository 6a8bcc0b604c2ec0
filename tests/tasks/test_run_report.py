"""The report's matrix columns: the profile's fields in its order, or, for a run made with a
profile file that is not at hand, the fields its reviews decided."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from connectors.store import Store
from nightshift.profiles import load_profile
from tasks.run_report import profile_columns


def test_columns_follow_the_profile_or_else_the_decided_fields(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with Store(tmp_path / "r.duckdb") as store:
        for field in ("termination", "assignment", "termination"):
            store.query(
                "INSERT INTO field_states (run_id, doc_id, profile, profile_version, field, state,"
                " request_key, created_at) VALUES ('r1', 'd1', 'in-house', '1', ?, 'absent',"
                " 'k', ?)",
                [field, now],
            )
        assert profile_columns(store, "in-house") == ("assignment", "termination")
        legal = tuple(spec.name for spec in load_profile("legal").fields)
        assert profile_columns(store, "legal") == legal
