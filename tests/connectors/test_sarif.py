"""SARIF export of tracked findings: valid against the official SARIF 2.1.0 schema, with rules
from the profile, file:line locations, nightshift's fingerprints and baseline states."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from connectors.sarif import FINGERPRINT_KEY, export_sarif
from connectors.store import Store, utc_now
from flows.pipelines import review_pipeline
from nightshift.errors import ConfigError
from nightshift.options import ReviewOptions
from nightshift.profiles import load_profile
from nightshift.settings import Settings
from tasks.findings import suppress_finding

SCHEMA = Path(__file__).parents[1] / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
SAMPLE = Path(__file__).parents[2] / "sample_data" / "codebase"


def validate(log: dict) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(log), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_the_schema_rejects_what_it_should() -> None:
    # The validation below means something only if a broken log fails it.
    with pytest.raises(AssertionError):
        validate({"version": "2.1.0", "runs": [{"tool": {"driver": {}}, "results": []}]})


def review(source: Path, db: Path) -> str:
    options = ReviewOptions(source=str(source), profile="codebase", db=str(db),
                            backend="simulator")  # fmt: skip
    return review_pipeline(options, Settings()).run_id


def test_sample_codebase_exports_valid_sarif_at_its_lines(tmp_path: Path) -> None:
    db, out = tmp_path / "code.duckdb", tmp_path / "out" / "findings.sarif"
    run_id = review(SAMPLE, db)

    written = export_sarif(db, out)

    log = json.loads(out.read_text(encoding="utf-8"))
    validate(log)
    assert written["run_id"] == run_id and written["results"] > 0
    (run,) = log["runs"]
    profile = load_profile("codebase")
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == [field.name for field in profile.fields]
    sql = rules[0]
    assert sql["defaultConfiguration"]["level"] == "error"
    assert "external/cwe/cwe-89" in sql["properties"]["tags"]
    located = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
         r["locations"][0]["physicalLocation"]["region"]["startLine"])
        for r in run["results"]
    }  # fmt: skip
    # Planted issues the rule-based simulator finds, at their labelled lines.
    assert {("sql_injection", "db.py", 120), ("hardcoded_secret", "config.py", 17),
            ("command_injection", "utils.py", 111)} <= located  # fmt: skip
    assert {r["baselineState"] for r in run["results"]} == {"new"}
    assert all(len(r["partialFingerprints"][FINGERPRINT_KEY]) == 32 for r in run["results"])
    # The secret on config.py:17 is redacted in the snippet too.
    snippets = " ".join(
        r["locations"][0]["physicalLocation"]["region"].get("snippet", {}).get("text", "")
        for r in run["results"]
    )
    assert "inv-api-7f3c9a1e" not in snippets and "«redacted:Secret Keyword»" in snippets


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.invalid", *args],
                   cwd=repo, check=True, capture_output=True)  # fmt: skip


def test_baseline_states_and_suppressions_of_a_later_night(tmp_path: Path) -> None:
    repo, db = tmp_path / "repo", tmp_path / "code.duckdb"
    repo.mkdir()
    (repo / "jobs.py").write_text(
        "import os\nimport pickle\n\n\ndef run(cmd, blob):\n    os.system(cmd)\n"
        "    return pickle.loads(blob)\n",
        encoding="utf-8",
    )
    git(repo, "init", "-q")
    first = review(repo, db)
    with Store(db) as store:
        (pickled,) = store.query(
            "SELECT fingerprint FROM findings WHERE run_id = ? AND field = ?",
            [first, "insecure_deserialization"],
        )[0]
        suppress_finding(store, pickled, "blobs come from our own signed cache", utc_now())
    (repo / "jobs.py").write_text(
        "import os\nimport pickle\n\n\ndef run(cmd, blob):\n    os.system(cmd)\n"
        "    return pickle.loads(blob)\n\n\ndef admin_reset():\n    os.system('reset')\n",
        encoding="utf-8",
    )
    second = review(repo, db)

    out = tmp_path / "night2.sarif"
    export_sarif(db, out, run_id=second)
    log = json.loads(out.read_text(encoding="utf-8"))
    validate(log)
    states = sorted(
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"],
         r["baselineState"], r.get("suppressions", [{}])[0].get("justification"))
        for r in log["runs"][0]["results"]
    )  # fmt: skip
    assert states == [
        ("command_injection", 6, "unchanged", None),
        ("command_injection", 11, "new", None),
        ("insecure_deserialization", 7, "unchanged", "blobs come from our own signed cache"),
        ("missing_authorization", 10, "new", None),
    ]
    # The first night, asked for by id, is all new.
    export_sarif(db, out, run_id=first)
    first_log = json.loads(out.read_text(encoding="utf-8"))
    assert {r["baselineState"] for r in first_log["runs"][0]["results"]} == {"new"}


def test_a_fixed_finding_is_absent_unless_left_out(tmp_path: Path) -> None:
    repo, db = tmp_path / "repo", tmp_path / "code.duckdb"
    repo.mkdir()
    (repo / "tool.py").write_text("import os\n\n\ndef run(cmd):\n    os.system(cmd)\n",
                                  encoding="utf-8")  # fmt: skip
    review(repo, db)
    (repo / "tool.py").write_text(
        "import subprocess\n\n\ndef run(cmd):\n    subprocess.run(cmd, check=True)\n",
        encoding="utf-8",
    )
    review(repo, db)
    out = tmp_path / "fixed.sarif"
    export_sarif(db, out)
    results = json.loads(out.read_text(encoding="utf-8"))["runs"][0]["results"]
    assert [(r["ruleId"], r["baselineState"]) for r in results] == [("command_injection", "absent")]
    export_sarif(db, out, include_fixed=False)
    assert json.loads(out.read_text(encoding="utf-8"))["runs"][0]["results"] == []


def test_no_tracked_run_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no tracked findings"):
        export_sarif(tmp_path / "empty.duckdb", tmp_path / "x.sarif")


def test_export_only_reads_the_database_while_another_process_reads_it(tmp_path: Path) -> None:
    repo, db, out = tmp_path / "repo", tmp_path / "code.duckdb", tmp_path / "findings.sarif"
    repo.mkdir()
    (repo / "tool.py").write_text("import os\n\n\ndef run(cmd):\n    os.system(cmd)\n",
                                  encoding="utf-8")  # fmt: skip
    run_id = review(repo, db)
    before = db.read_bytes()
    # DuckDB lets several processes read a file at once, but none write while one reads: an
    # export that opened the file for writing would fail here.
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys, duckdb; c = duckdb.connect(sys.argv[1], "
         "read_only=True); print('open', flush=True); sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        written = export_sarif(db, out)
    finally:
        reader.communicate("")
    assert written["run_id"] == run_id and written["results"] == 1
    assert db.read_bytes() == before
