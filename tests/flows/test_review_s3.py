"""A PDF and a text file reviewed end to end from a real S3-compatible server on loopback."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.fixtures.pdfs import make_pdf
from tests.flows.conftest import run_flow

CONTRACT_PAGES = [
    ["SUPPLY AGREEMENT", "This Agreement is made between Alpha Ltd and Beta Inc."],
    ["12. Governing Law.", "This Agreement shall be governed by the laws of the State of Ohio."],
]
NOTE = b"Side letter.\n\nThis letter shall be governed by the laws of the State of Utah.\n"


def test_review_from_s3(
    prefect_harness, s3_bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    s3_bucket.put({"legal/2026/supply.pdf": make_pdf(CONTRACT_PAGES), "legal/2026/letter.txt": NOTE,
                   "other/ignored.txt": b"not under the prefix"})  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_bucket.endpoint_url)
    db = tmp_path / "s3.duckdb"
    result = run_flow(source=f"s3://{s3_bucket.name}/legal", profile="legal", db=str(db),
                           backend="simulator")  # fmt: skip
    assert result.status == "completed"
    with duckdb.connect(str(db), read_only=True) as con:
        documents = con.execute(
            "SELECT relpath, uri, status, etag IS NOT NULL FROM documents ORDER BY relpath"
        ).fetchall()
        law = con.execute(
            "SELECT relpath, page, line, quote FROM latest_extractions "
            "WHERE field = 'governing_law' ORDER BY relpath"
        ).fetchall()
    assert documents == [
        ("2026/letter.txt", f"s3://{s3_bucket.name}/legal/2026/letter.txt", "ok", True),
        ("2026/supply.pdf", f"s3://{s3_bucket.name}/legal/2026/supply.pdf", "ok", True),
    ]
    assert law == [
        ("2026/letter.txt", None, 3,
         "This letter shall be governed by the laws of the State of Utah."),
        ("2026/supply.pdf", 2, None,
         "This Agreement shall be governed by the laws of the State of Ohio."),
    ]  # fmt: skip
