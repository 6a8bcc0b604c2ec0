"""The ingest stage on real files and a real DuckDB file, with hostile inputs built here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from connectors.local import LocalSource
from connectors.paths import PathFilter
from connectors.store import Store
from nightshift.tokenizer import tokenizer_path
from tasks.ingest import IngestOptions, ingest_source
from tests.fixtures.pdfs import make_encrypted_pdf, make_pdf, write

CONTRACT_PAGES = [
    ["MASTER AGREEMENT", "This Agreement is made between Alpha Ltd and Beta Inc."],
    ["1. Governing Law. This Agreement shall be governed by the laws of Delaware."],
    ["2. Term. This Agreement renews automatically for one year."],
]


def ingest(root: Path, db: Path, **options: object) -> dict[str, dict]:
    with Store(db) as store:
        ingest_source(LocalSource(root), store, IngestOptions(**options), "run-test")  # type: ignore[arg-type]
        rows = store.query_dicts("SELECT * FROM current_documents")
    return {row["relpath"]: row for row in rows}


@pytest.fixture
def hostile_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    good = make_pdf(CONTRACT_PAGES)
    write(root / "good.pdf", good)
    write(root / "truncated.pdf", good[: len(good) // 2])
    write(root / "encrypted.pdf", make_encrypted_pdf([["secret terms"]], "user-pw", "owner-pw"))
    write(root / "open-encrypted.pdf", make_encrypted_pdf([["readable terms"]], "", "owner-pw"))
    write(root / "scan.pdf", make_pdf([[], []]))
    write(root / "empty.txt", b"")
    write(root / "binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    write(root / "latin1.txt", "Gesch\xe4ftsf\xfchrer: M\xfcller & S\xf6hne.".encode("latin-1"))
    write(root / "bom.md", b"\xef\xbb\xbf# Notes\nThe term is five years.\n")
    write(root / "image.png", b"\x89PNG\r\n\x1a\n")
    write(root / "src" / "app.py", b"import os\n\nprint(os.getcwd())\n")
    (root / "loop").mkdir()
    os.symlink(root / "loop", root / "loop" / "again")
    os.symlink(root / "a-link", root / "b-link")
    os.symlink(root / "b-link", root / "a-link")
    outside = write(tmp_path / "outside.txt", b"not part of the corpus")
    os.symlink(outside, root / "escape.txt")
    os.symlink(root / "good.pdf", root / "alias.pdf")
    return root


def test_every_hostile_file_ends_as_a_row_with_its_status(hostile_corpus: Path, tmp_path: Path):
    rows = ingest(hostile_corpus, tmp_path / "db.duckdb")
    status = {path: (row["status"], row["status_reason"]) for path, row in rows.items()}

    assert status["good.pdf"][0] == "ok"
    assert status["truncated.pdf"][0] == "corrupt"
    assert status["encrypted.pdf"][0] == "encrypted"
    assert status["open-encrypted.pdf"][0] == "ok"  # the empty user password opens it
    assert status["scan.pdf"] == (
        "empty_text",
        "no text layer on any of 2 pages (a scan or image-only PDF)",
    )
    assert status["empty.txt"] == ("empty_text", "zero-byte file")
    assert status["binary.txt"][0] == "unsupported"
    assert status["latin1.txt"][0] == "ok"
    assert "decoded as cp1252" in status["latin1.txt"][1]
    assert status["bom.md"][0] == "ok"
    assert status["image.png"] == ("unsupported", "unsupported file type .png")
    assert status["src/app.py"][0] == "ok"
    assert status["loop/again"] == ("unreadable", "symlink loop (directory already visited)")
    assert status["a-link"] == ("unreadable", "symlink loop")
    assert status["b-link"] == ("unreadable", "symlink loop")
    assert status["escape.txt"] == ("unreadable", "symlink points outside the source root")
    assert status["alias.pdf"][0] == "ok"  # a link inside the root is followed
    assert rows["alias.pdf"]["doc_id"] == rows["good.pdf"]["doc_id"]
    assert len(rows) == 16


def test_pdf_pages_text_and_kinds(hostile_corpus: Path, tmp_path: Path):
    db = tmp_path / "db.duckdb"
    rows = ingest(hostile_corpus, db)
    good = rows["good.pdf"]
    assert (good["kind"], good["pages"]) == ("pdf", 3)
    assert rows["bom.md"]["kind"] == "markdown"
    assert rows["src/app.py"]["kind"] == "code"
    assert rows["src/app.py"]["lines"] == 4
    with Store(db) as store:
        text = store.load_texts([good["doc_id"]])[good["doc_id"]]
    assert text["page_starts"][0] == 0
    assert len(text["page_starts"]) == 3
    second = text["text"][text["page_starts"][1] : text["page_starts"][2]]
    assert "governed by the laws of Delaware" in second
    assert "Müller & Söhne" in ingest_text(db, rows["latin1.txt"]["doc_id"])


def ingest_text(db: Path, doc_id: str) -> str:
    with Store(db) as store:
        return store.load_texts([doc_id])[doc_id]["text"]


def test_token_counts_equal_the_reference_tokenizer(hostile_corpus: Path, tmp_path: Path):
    db = tmp_path / "db.duckdb"
    rows = ingest(hostile_corpus, db)
    reference = Tokenizer.from_file(tokenizer_path())
    for relpath in ("good.pdf", "latin1.txt", "bom.md", "src/app.py"):
        text = ingest_text(db, rows[relpath]["doc_id"])
        expected = len(reference.encode(text, add_special_tokens=False).ids)
        assert rows[relpath]["tokens"] == expected > 0


def test_page_token_offsets_point_at_page_starts(hostile_corpus: Path, tmp_path: Path):
    db = tmp_path / "db.duckdb"
    doc_id = ingest(hostile_corpus, db)["good.pdf"]["doc_id"]
    with Store(db) as store:
        stored = store.load_texts([doc_id])[doc_id]
    reference = Tokenizer.from_file(tokenizer_path())
    encoding = reference.encode(stored["text"], add_special_tokens=False)
    for page, token_index in zip(stored["page_starts"], stored["page_token_starts"], strict=True):
        assert encoding.offsets[token_index][0] >= page
        assert token_index == 0 or encoding.offsets[token_index - 1][0] < page


def test_reingest_inserts_no_duplicates_and_moves_last_seen(hostile_corpus: Path, tmp_path: Path):
    db = tmp_path / "db.duckdb"
    first = ingest(hostile_corpus, db)
    with Store(db) as store:
        summary = ingest_source(LocalSource(hostile_corpus), store, IngestOptions(), "run-2")
        count = store.query("SELECT count(*) FROM documents")[0][0]
        runs = store.query("SELECT DISTINCT last_run_id FROM documents")
    assert count == len(first)
    assert runs == [("run-2",)]
    assert (summary.parsed, summary.unchanged) == (0, len(first))


def test_changed_file_gets_a_new_row_and_copies_are_not_parsed(tmp_path: Path):
    root = tmp_path / "corpus"
    write(root / "a.txt", b"first version")
    db = tmp_path / "db.duckdb"
    ingest(root, db)
    write(root / "a.txt", b"second version")
    write(root / "copy-of-a.txt", b"second version")
    with Store(db) as store:
        summary = ingest_source(LocalSource(root), store, IngestOptions(), "run-2")
        rows = store.query("SELECT relpath, status FROM current_documents ORDER BY 1")
        total = store.query("SELECT count(*) FROM documents")[0][0]
    assert rows == [("a.txt", "ok"), ("copy-of-a.txt", "ok")]
    assert total == 3
    assert summary.parsed + summary.copied == 2


def test_size_limit_marks_too_large_without_reading(tmp_path: Path):
    root = tmp_path / "corpus"
    write(root / "big.txt", b"x" * 5000)
    rows = ingest(root, tmp_path / "db.duckdb", max_file_bytes=1000)
    assert rows["big.txt"]["status"] == "too_large"
    assert rows["big.txt"]["doc_id"] is None
    assert "limit" in rows["big.txt"]["status_reason"]


def test_gitignore_and_globs(tmp_path: Path):
    root = tmp_path / "repo"
    write(root / ".gitignore", b"*.log\nbuild/\n")
    write(root / "app.py", b"print(1)\n")
    write(root / "debug.log", b"noise")
    write(root / "build" / "out.py", b"generated")
    write(root / "docs" / "guide.md", b"# Guide\n")
    write(root / "nested" / ".gitignore", b"secret.txt\n")
    write(root / "nested" / "secret.txt", b"hidden")
    write(root / "nested" / "kept.txt", b"kept")
    found = sorted(ref.relpath for ref in LocalSource(root).discover())
    assert found == [
        ".gitignore",
        "app.py",
        "docs/guide.md",
        "nested/.gitignore",
        "nested/kept.txt",
    ]
    only_md = LocalSource(root, PathFilter.of(include=["*.md"]))
    assert [ref.relpath for ref in only_md.discover()] == ["docs/guide.md"]
    no_docs = LocalSource(root, PathFilter.of(exclude=["docs/", ".gitignore"]))
    assert sorted(r.relpath for r in no_docs.discover()) == ["app.py", "nested/kept.txt"]


def test_single_file_source(tmp_path: Path):
    path = write(tmp_path / "one.pdf", make_pdf(CONTRACT_PAGES))
    rows = ingest(path, tmp_path / "db.duckdb")
    assert list(rows) == ["one.pdf"]
    assert rows["one.pdf"]["status"] == "ok"


def test_pdfium_engine_reads_the_same_pages(hostile_corpus: Path, tmp_path: Path):
    pytest.importorskip("pypdfium2")
    rows = ingest(hostile_corpus, tmp_path / "db.duckdb", pdf_engine="pdfium")
    assert rows["good.pdf"]["status"] == "ok"
    assert rows["good.pdf"]["pages"] == 3
    assert rows["encrypted.pdf"]["status"] == "encrypted"
    assert rows["truncated.pdf"]["status"] in ("corrupt", "ok")  # pdfium repairs some truncations
    assert rows["scan.pdf"]["status"] == "empty_text"
