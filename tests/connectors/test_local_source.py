"""Local disk as a source: a sorted walk, .gitignore in repositories, symlinks kept inside the
root, problems as refs rather than crashes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors.local import LocalSource
from connectors.paths import PathFilter
from nightshift.errors import SourceNotFoundError


def relpaths(source: LocalSource) -> list[str]:
    return [ref.relpath for ref in source.discover()]


def test_the_walk_is_sorted_and_filtered(tmp_path: Path) -> None:
    for name in ("b.txt", "a.md", "sub/c.py", "sub/skip.log"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert relpaths(LocalSource(tmp_path)) == ["a.md", "b.txt", "sub/c.py", "sub/skip.log"]
    only = LocalSource(tmp_path, PathFilter.of(exclude=["*.log"]))
    assert relpaths(only) == ["a.md", "b.txt", "sub/c.py"]


def test_a_repository_honours_its_gitignore(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("build/\n*.log\n", encoding="utf-8")
    for name in ("app.py", "debug.log", "build/out.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert "app.py" in relpaths(LocalSource(tmp_path))
    assert not {"debug.log", "build/out.py"} & set(relpaths(LocalSource(tmp_path)))


def test_a_symlink_out_of_the_root_is_a_problem_not_a_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link.txt")
    (ref,) = list(LocalSource(root).discover())
    assert ref.problem is not None
    assert ref.problem[0] == "unreadable"


def test_a_missing_source_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError):
        list(LocalSource(tmp_path / "nope").discover())


def test_a_single_file_is_a_source(tmp_path: Path) -> None:
    file = tmp_path / "one.txt"
    file.write_text("x", encoding="utf-8")
    assert relpaths(LocalSource(file)) == ["one.txt"]
