"""Three nights of a codebase review on a real git history: findings are new, persisting (at
their new line) and fixed from one night to the next, and a team's suppression holds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb

from connectors.store import Store, utc_now
from flows.pipelines import review_pipeline
from nightshift.options import ReviewOptions
from nightshift.settings import Settings
from tasks.findings import suppress_finding

BASE = '''"""Invoice rendering."""
import subprocess

import yaml


def load_settings(text):
    return yaml.safe_load(text) or {}


def render(path):
    subprocess.run(["wkhtmltopdf", "--quiet", path], check=True)
    return path.with_suffix(".pdf")
'''
# Night 2: two issues the rule-based simulator finds (unsafe_yaml, command_injection).
UNSAFE_YAML = "    return yaml.load(text, Loader=yaml.Loader) or {}"
SHELL = '    subprocess.run(f"wkhtmltopdf --quiet {path}", shell=True, check=True)'
TWO_ISSUES = BASE.replace("    return yaml.safe_load(text) or {}", UNSAFE_YAML).replace(
    '    subprocess.run(["wkhtmltopdf", "--quiet", path], check=True)', SHELL
)
# Night 3: the YAML issue fixed, and lines inserted above the shell command.
INSERTED = '''

def page_size(settings):
    """The paper size of an invoice, A4 unless the settings say otherwise."""
    return settings.get("page_size", "A4")
'''
FIXED_ONE = TWO_ISSUES.replace(UNSAFE_YAML, "    return yaml.safe_load(text) or {}").replace(
    "\n\ndef render(path):", INSERTED + "\n\ndef render(path):"
)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def make_history(repo: Path) -> list[str]:
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commits = []
    for message, text in (("base", BASE), ("two issues", TWO_ISSUES), ("fix one", FIXED_ONE)):
        (repo / "invoices.py").write_text(text, encoding="utf-8")
        git(repo, "add", "invoices.py")
        git(repo, "commit", "-q", "-m", message)
        commits.append(git(repo, "rev-parse", "HEAD"))
    return commits


def line_of(text: str, code: str) -> int:
    return text.split("\n").index(code) + 1


def findings_of(db: Path, run_id: str) -> list[tuple[str, str, int, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT state, field, line, fingerprint FROM findings WHERE run_id = ? ORDER BY field",
            [run_id],
        ).fetchall()


def test_three_nights_new_then_fixed_and_persisting_at_its_new_line(tmp_path: Path) -> None:
    repo, db = tmp_path / "repo", tmp_path / "nightly.duckdb"
    commits = make_history(repo)
    options = ReviewOptions(source=str(repo), profile="codebase", db=str(db), backend="simulator")
    nights = []
    for commit in commits:
        git(repo, "checkout", "-q", commit)
        result = review_pipeline(options, Settings())
        assert result.status == "completed"
        nights.append(result.run_id)

    assert findings_of(db, nights[0]) == []
    night2 = findings_of(db, nights[1])
    assert [(state, field, line) for state, field, line, _ in night2] == [
        ("new", "command_injection", line_of(TWO_ISSUES, SHELL)),
        ("new", "unsafe_yaml", line_of(TWO_ISSUES, UNSAFE_YAML)),
    ]
    night3 = findings_of(db, nights[2])
    assert line_of(FIXED_ONE, SHELL) == line_of(TWO_ISSUES, SHELL) + 5
    assert [(state, field, line) for state, field, line, _ in night3] == [
        ("persisting", "command_injection", line_of(FIXED_ONE, SHELL)),
        ("fixed", "unsafe_yaml", line_of(TWO_ISSUES, UNSAFE_YAML)),
    ]
    # The same fingerprints both nights, though the persisting finding's line moved.
    assert {fp for *_, fp in night2} == {fp for *_, fp in night3}
    with duckdb.connect(str(db), read_only=True) as con:
        changes = con.execute(
            "SELECT run_id, state, field FROM finding_changes ORDER BY run_at, field"
        ).fetchall()
        runs = con.execute(
            "SELECT run_id, previous_run_id FROM finding_runs ORDER BY created_at"
        ).fetchall()
    assert changes == [
        (nights[1], "new", "command_injection"),
        (nights[1], "new", "unsafe_yaml"),
        (nights[2], "fixed", "unsafe_yaml"),
    ]
    assert runs == [(nights[0], None), (nights[1], nights[0]), (nights[2], nights[1])]


def test_a_suppressed_finding_is_reported_as_suppressed_not_new(tmp_path: Path) -> None:
    repo, db = tmp_path / "repo", tmp_path / "nightly.duckdb"
    commits = make_history(repo)
    options = ReviewOptions(source=str(repo), profile="codebase", db=str(db), backend="simulator")
    git(repo, "checkout", "-q", commits[1])
    first = review_pipeline(options, Settings())
    shell = next(fp for _, field, _, fp in findings_of(db, first.run_id)
                 if field == "command_injection")  # fmt: skip
    with Store(db) as store:
        suppress_finding(store, shell, "the path is built by the service, never by a user",
                         utc_now())  # fmt: skip
    # Night 3's code moves the suppressed line; a new night on it keeps it suppressed.
    git(repo, "checkout", "-q", commits[2])
    second = review_pipeline(options, Settings())
    assert [(state, field) for state, field, _, _ in findings_of(db, second.run_id)] == [
        ("suppressed", "command_injection"),
        ("fixed", "unsafe_yaml"),
    ]
