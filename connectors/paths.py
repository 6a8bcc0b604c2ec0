"""Path rules shared by every source: include/exclude globs and file kinds.

Globs use gitignore syntax (``**/*.pdf``, ``contracts/``, ``!keep.txt``) through ``pathspec``, so
they mean the same on a local folder and on S3 keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from pathspec import GitIgnoreSpec

from nightshift.models import DocKind

TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst", ".csv", ".log"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
CODE_SUFFIXES = frozenset(
    {
        ".py", ".pyi", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java",
        ".kt", ".kts", ".scala", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs", ".rb",
        ".php", ".swift", ".m", ".mm", ".sh", ".bash", ".zsh", ".ps1", ".sql", ".r", ".lua",
        ".pl", ".pm", ".ex", ".exs", ".erl", ".hs", ".ml", ".mli", ".clj", ".dart", ".vue",
        ".svelte", ".html", ".htm", ".css", ".scss", ".yaml", ".yml", ".toml", ".ini", ".cfg",
        ".json", ".xml", ".tf", ".hcl", ".proto", ".graphql", ".gradle", ".cmake",
    }
)  # fmt: skip
CODE_FILENAMES = frozenset(
    {"Makefile", "Dockerfile", "Jenkinsfile", "Rakefile", "Gemfile", "CMakeLists.txt", ".gitignore"}
)


def kind_of(relpath: str) -> DocKind:
    """The kind a file is read as, from its name alone (content checks come at parse time)."""
    path = PurePosixPath(relpath)
    suffix = path.suffix.lower()
    if path.name in CODE_FILENAMES:
        return DocKind.CODE
    if suffix == ".pdf":
        return DocKind.PDF
    if suffix in MARKDOWN_SUFFIXES:
        return DocKind.MARKDOWN
    if suffix in TEXT_SUFFIXES:
        return DocKind.TEXT
    if suffix in CODE_SUFFIXES:
        return DocKind.CODE
    return DocKind.UNKNOWN


@dataclass(frozen=True)
class PathFilter:
    """Include/exclude globs over paths relative to a source's root.

    An empty ``include`` admits everything; ``exclude`` wins over ``include``.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    _include_spec: GitIgnoreSpec | None = field(init=False, repr=False, compare=False)
    _exclude_spec: GitIgnoreSpec | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        include = GitIgnoreSpec.from_lines(self.include) if self.include else None
        exclude = GitIgnoreSpec.from_lines(self.exclude) if self.exclude else None
        object.__setattr__(self, "_include_spec", include)
        object.__setattr__(self, "_exclude_spec", exclude)

    @classmethod
    def of(cls, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> PathFilter:
        return cls(tuple(include), tuple(exclude))

    def admits(self, relpath: str) -> bool:
        if self._exclude_spec is not None and self._exclude_spec.match_file(relpath):
            return False
        return self._include_spec is None or self._include_spec.match_file(relpath)

    def prunes_dir(self, reldir: str) -> bool:
        """True when a directory is excluded as a whole, so a walk need not enter it."""
        return self._exclude_spec is not None and self._exclude_spec.match_file(reldir + "/")


def safe_relpath(key: str) -> str | None:
    """A key or name as a relative POSIX path that cannot leave its root, or None.

    ``a/../b`` and ``./a`` are normalised; a path that climbs above the root, is absolute,
    is empty, or names a directory (trailing ``/``) is refused.
    """
    if not key or key.endswith("/") or "\x00" in key:
        return None
    parts: list[str] = []
    for part in key.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(part)
    if not parts or key.startswith("/"):
        return None
    return "/".join(parts)
