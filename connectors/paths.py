"""Path rules shared by every source: include/exclude globs and file kinds.

Globs use gitignore syntax (``**/*.pdf``, ``contracts/``, ``!keep.txt``) through ``pathspec``, so
they mean the same on a local folder and on S3 keys.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from pathspec import GitIgnoreSpec

from nightshift.models import DocKind

TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst", ".csv", ".log", ".adoc"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
CODE_SUFFIXES = frozenset(
    {
        ".py", ".pyi", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java",
        ".kt", ".kts", ".scala", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs", ".rb",
        ".php", ".swift", ".m", ".mm", ".sh", ".bash", ".zsh", ".ps1", ".sql", ".r", ".lua",
        ".pl", ".pm", ".ex", ".exs", ".erl", ".hs", ".ml", ".mli", ".clj", ".dart", ".vue",
        ".svelte", ".html", ".htm", ".css", ".scss", ".yaml", ".yml", ".toml", ".ini", ".cfg",
        ".json", ".xml", ".tf", ".hcl", ".proto", ".graphql", ".gradle", ".cmake",
        ".groovy", ".fs", ".fsx", ".vb", ".jl", ".nim", ".zig", ".sol", ".bat", ".cmd", ".psm1",
        ".fish", ".mk", ".less", ".sass", ".astro", ".tpl", ".j2", ".jinja", ".sbt", ".elm",
        ".cljs", ".edn", ".erb", ".haml", ".v", ".sv", ".vhd", ".f90", ".cu", ".cuh", ".ino",
    }
)  # fmt: skip
CODE_FILENAMES = frozenset(
    {"Makefile", "Dockerfile", "Jenkinsfile", "Rakefile", "Gemfile", "CMakeLists.txt", ".gitignore",
     "GNUmakefile", "Containerfile", "Vagrantfile", "Procfile", "Brewfile", "Justfile",
     ".gitattributes", ".dockerignore", ".editorconfig"}
)  # fmt: skip


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


# What a review skips by default: code nobody on the team wrote or reads (vendored
# dependencies, generated and minified files, lock files). Each lands as an ``unsupported`` row
# whose reason says which rule skipped it; ``--include`` cannot bring it back, a profile of
# one's own can review it by naming the file as the source.
SKIPPED_DIRS: dict[str, str] = {
    "node_modules": "vendored dependencies (node_modules/)",
    "bower_components": "vendored dependencies (bower_components/)",
    "vendor": "vendored dependencies (vendor/)",
    "third_party": "vendored dependencies (third_party/)",
    "site-packages": "installed packages (site-packages/)",
    ".venv": "a virtual environment (.venv/)",
    "venv": "a virtual environment (venv/)",
    "__pycache__": "compiled Python (__pycache__/)",
}
LOCK_FILES = frozenset({
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
    "poetry.lock", "Pipfile.lock", "pdm.lock", "uv.lock", "Cargo.lock", "Gemfile.lock",
    "composer.lock", "go.sum", "mix.lock", "pubspec.lock", "Podfile.lock", "packages.lock.json",
    "flake.lock", ".terraform.lock.hcl", "gradle.lockfile",
})  # fmt: skip
_GENERATED_GLOBS: tuple[tuple[str, str], ...] = (
    ("*.min.js", "a minified file (*.min.js)"),
    ("*.min.css", "a minified file (*.min.css)"),
    ("*.min.mjs", "a minified file (*.min.mjs)"),
    ("*-min.js", "a minified file (*-min.js)"),
    ("*.bundle.js", "a bundled file (*.bundle.js)"),
    ("*_pb2.py", "generated protobuf code (*_pb2.py)"),
    ("*_pb2_grpc.py", "generated protobuf code (*_pb2_grpc.py)"),
    ("*.pb.go", "generated protobuf code (*.pb.go)"),
    ("*.pb.cc", "generated protobuf code (*.pb.cc)"),
    ("*.pb.h", "generated protobuf code (*.pb.h)"),
    ("*.g.dart", "generated code (*.g.dart)"),
    ("*.designer.cs", "generated code (*.designer.cs)"),
)
_LINGUIST = re.compile(r"^(-|!)?linguist-(generated|vendored)(=(\S+))?$")


@dataclass(frozen=True)
class SkipRules:
    """Which files a review skips by default, and why: the built-in rules, plus the patterns
    a repository's ``.gitattributes`` marks ``linguist-generated`` or ``linguist-vendored``
    (GitHub's own markers for code that is not the project's)."""

    marked: tuple[tuple[GitIgnoreSpec, str, bool], ...] = ()  # (pattern, reason, skip?)

    @classmethod
    def from_gitattributes(cls, text: str) -> SkipRules:
        marked = []
        for raw in text.splitlines():
            parts = raw.split()
            if not parts or parts[0].startswith("#"):
                continue
            pattern, attributes = parts[0], parts[1:]
            for attribute in attributes:
                match = _LINGUIST.match(attribute)
                if match is None:
                    continue
                unset = match.group(1) is not None or match.group(4) in ("false", "0")
                what = match.group(2)
                reason = f"marked linguist-{what} in .gitattributes ({pattern})"
                marked.append((GitIgnoreSpec.from_lines([pattern]), reason, not unset))
        return cls(tuple(marked))

    def reason(self, relpath: str) -> str | None:
        """Why ``relpath`` is skipped, or None when it is read."""
        verdict: str | None = None
        # Later .gitattributes lines win over earlier ones, as in git.
        for spec, reason, skip in self.marked:
            if spec.match_file(relpath):
                verdict = reason if skip else ""
        if verdict is not None:
            return verdict or None
        path = PurePosixPath(relpath)
        for part in path.parts[:-1]:
            if part in SKIPPED_DIRS:
                return SKIPPED_DIRS[part]
        if path.name in LOCK_FILES:
            return f"a lock file ({path.name})"
        name = path.name.lower()
        for pattern, reason in _GENERATED_GLOBS:
            if fnmatchcase(name, pattern):
                return reason
        return None


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
