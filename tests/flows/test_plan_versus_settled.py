"""The plan's cost against what the run settled, on the simulator: the summary shows both, and
once the ledger has answers of a profile, the plan prices answers at the size they came."""

from __future__ import annotations

import shutil
from pathlib import Path

from flows.pipelines import ReviewResult, review_pipeline
from nightshift.options import ReviewOptions
from nightshift.settings import Settings

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def review(source: Path, profile: str, db: Path) -> ReviewResult:
    options = ReviewOptions(source=str(source), profile=profile, db=str(db), backend="simulator")
    return review_pipeline(options, Settings())


def planned_and_settled(result: ReviewResult) -> tuple[float, float]:
    assert result.summary is not None
    totals = result.summary.totals
    return totals["planned_usd"], totals["cost_usd"]


def test_the_summary_prints_planned_against_settled(tmp_path: Path) -> None:
    result = review(SAMPLE / "contracts", "legal", tmp_path / "db.duckdb")
    planned, settled = planned_and_settled(result)
    assert planned > 0 and settled > 0
    assert result.summary is not None
    line = result.summary.planned_line()
    assert line is not None and f"Planned ${planned:.4f}, settled ${settled:.4f}" in line
    assert "cache-hit share planned" in line
    assert line in result.summary.markdown()


def test_a_second_night_is_planned_within_ten_percent_of_what_it_settles(tmp_path: Path) -> None:
    # Night 1 prices answers at the profile's own estimate; its answers teach the ledger their
    # size. Night 2 reviews a copy with every file changed (so every file is asked about again
    # and every request is new).
    db = tmp_path / "db.duckdb"
    first = review(SAMPLE / "codebase", "codebase", db)
    changed = tmp_path / "codebase"
    shutil.copytree(SAMPLE / "codebase", changed)
    for path in (p for p in changed.rglob("*") if p.is_file()):
        path.write_text(path.read_text() + "\n")
    second = review(changed, "codebase", db)
    planned, settled = planned_and_settled(second)
    assert second.summary is not None and second.summary.totals["requests"] > 0
    assert abs(planned / settled - 1) <= 0.10, (planned, settled)
    # The profile's own estimate was further off (the reason to learn it from the ledger).
    first_planned, first_settled = planned_and_settled(first)
    assert abs(first_planned / first_settled - 1) > abs(planned / settled - 1)
