"""Three nights of a codebase review on a real git history: findings are new, persisting (at
their new line) and fixed from one night to the next, later nights show the unchanged code as
context with the changes marked, and a team's suppression holds."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from connectors.simulator import SimulatorHandle
from connectors.store import Store, utc_now
from flows.pipelines import review_pipeline
from nightshift.options import ReviewOptions
from nightshift.settings import Settings
from tasks.findings import suppress_finding

BASE = '''"""Invoice rendering."""
import subprocess

import yaml

from archive import digest


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


# Unchanged in every commit: a module invoices.py imports (with a weakness of its own, found on
# night one and never asked about again) and one that imports invoices.py, whose name sorts
# after it (the full review shows files by name; later nights show unchanged files first).
WEAK_HASH = "    return hashlib.md5(data).hexdigest()"
SHELVES = "".join(
    f'\n\ndef shelf_{n}(number):\n    return ROOT / "{n}" / str(number)\n' for n in range(40)
)
ARCHIVE = (
    '''"""Where rendered invoices are kept."""
import hashlib
from pathlib import Path

ROOT = Path("/var/lib/invoices")


def digest(data):
    """The name an invoice is stored under."""
    return hashlib.md5(data).hexdigest()


def store(data):
    target = ROOT / digest(data)
    target.write_bytes(data)
    return target
'''
    + SHELVES
)
APP = '''"""The invoice service's entry point."""
from invoices import load_settings, render


def main(settings_text, path):
    settings = load_settings(settings_text)
    return render(path), settings
''' + "".join(
    f"\n\ndef page_{n}(settings_text, path):\n    return main(settings_text, path)[{n % 2}]\n"
    for n in range(30)
)


def make_history(repo: Path) -> list[str]:
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "archive.py").write_text(ARCHIVE, encoding="utf-8")
    (repo / "web.py").write_text(APP, encoding="utf-8")
    git(repo, "add", "archive.py", "web.py")
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


def user_prompts(bodies: list[bytes]) -> list[str]:
    return [json.loads(body)["messages"][-1]["content"] for body in bodies]


def document_names(prompt: str) -> list[str]:
    return re.findall(r'<document id="[0-9a-f]+" name="([^"]+)"', prompt)


def test_three_nights_new_then_fixed_and_persisting_at_its_new_line(
    tmp_path: Path,
    recording_simulator: tuple[SimulatorHandle, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One simulator for the three nights, as one API: its prefix cache lives from night to night.
    handle, bodies = recording_simulator
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-not-a-key")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", handle.base_url)
    repo, db = tmp_path / "repo", tmp_path / "nightly.duckdb"
    commits = make_history(repo)
    options = ReviewOptions(source=str(repo), profile="codebase", db=str(db), backend="deepseek")
    nights, prompts, hits = [], [], []
    for commit in commits:
        git(repo, "checkout", "-q", commit)
        sent_before, log_before = len(bodies), len(handle.simulator.stats.log)
        result = review_pipeline(options, Settings())
        assert result.status == "completed"
        nights.append(result.run_id)
        prompts.append(user_prompts(bodies[sent_before:]))
        log = handle.simulator.stats.log[log_before:]
        hits.append(sum(e.cache_hit_tokens for e in log) / sum(e.prompt_tokens for e in log))

    weak = ("weak_hash", line_of(ARCHIVE, WEAK_HASH))
    assert [(s, f, line) for s, f, line, _ in findings_of(db, nights[0])] == [("new", *weak)]
    night2 = findings_of(db, nights[1])
    assert [(state, field, line) for state, field, line, _ in night2] == [
        ("new", "command_injection", line_of(TWO_ISSUES, SHELL)),
        ("new", "unsafe_yaml", line_of(TWO_ISSUES, UNSAFE_YAML)),
        ("persisting", *weak),  # unchanged, not asked again, not lost
    ]
    night3 = findings_of(db, nights[2])
    assert line_of(FIXED_ONE, SHELL) == line_of(TWO_ISSUES, SHELL) + 5
    assert [(state, field, line) for state, field, line, _ in night3] == [
        ("persisting", "command_injection", line_of(FIXED_ONE, SHELL)),
        ("fixed", "unsafe_yaml", line_of(TWO_ISSUES, UNSAFE_YAML)),
        ("persisting", *weak),
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
        asked = con.execute(
            "SELECT DISTINCT r.run_id, d.relpath FROM (SELECT run_id, unnest(doc_ids) AS doc_id "
            "FROM requests) r JOIN documents d USING (doc_id)"
        ).fetchall()
    assert changes == [
        (nights[0], "new", "weak_hash"),
        (nights[1], "new", "command_injection"),
        (nights[1], "new", "unsafe_yaml"),
        (nights[2], "fixed", "unsafe_yaml"),
    ]
    assert runs == [(nights[0], None), (nights[1], nights[0]), (nights[2], nights[1])]
    # Night one reads the repository whole; later nights ask about the changed file only ...
    assert sorted(asked) == sorted(
        [(nights[0], name) for name in ("archive.py", "invoices.py", "web.py")]
        + [(nights[1], "invoices.py"), (nights[2], "invoices.py")]
    )
    first, (second,), (third,) = prompts
    assert all(document_names(prompt) == ["archive.py", "invoices.py", "web.py"]
               for prompt in first)  # fmt: skip
    assert "<changes>" not in "".join(first)
    # ... and show the unchanged code as context, oldest first, then the change and its diff.
    for prompt in (second, third):
        assert document_names(prompt) == ["archive.py", "web.py", "invoices.py"]
        assert "def main(settings_text, path):" in prompt and WEAK_HASH in prompt
        assert prompt.index("<changes>") > prompt.rindex("</document id=")
    changes_block = second[second.index("<changes>") : second.index("</changes>")]
    assert re.search(r'<changed id="[0-9a-f]+" name="invoices.py">', changes_block)
    assert "-    return yaml.safe_load(text) or {}" in changes_block
    assert f"+{UNSAFE_YAML}" in changes_block and f"+{SHELL}" in changes_block
    assert "def digest" not in changes_block  # unchanged files have no diff
    moved = third[third.index("<changes>") : third.index("</changes>")]
    assert f"-{UNSAFE_YAML}" in moved and "+def page_size(settings):" in moved
    # The unchanged files stay a warm prefix: night two reads from the cache what it shares
    # with night one (up to the first file whose place changed), night three (the same files
    # first, in the same order) all the unchanged files.
    assert hits[0] == 0 < hits[1] < hits[2]


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
        ("persisting", "weak_hash"),
    ]
