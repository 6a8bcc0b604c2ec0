"""SARIF 2.1.0 for the findings of a tracked codebase run, for GitHub code scanning and others.

One ``run`` per file: the tool is nightshift with one rule per field of the profile (its name,
description, CWE and severity), and one result per finding of the run with its file and line,
``partialFingerprints`` from nightshift's own fingerprint (so code scanning follows a finding
across line shifts as nightshift does) and ``baselineState`` from the night-to-night state:
``new`` is new, ``persisting`` is unchanged, ``fixed`` is absent. A suppressed finding carries an
external suppression with the team's reason, which code scanning shows as dismissed.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from connectors.store import Store
from nightshift.errors import ConfigError, StorageError
from nightshift.profiles import Profile, load_profile

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
FINGERPRINT_KEY = "nightshiftFingerprint/v1"
# SARIF levels: severity is carried both as a level and as GitHub's security-severity score.
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "7.5", "medium": "5.0", "low": "2.0"}
BASELINE_STATES = {"new": "new", "persisting": "unchanged", "suppressed": "unchanged",
                   "fixed": "absent"}  # fmt: skip


def tracked_run(store: Store, run_id: str | None) -> dict[str, Any]:
    """The tracked run ``run_id`` (source, profile), or the latest one."""
    sql = "SELECT run_id, source, profile FROM finding_runs "
    if not store.query("SELECT 1 FROM duckdb_tables() WHERE table_name = 'finding_runs'"):
        rows: list[dict[str, Any]] = []  # a database from before findings were tracked
    elif run_id is None:
        rows = store.query_dicts(sql + "ORDER BY created_at DESC LIMIT 1")
    else:
        rows = store.query_dicts(sql + "WHERE run_id = ?", [run_id])
    if not rows:
        what = f"run {run_id}" if run_id else "any run"
        raise ConfigError(f"no tracked findings for {what}: review a codebase first")
    return rows[0]


def sarif_log(
    store: Store, profile: Profile, run_id: str, version: str, include_fixed: bool = True
) -> dict[str, Any]:
    """The SARIF log of tracked run ``run_id``'s findings; ``version`` is nightshift's. Fixed
    findings are results with ``baselineState: absent`` unless ``include_fixed`` is false
    (code scanning closes an alert whose result is no longer uploaded)."""
    rules = [_rule(field) for field in profile.fields]
    index = {field.name: i for i, field in enumerate(profile.fields)}
    rows = store.query_dicts(
        "SELECT f.*, s.reason AS suppression FROM findings f LEFT JOIN (SELECT fingerprint, "
        "arg_max(reason, created_at) AS reason FROM finding_suppressions GROUP BY ALL) s "
        "USING (fingerprint) WHERE f.run_id = ? ORDER BY f.relpath, f.line, f.field",
        [run_id],
    )
    results = [
        _result(row, index, profile)
        for row in rows
        if row["field"] in index and (include_fixed or row["state"] != "fixed")
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "nightshift", "version": version, "semanticVersion": version,
                "rules": rules,
                "properties": {"profile": profile.name, "profileVersion": profile.version},
            }},
            "automationDetails": {"id": f"nightshift/{profile.name}/{run_id}"},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }  # fmt: skip


def write_sarif(log: dict[str, Any], out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(log, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"cannot write {out}: {exc.strerror}") from exc


def _rule(field: Any) -> dict[str, Any]:
    severity = field.severity or "medium"
    tags = ["security"] + ([f"external/cwe/{field.cwe.lower()}"] if field.cwe else [])
    rule: dict[str, Any] = {
        "id": field.name,
        "name": "".join(part.capitalize() for part in field.name.split("_")),
        "shortDescription": {"text": field.description},
        "fullDescription": {"text": field.description},
        "defaultConfiguration": {"level": LEVELS[severity]},
        "properties": {"tags": tags, "security-severity": SECURITY_SEVERITY[severity],
                       "precision": "medium"},
    }  # fmt: skip
    if field.cwe:
        rule["helpUri"] = f"https://cwe.mitre.org/data/definitions/{field.cwe.split('-')[-1]}.html"
    return rule


def _result(row: dict[str, Any], index: dict[str, int], profile: Profile) -> dict[str, Any]:
    value = _value(row["value"])
    field = profile.fields[index[row["field"]]]
    severity = value.get("severity") if value.get("severity") in LEVELS else field.severity
    explanation = value.get("explanation") if isinstance(value.get("explanation"), str) else None
    region: dict[str, Any] = {"startLine": max(1, row["line"] or 1)}
    if row["quote"]:
        region["snippet"] = {"text": row["quote"]}
    result: dict[str, Any] = {
        "ruleId": row["field"],
        "ruleIndex": index[row["field"]],
        "level": LEVELS[severity or "medium"],
        "message": {"text": explanation or field.description},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": row["relpath"], "uriBaseId": "%SRCROOT%"},
            "region": region,
        }}],
        "partialFingerprints": {FINGERPRINT_KEY: row["fingerprint"]},
        "baselineState": BASELINE_STATES[row["state"]],
        "properties": {"state": row["state"], "firstSeenRun": row["first_seen_run"]},
    }  # fmt: skip
    if row["state"] == "suppressed":
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": row["suppression"] or ""}]  # fmt: skip
    return result


def _value(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def export_sarif(
    db: Path | str,
    out: Path,
    run_id: str | None = None,
    profile: Profile | None = None,
    include_fixed: bool = True,
) -> dict[str, Any]:
    """Write the SARIF of tracked run ``run_id`` (default: the latest) to ``out``; ``profile``
    defaults to the built-in profile the run was made with. Returns the run's source, profile,
    id and how many results were written. The database is only read (other readers may hold
    it at the same time)."""
    if not Path(db).exists():
        raise ConfigError(f"no tracked findings: no database at {db}")
    with Store(db, read_only=True) as store:
        run = tracked_run(store, run_id)
        profile = profile or load_profile(run["profile"])
        log = sarif_log(store, profile, run["run_id"], _version(), include_fixed)
    write_sarif(log, out)
    return {**run, "results": len(log["runs"][0]["results"])}


def _version() -> str:
    try:
        return metadata.version("nightshift")
    except metadata.PackageNotFoundError:
        return "0.0.0"
