"""checkov over infra/, from its own virtualenv (.venv-checkov): its pinned dependencies clash
with the project's, so it is installed apart (see infra/check.sh)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.infra.tfhelpers import MODULE_DIR, REPO_ROOT

CHECKOV = Path(
    os.environ.get("NIGHTSHIFT_CHECKOV", REPO_ROOT / ".venv-checkov" / "bin" / "checkov")
)


@pytest.mark.skipif(
    not CHECKOV.exists(),
    reason=f"checkov not installed at {CHECKOV}; infra/check.sh installs it into .venv-checkov",
)
def test_checkov_passes() -> None:
    completed = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(MODULE_DIR),
            "--framework",
            "terraform",
            "--skip-download",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(completed.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    assert not failed, [f"{c['check_id']} {c['resource']} {c['file_path']}" for c in failed]
    summary = reports[0]["summary"]
    assert summary["passed"] > 50
    assert completed.returncode == 0, completed.stderr[-2000:]
