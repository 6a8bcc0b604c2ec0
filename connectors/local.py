"""Local disk as a corpus source: a folder walked recursively, or a single file.

The walk is deterministic (sorted), never follows a symlink out of the root, never enters the
same directory twice (symlink loops), and honours ``.gitignore`` files when the folder is a
code repository. Whatever cannot be opened still becomes a ``DocumentRef`` with a ``problem``,
so that it ends as a row rather than vanishing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pathspec import GitIgnoreSpec

from connectors.paths import PathFilter
from nightshift.errors import SourceNotFoundError
from nightshift.models import DocStatus, DocumentRef

ALWAYS_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})


@dataclass(frozen=True)
class _IgnoreRules:
    """The .gitignore files in force: each applies to paths below its own directory."""

    specs: tuple[tuple[str, GitIgnoreSpec], ...] = ()

    def with_file(self, reldir: str, gitignore: Path) -> _IgnoreRules:
        try:
            lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return self
        return _IgnoreRules((*self.specs, (reldir, GitIgnoreSpec.from_lines(lines))))

    def ignores(self, relpath: str, is_dir: bool) -> bool:
        for reldir, spec in self.specs:
            if reldir and not relpath.startswith(reldir + "/"):
                continue
            inner = relpath[len(reldir) + 1 :] if reldir else relpath
            if spec.match_file(inner + "/" if is_dir else inner):
                return True
        return False


@dataclass(frozen=True)
class LocalSource:
    """A folder (walked recursively) or a single file on local disk."""

    root: Path
    path_filter: PathFilter = field(default_factory=PathFilter)
    respect_gitignore: bool = True

    @property
    def uri(self) -> str:
        return str(self.root.expanduser().absolute())

    def discover(self) -> Iterator[DocumentRef]:
        root = self.root.expanduser().absolute()
        if not root.exists() and not root.is_symlink():
            raise SourceNotFoundError(f"source not found: {root}")
        if root.is_file():
            yield self._ref(root, root.name)
            return
        real_root = root.resolve()
        rules = _IgnoreRules()
        is_repository = (root / ".git").exists() or (root / ".gitignore").is_file()
        yield from self._walk(root, real_root, "", rules, is_repository, set())

    @contextmanager
    def fetch(self, ref: DocumentRef) -> Iterator[Path]:
        """A local path to the file's bytes: on local disk, the file itself."""
        yield Path(ref.uri)

    def _walk(
        self,
        directory: Path,
        real_root: Path,
        reldir: str,
        rules: _IgnoreRules,
        is_repository: bool,
        visited: set[tuple[int, int]],
    ) -> Iterator[DocumentRef]:
        info = directory.stat()
        visited.add((info.st_dev, info.st_ino))
        if is_repository and self.respect_gitignore and (directory / ".gitignore").is_file():
            rules = rules.with_file(reldir, directory / ".gitignore")
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            yield self._problem(directory, reldir or ".", f"cannot list directory: {exc.strerror}")
            return
        for entry in entries:
            relpath = f"{reldir}/{entry.name}" if reldir else entry.name
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir and entry.name in ALWAYS_SKIPPED_DIRS:
                continue
            if rules.specs and rules.ignores(relpath, is_dir):
                continue
            if entry.is_symlink():
                problem = self._symlink_problem(path, real_root, visited)
                if problem is not None:
                    if is_dir and self.path_filter.prunes_dir(relpath):
                        continue
                    if is_dir or self.path_filter.admits(relpath):
                        yield self._problem(path, relpath, problem)
                    continue
            if is_dir:
                if self.path_filter.prunes_dir(relpath):
                    continue
                yield from self._walk(path, real_root, relpath, rules, is_repository, visited)
            elif self.path_filter.admits(relpath):
                yield self._ref(path, relpath)

    @staticmethod
    def _symlink_problem(path: Path, real_root: Path, visited: set[tuple[int, int]]) -> str | None:
        try:
            target = path.resolve(strict=True)
        except RuntimeError:
            return "symlink loop"
        except OSError as exc:
            if exc.errno == 40:  # ELOOP
                return "symlink loop"
            return "broken symlink"
        if not target.is_relative_to(real_root):
            return "symlink points outside the source root"
        info = target.stat()
        if stat.S_ISDIR(info.st_mode) and (info.st_dev, info.st_ino) in visited:
            return "symlink loop (directory already visited)"
        return None

    def _ref(self, path: Path, relpath: str) -> DocumentRef:
        try:
            info = path.stat()
        except OSError as exc:
            return self._problem(path, relpath, f"cannot stat: {exc.strerror}")
        if not stat.S_ISREG(info.st_mode):
            return self._problem(path, relpath, "not a regular file", DocStatus.UNSUPPORTED)
        modified = datetime.fromtimestamp(info.st_mtime, tz=UTC)
        return DocumentRef(uri=str(path), relpath=relpath, size=info.st_size, modified=modified)

    @staticmethod
    def _problem(
        path: Path, relpath: str, reason: str, status: DocStatus = DocStatus.UNREADABLE
    ) -> DocumentRef:
        return DocumentRef(uri=str(path), relpath=relpath, size=0, problem=(status, reason))
