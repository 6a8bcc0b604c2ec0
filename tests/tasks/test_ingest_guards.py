"""What ingest refuses to read: secrets, files swapped or grown after discovery, fake UTF-16."""

from __future__ import annotations

import codecs
import os
import threading
from pathlib import Path

from connectors.local import LocalSource
from connectors.store import Store
from tasks.ingest import IngestOptions, ingest_source
from tests.fixtures.pdfs import write
from tests.fixtures.sources import ListedEarlier

FAKE_KEY = "sk-" + "5e" * 16  # the shape .env.example asks for
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
SECRET_MARKS = [FAKE_KEY, "b3BlbnNzaC1rZXkt", "wJalrXUtnFEMI", "MIIEvQIBADANBgkq", "npm_T0kEn"]


def all_database_text(db: Path) -> str:
    """Every value of every table, as text: where a leak would show."""
    with Store(db) as store:
        tables = [row[0] for row in store.query("SELECT table_name FROM duckdb_tables()")]
        return "\n".join(str(store.query(f'SELECT * FROM "{table}"')) for table in tables)


def test_key_and_credential_files_are_rows_never_read(tmp_path: Path):
    root = tmp_path / "project"
    write(root / ".env", f"DEEPSEEK_API_KEY={FAKE_KEY}\n".encode())
    write(root / ".env.production", f"DEEPSEEK_API_KEY={FAKE_KEY}\n".encode())
    write(root / ".ssh" / "id_rsa", PRIVATE_KEY.encode())
    write(root / "credentials", b"[default]\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG\n")
    write(root / "server.pem", b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n")
    write(root / ".npmrc", b"//registry.npmjs.org/:_authToken=npm_T0kEn1234\n")
    write(root / "notes" / "deploy.txt", ("Steps to deploy.\n" + PRIVATE_KEY).encode())
    write(root / "README.md", b"# Project\nThe term is five years.\n")
    db = tmp_path / "db.duckdb"
    with Store(db) as store:
        ingest_source(LocalSource(root), store, IngestOptions(), "run")
        rows = {r["relpath"]: r for r in store.query_dicts("SELECT * FROM current_documents")}

    assert rows["README.md"]["status"] == "ok"
    secrets = {path: row for path, row in rows.items() if path != "README.md"}
    assert sorted(secrets) == sorted([".env", ".env.production", ".ssh/id_rsa", "credentials",
                                      "server.pem", ".npmrc", "notes/deploy.txt"])  # fmt: skip
    for row in secrets.values():
        assert (row["status"], row["doc_id"], row["tokens"]) == ("secret", None, None)
    assert "environment file (.env)" in rows[".env"]["status_reason"]
    assert "SSH private key" in rows[".ssh/id_rsa"]["status_reason"]
    assert "private key block" in rows["notes/deploy.txt"]["status_reason"]
    assert "token or password (.npmrc)" in rows[".npmrc"]["status_reason"]
    stored = all_database_text(db)
    for mark in SECRET_MARKS:
        assert mark not in stored


def test_an_npmrc_without_a_token_is_read_as_text(tmp_path: Path):
    root = tmp_path / "repo"
    write(root / ".npmrc", b"save-exact=true\n")
    with Store(tmp_path / "db.duckdb") as store:
        ingest_source(LocalSource(root), store, IngestOptions(), "run")
        [(status,)] = store.query("SELECT status FROM documents")
    assert status == "ok"


def ingest_in_thread(source: ListedEarlier, db: Path, options: IngestOptions) -> dict[str, dict]:
    """Ingest with a deadline: a read that blocks forever fails the test instead of hanging it."""
    result: list[dict[str, dict]] = []

    def run() -> None:
        with Store(db) as store:
            ingest_source(source, store, options, "run")
            rows = store.query_dicts("SELECT * FROM current_documents")
        result.append({row["relpath"]: row for row in rows})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert result, "ingest blocked"
    return result[0]


def test_files_swapped_for_a_fifo_or_grown_after_discovery(tmp_path: Path):
    root = tmp_path / "corpus"
    write(root / "pipe.txt", b"a file, soon a FIFO")
    write(root / "grows.txt", b"small at discovery")
    write(root / "steady.txt", b"unchanged")
    source = LocalSource(root)
    refs = tuple(source.discover())
    (root / "pipe.txt").unlink()
    os.mkfifo(root / "pipe.txt")
    write(root / "grows.txt", b"x" * 5_000)

    rows = ingest_in_thread(ListedEarlier(source, refs), tmp_path / "db.duckdb",
                            IngestOptions(max_file_bytes=1_000))  # fmt: skip

    assert (rows["pipe.txt"]["status"], rows["pipe.txt"]["status_reason"]) == (
        "unreadable",
        "not a regular file when read",
    )
    assert rows["grows.txt"]["status"] == "too_large"
    assert "grew past the 0.001 MB limit" in rows["grows.txt"]["status_reason"]
    assert rows["grows.txt"]["doc_id"] is None
    assert rows["steady.txt"]["status"] == "ok"


def test_a_false_utf16_byte_order_mark_is_not_decoded_as_utf16(tmp_path: Path):
    root = tmp_path / "corpus"
    # cp1252 text that happens to start with "ÿþ" (FF FE): as UTF-16 it reads as CJK noise.
    write(root / "fake.txt", "ÿþ Notice period: thirty days.\nGoverning law: Delaware.\n"
          .encode("cp1252"))  # fmt: skip
    write(root / "lone.txt", codecs.BOM_UTF16_LE + b"\x00\xd8" * 40)  # lone surrogates
    write(root / "real.txt", "Notice period: thirty days.\n".encode("utf-16"))
    db = tmp_path / "db.duckdb"
    with Store(db) as store:
        ingest_source(LocalSource(root), store, IngestOptions(), "run")
        rows = {r["relpath"]: r for r in store.query_dicts("SELECT * FROM current_documents")}
        texts = {r["relpath"]: store.load_texts([r["doc_id"]]).get(r["doc_id"], {}).get("text")
                 for r in rows.values()}  # fmt: skip

    assert rows["real.txt"]["status"] == "ok"
    assert texts["real.txt"] == "Notice period: thirty days.\n"
    assert rows["fake.txt"]["status"] == "ok"
    assert "Governing law: Delaware." in texts["fake.txt"]
    assert "not UTF-16" in rows["fake.txt"]["status_reason"]
    assert rows["lone.txt"]["status"] == "unsupported"
