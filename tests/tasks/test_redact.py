"""Secrets written into ordinary files are redacted at ingest: nothing of them reaches a table or
a prompt, and the finding "hard-coded secret" still lands at its line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from connectors.simulator import SimulatorHandle
from flows.pipelines import review_pipeline
from nightshift.options import ReviewOptions
from nightshift.settings import Settings
from tasks.redact import PLACEHOLDER, redact_secrets
from tests.fixtures.pdfs import make_pdf

# Planted secrets: well-known documentation examples and made-up tokens of the right shapes.
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB_TOKEN = "ghp_Zq4T8mW2xK9vB7nR3pL6yD1cF5hJ0sA2uE8i"
DB_PASSWORD = "Tr0ub4dor-and-3-horses"
SIGNING_KEY = "inv-api-7f3c9a1e5b2d48c6a0e9f1d3b7c5a2e8"
ENV_KEY = "sk-live-4e1b9c7d2a6f8e0b3c5d7a9f1e2b4c6d"
KEY_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----"
SECRETS = (AWS_KEY_ID, AWS_SECRET, GITHUB_TOKEN, DB_PASSWORD, SIGNING_KEY, ENV_KEY, KEY_BODY)

SETTINGS_PY = f'''"""Settings of the invoice service."""
import os

DEBUG = os.environ.get("DEBUG") == "1"
SECRET_KEY = "{SIGNING_KEY}"
AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"
AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"
GITHUB_TOKEN = "{GITHUB_TOKEN}"
DATABASE_URL = "postgres://invoices:{DB_PASSWORD}@db.internal:5432/invoices"


def database_url() -> str:
    return os.environ.get("DATABASE_URL", DATABASE_URL)
'''


def test_placeholders_keep_lines_and_the_assignment_shape() -> None:
    redacted = redact_secrets(SETTINGS_PY, "settings.py")

    lines = redacted.text.split("\n")
    assert len(lines) == len(SETTINGS_PY.split("\n"))
    assert lines[4] == 'SECRET_KEY = "«redacted:Secret Keyword»"'
    assert lines[5] == 'AWS_ACCESS_KEY_ID = "«redacted:AWS Access Key»"'
    assert lines[7] == 'GITHUB_TOKEN = "«redacted:GitHub Token»"'
    # Only the password of the URL goes; user, host and database stay for the reviewer.
    assert lines[8] == (
        'DATABASE_URL = "postgres://invoices:«redacted:Basic Auth Credentials»'
        '@db.internal:5432/invoices"'
    )
    assert not any(secret in redacted.text for secret in SECRETS)
    assert {r.line for r in redacted.redactions} == {5, 6, 7, 8, 9}
    # Lines without secrets are untouched, character for character.
    for number in (1, 2, 4, 12, 13):
        assert lines[number - 1] == SETTINGS_PY.split("\n")[number - 1]


def test_a_private_key_block_is_redacted_line_for_line() -> None:
    text = f'import ssl\nKEY = """\n{PRIVATE_KEY}\n"""\nctx = ssl.create_default_context()\n'
    redacted = redact_secrets(text, "tls.py")
    assert KEY_BODY not in redacted.text
    assert redacted.text.split("\n") == [
        "import ssl", 'KEY = """', *[PLACEHOLDER.format(kind="Private Key")] * 3, '"""',
        "ctx = ssl.create_default_context()", "",
    ]  # fmt: skip


def test_ordinary_code_is_left_alone() -> None:
    code = Path("sample_data/codebase/db.py").read_text(encoding="utf-8")
    assert redact_secrets(code, "db.py").text == code


def write_repository(root: Path) -> None:
    root.mkdir()
    (root / "settings.py").write_text(SETTINGS_PY, encoding="utf-8")
    # A private key in a module's head: the whole file is a `secret` row, never read further.
    (root / "tls_fixture.py").write_text(f'KEY = """{PRIVATE_KEY}"""\n', encoding="utf-8")
    # One past the 64 KB head that is checked for keys: read, with the block redacted.
    padding = "".join(f"ROW_{i} = {i}\n" for i in range(8000))
    (root / "big_fixture.py").write_text(
        f'{padding}PEM = """\n{PRIVATE_KEY}\n"""\n', encoding="utf-8"
    )
    (root / ".env").write_text(f"PAYMENTS_API_KEY={ENV_KEY}\n", encoding="utf-8")
    (root / "README.md").write_text(
        f"Deploy with `AWS_ACCESS_KEY_ID={AWS_KEY_ID}` set.\n", encoding="utf-8"
    )
    # A PDF's text is sent and stored like any other: the same redaction, page by page.
    runbook = [["Runbook: rotating the invoice service's keys."],
               ["Until rotated, the service signs in with:", f"github_token = {GITHUB_TOKEN}",
                f'aws_secret_access_key = "{AWS_SECRET}"']]  # fmt: skip
    (root / "runbook.pdf").write_bytes(make_pdf(runbook))


def every_stored_value(db: Path) -> Iterator[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [row[0] for row in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE'").fetchall()]  # fmt: skip
        assert {"documents", "document_texts", "requests", "extractions"} <= set(tables)
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                yield from (str(value) for value in row)


def test_no_planted_secret_reaches_a_table_or_a_prompt(
    tmp_path: Path,
    recording_simulator: tuple[SimulatorHandle, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handle, bodies = recording_simulator
    repo, db = tmp_path / "repo", tmp_path / "review.duckdb"
    write_repository(repo)
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-not-a-key")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", handle.base_url)
    options = ReviewOptions(source=str(repo), profile="codebase", db=str(db), backend="deepseek")

    result = review_pipeline(options, Settings())

    assert result.status == "completed"
    assert bodies, "the review sent nothing"
    prompts = "\n".join(
        message["content"] for body in bodies for message in json.loads(body)["messages"]
    )
    assert "settings.py" in prompts and "«redacted:Secret Keyword»" in prompts
    assert "big_fixture.py" in prompts and "ROW_7999 = 7999" in prompts
    for secret in SECRETS:
        assert not any(secret.encode() in body for body in bodies), secret
        assert secret not in prompts, secret
    stored = list(every_stored_value(db))
    for secret in SECRETS:
        assert not any(secret in value for value in stored), secret
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = dict(con.execute(
            "SELECT relpath, status FROM current_documents").fetchall())  # fmt: skip
        reasons = dict(con.execute(
            "SELECT relpath, status_reason FROM current_documents").fetchall())  # fmt: skip
        findings = con.execute(
            "SELECT e.file, e.line, e.quote FROM extractions e WHERE e.grounded "
            "AND e.field = 'hardcoded_secret' ORDER BY e.file, e.line").fetchall()  # fmt: skip
    assert statuses == {"settings.py": "ok", "big_fixture.py": "ok", "README.md": "ok",
                        "runbook.pdf": "ok", "tls_fixture.py": "secret",
                        ".env": "secret"}  # fmt: skip
    assert "secrets redacted: 2 AWS Access Key" in reasons["settings.py"]
    assert "secrets redacted:" in reasons["runbook.pdf"]
    assert "runbook.pdf" in prompts and "«redacted:" in prompts.split("runbook.pdf")[1]
    # The hard-coded secret is still found, at its line, quoting the placeholder.
    assert ("settings.py", 5, 'SECRET_KEY = "«redacted:Secret Keyword»"') in findings
