"""A scanned page reviewed end to end: ``nightshift review --ocr auto`` in a real process, on the
simulator; and, without Tesseract on PATH, ``--ocr`` refused in one line while the rest works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.fixtures.pdfs import make_pdf_with_scan, write

ROOT = Path(__file__).resolve().parents[2]
TYPED = ["This Services Agreement is entered into by Acme Corp and Beta LLC."]
CLAUSE = [
    "12. Governing Law. This Agreement shall be governed by the",
    "laws of the State of Delaware, without regard to its conflict",
    "of laws principles.",
]


def nightshift(tmp_path: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("DEEPSEEK_API_KEY", None)
    env.pop("PREFECT_API_URL", None)
    if path is not None:
        env["PATH"] = path
    command = [sys.executable, "-m", "nightshift.cli", *args, "--no-prefect"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def test_a_clause_on_a_scanned_page_lands_grounded_on_page_2_with_the_ocr_flag(tmp_path: Path):
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    write(contracts / "signed.pdf", make_pdf_with_scan(TYPED, CLAUSE))
    db = tmp_path / "review.duckdb"
    done = nightshift(tmp_path, "review", str(contracts), "--db", str(db),
                      "--backend", "simulator", "--ocr", "auto")  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        landed = con.execute(
            "SELECT field, page, grounded, ocr, quote FROM extractions ORDER BY page, field"
        ).fetchall()
        reason = con.execute("SELECT status_reason FROM current_documents").fetchone()
    by_field = {row[0]: row for row in landed}
    _, page, grounded, ocr, quote = by_field["governing_law"]
    assert (page, grounded, ocr) == (2, True, True)
    assert "governed by the laws of the State of Delaware" in " ".join(quote.split())
    typed = [row for row in landed if row[1] == 1]
    assert typed and not any(row[3] for row in typed)  # the typed page's quotes are not flagged
    assert reason is not None and "text of page 2 by OCR" in reason[0]


def test_without_tesseract_ocr_is_refused_in_one_line_and_the_rest_works(tmp_path: Path):
    pdf = write(tmp_path / "signed.pdf", make_pdf_with_scan(TYPED, CLAUSE))
    empty = tmp_path / "bin"  # a PATH with no tesseract on it
    empty.mkdir()
    for command in (["ingest", str(pdf), "--ocr", "auto"],
                    ["review", str(pdf), "--backend", "simulator", "--ocr", "always"]):  # fmt: skip
        refused = nightshift(tmp_path, *command, path=str(empty))
        assert refused.returncode == 2, refused.stderr
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "apt-get install tesseract-ocr" in lines[0], refused.stderr
    plain = nightshift(tmp_path, "ingest", str(pdf), "--db", str(tmp_path / "x.duckdb"),
                       path=str(empty))  # fmt: skip
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "│ pdf  │ ok" in plain.stdout
