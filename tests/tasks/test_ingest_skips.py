"""Vendored, generated, minified and lock files are skipped by default, each with its reason;
a repository's .gitattributes linguist markers add to the rules or take a file back."""

from __future__ import annotations

from pathlib import Path

from connectors.local import LocalSource
from connectors.paths import SkipRules, kind_of
from connectors.store import Store
from nightshift.models import DocKind
from tasks.ingest import IngestOptions, ingest_source


def test_built_in_rules_name_their_reason() -> None:
    rules = SkipRules()
    assert rules.reason("web/node_modules/left-pad/index.js") == (
        "vendored dependencies (node_modules/)"
    )
    assert rules.reason("vendor/github.com/x/y.go") == "vendored dependencies (vendor/)"
    assert rules.reason("package-lock.json") == "a lock file (package-lock.json)"
    assert rules.reason("backend/poetry.lock") == "a lock file (poetry.lock)"
    assert rules.reason("Cargo.lock") == "a lock file (Cargo.lock)"
    assert rules.reason("static/app.min.js") == "a minified file (*.min.js)"
    assert rules.reason("api/invoice_pb2.py") == "generated protobuf code (*_pb2.py)"
    for read in ("src/app.js", "vendors.py", "docs/lockfile.md", "src/vendor.ts"):
        assert rules.reason(read) is None, read


def test_gitattributes_markers_add_and_remove() -> None:
    rules = SkipRules.from_gitattributes(
        "# generated clients\n"
        "api/client/** linguist-generated=true\n"
        "*.snap linguist-generated\n"
        "extern/** linguist-vendored\n"
        "vendor/ours/** -linguist-vendored\n"
        "docs/** linguist-documentation text eol=lf\n"
    )
    assert rules.reason("api/client/models.ts") == (
        "marked linguist-generated in .gitattributes (api/client/**)"
    )
    assert rules.reason("tests/__snapshots__/a.snap") is not None
    assert rules.reason("extern/zlib/inflate.c") == (
        "marked linguist-vendored in .gitattributes (extern/**)"
    )
    assert rules.reason("vendor/ours/patch.go") is None  # unset: the team's own code
    assert rules.reason("vendor/theirs/lib.go") == "vendored dependencies (vendor/)"
    assert rules.reason("docs/guide.md") is None


def test_languages_by_extension_are_read_as_code() -> None:
    for name in ("a.py", "b.ts", "c.go", "d.rs", "e.java", "f.kt", "g.rb", "h.php", "i.cs",
                 "j.swift", "k.groovy", "l.fs", "m.sol", "Containerfile", "n.jl"):  # fmt: skip
        assert kind_of(name) is DocKind.CODE, name


def test_ingest_lands_skipped_files_as_unsupported_with_the_reason(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for relpath, text in {
        "app.py": "print('hello')\n",
        "node_modules/lib/index.js": "module.exports = 1;\n",
        "package-lock.json": '{"lockfileVersion": 3}\n',
        "static/site.min.js": "var a=1;\n",
        "gen/api.py": "# generated\nX = 1\n",
        ".gitattributes": "gen/** linguist-generated\n",
    }.items():
        path = repo / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    with Store(tmp_path / "i.duckdb") as store:
        ingest_source(LocalSource(repo), store, IngestOptions(workers=1), "ingest-skips")
        rows = {r["relpath"]: (r["status"], r["status_reason"]) for r in store.query_dicts(
            "SELECT relpath, status, status_reason FROM current_documents")}  # fmt: skip
        texts = store.query("SELECT count(*) FROM document_texts")[0][0]
    assert rows["app.py"] == ("ok", None)
    assert rows[".gitattributes"][0] == "ok"
    assert rows["node_modules/lib/index.js"] == (
        "unsupported",
        "skipped by default: vendored dependencies (node_modules/)",
    )
    assert rows["package-lock.json"] == (
        "unsupported",
        "skipped by default: a lock file (package-lock.json)",
    )
    assert rows["static/site.min.js"] == (
        "unsupported",
        "skipped by default: a minified file (*.min.js)",
    )
    assert rows["gen/api.py"] == (
        "unsupported",
        "skipped by default: marked linguist-generated in .gitattributes (gen/**)",
    )
    assert texts == 2  # app.py and .gitattributes: nothing skipped was read
