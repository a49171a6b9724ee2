"""Code chunks: a worktree's files cut at top-level definitions, or into line windows.

A chunk is what retrieval returns for code: a path, the symbol it defines (when it is a
definition), its line range and its text. Only files git tracks are read (or, outside
git, files not hidden and not in dependency folders), never protected or secret files,
never binary or very large ones.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autopack.redaction import SECRET_FILES
from autopack.workspace.guards import DEFAULT_PROTECTED, protected_by

#: Bigger files are generated or data, not code to retrieve.
MAX_FILE_BYTES = 1_000_000
#: A definition longer than this is cut into windows, so one chunk stays promptable.
MAX_CHUNK_LINES = 120
WINDOW_LINES = 60
_SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", "dist", "build"})
_TEXT_SUFFIXES = frozenset(
    [
        ".py",
        ".pyi",
        ".js",
        ".jsx",
        ".ts",
        ".tsx",
        ".mjs",
        ".cjs",
        ".go",
        ".rs",
        ".java",
        ".kt",
        ".rb",
        ".php",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".hpp",
        ".cs",
        ".swift",
        ".scala",
        ".sh",
        ".md",
        ".rst",
        ".txt",
        ".toml",
        ".yaml",
        ".yml",
        ".json",
        ".cfg",
        ".ini",
        ".sql",
        ".html",
        ".css",
    ]
)
#: A top-level definition in the languages Autopack builds (column 0, so nested ones
#: stay inside their parent's chunk).
_DEFINITION = re.compile(
    r"^(?:(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:def|class|function|interface|type|enum)"
    r"|(?:pub(?:\([^)]*\)\s*)?\s+)?(?:async\s+)?(?:fn|struct|trait|impl|mod)"
    r"|func|(?:public|private|protected)?\s*(?:abstract\s+|final\s+)?(?:class|interface|record))"
    r"\s+(?:\([^)]*\)\s*)?([A-Za-z_$][\w$]*)"
)


@dataclass(frozen=True)
class Chunk:
    """Lines ``start``..``end`` (1-based, inclusive) of ``path``; ``symbol`` is the
    top-level name defined there, or "" for a window of other lines."""

    path: str
    symbol: str
    start: int
    end: int
    text: str

    @property
    def key(self) -> str:
        return f"{self.path}#L{self.start}"

    @property
    def title(self) -> str:
        return f"{self.path} {self.symbol}".strip()


def candidate_files(root: Path) -> list[str]:
    """Relative paths of the text files under ``root`` worth indexing, sorted."""
    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if done.returncode == 0:
        paths = [p for p in done.stdout.decode("utf-8", "replace").split("\0") if p]
    else:
        paths = list(_walk(root))
    return sorted(filter(indexable, paths))


def indexable(path: str) -> bool:
    """Whether a repository-relative path is a text file worth indexing (by its suffix;
    protected and secret files never are)."""
    blocked = (*DEFAULT_PROTECTED, *SECRET_FILES)
    return Path(path).suffix.lower() in _TEXT_SUFFIXES and protected_by(path, blocked) is None


def _walk(root: Path) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")]
        for name in filenames:
            yield (Path(dirpath) / name).relative_to(root).as_posix()


def read_text(path: Path) -> str | None:
    """The file's text, or None when it is missing, too big, binary or not UTF-8."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def chunk_file(path: str, content: str) -> list[Chunk]:
    """``content`` cut at top-level definitions (the lines before the first one are a
    chunk of their own); long pieces and files without definitions become windows."""
    lines = content.splitlines()
    if not lines:
        return []
    starts = [i for i, line in enumerate(lines) if _DEFINITION.match(line)]
    # Decorators and comments directly above a definition belong to it.
    pieces: list[tuple[int, int, str]] = []
    bounds = [_lead_in(lines, s) for s in starts]
    if not bounds or bounds[0] > 0:
        pieces.append((0, (bounds[0] if bounds else len(lines)) - 1, ""))
    for n, (begin, at) in enumerate(zip(bounds, starts, strict=True)):
        end = (bounds[n + 1] if n + 1 < len(bounds) else len(lines)) - 1
        match = _DEFINITION.match(lines[at])
        pieces.append((begin, end, match.group(1) if match else ""))
    chunks: list[Chunk] = []
    for begin, end, symbol in pieces:
        while end > begin and not lines[end].strip():
            end -= 1
        if not any(line.strip() for line in lines[begin : end + 1]):
            continue
        if end - begin + 1 <= MAX_CHUNK_LINES:
            chunks.append(_chunk(path, symbol, lines, begin, end))
            continue
        for low in range(begin, end + 1, WINDOW_LINES):
            chunks.append(_chunk(path, symbol, lines, low, min(end, low + WINDOW_LINES - 1)))
    return chunks


def _lead_in(lines: list[str], start: int) -> int:
    while start > 0 and lines[start - 1].startswith(("@", "#", "//", "///", "/**", " *")):
        start -= 1
    return start


def _chunk(path: str, symbol: str, lines: list[str], begin: int, end: int) -> Chunk:
    return Chunk(path, symbol, begin + 1, end + 1, "\n".join(lines[begin : end + 1]))
