"""What a Builder sees: the files of its phase, chosen and cut to fit a token budget.

:func:`select_context` takes files in this order, and the first mention of a file wins:

1. ``scope``: ``scope.paths`` entries that are files, and the text files beneath the
   directory entries (sorted; ``.git``, ``__pycache__``, ``node_modules`` and build
   directories are skipped);
2. ``deliverable``: deliverable files that already exist (``path`` or ``path::symbol``);
3. ``read_only``: ``scope.read_only_context`` entries, files or directories;
4. ``related``: Python modules the files above import or are imported by (found with
   :mod:`ast`, resolved against the worktree root, ``src/`` and ``lib/``), then files with
   the same stem next to them and their tests (``test_<stem>.py``, ``<stem>.test.js``,
   ``<stem>_test.go``, ``tests/**/test_<stem>.py``).

A file that does not fit is cut to the parts that matter rather than truncated: its head
(module docstring and imports), the definitions its deliverables name, and for Python an
outline of what was cut (class and def lines with their line numbers); each cut is a
``... [N lines omitted] ...`` line. Binary, non-UTF-8 and oversized files, paths outside
the worktree and symlinks that leave it are never read; they are listed in ``omitted``.

Protected files are never read either, however they are reached (scope, a plan's
read-only context, a directory walk, an import): the guards' protected paths
(``.env*``, ``.git/``, databases), :data:`autopack.redaction.SECRET_FILES` (keys and
credential stores), the phase's own ``protected_paths`` and any the caller adds. Each is
listed in ``omitted`` with the pattern that protects it, so a plan that names one sees why
it was left out. A symlink is judged by both its own path and its target's.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autopack.domain.plan import Scope
from autopack.redaction import SECRET_FILES
from autopack.workspace.guards import DEFAULT_PROTECTED, protected_by

ContextKind = Literal["scope", "deliverable", "read_only", "related"]
EstimateTokens = Callable[[str], int]

# fmt: off
SKIP_DIRS = frozenset({".git", "__pycache__", "node_modules", "build", "dist", "target", ".eggs",
                       ".venv", "venv", ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                       ".autonomous_runs"})
# fmt: on
MAX_FILE_BYTES = 1_000_000
MAX_SCAN_FILES = 5_000  # Python files read when looking for importers
PYTHON_SUFFIXES = (".py", ".pyi")
SOURCE_ROOTS = ("", "src", "lib")
_HEAD_LINE = re.compile(
    r"^\s*($|#|//|/\*|\*|import\b|from\b|package\b|use\b|using\b|require\b"
    r"|const\s+\w+\s*=\s*require\b|\"use strict\")"
)
_DEF_WORDS = r"(?:def|class|function|func|fn|interface|struct|enum|trait|type|impl|const|let|var)"


def estimate_tokens_by_chars(text: str) -> int:
    """About four characters per token: the default estimate when no tokenizer is given."""
    return (len(text) + 3) // 4


class ContextFile(BaseModel):
    """One file as the Builder sees it; ``truncated`` when ``content`` is a cut-down view."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    content: str
    tokens: int
    truncated: bool = False
    kind: ContextKind
    reason: str = ""


class OmittedFile(BaseModel):
    """A file that was considered and left out, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    reason: str


class ContextBundle(BaseModel):
    """The files chosen for an attempt, in prompt order, and the ones left out."""

    model_config = ConfigDict(extra="forbid")

    files: list[ContextFile] = Field(default_factory=list)
    omitted: list[OmittedFile] = Field(default_factory=list)
    tokens_used: int = 0
    token_budget: int

    def to_record(self) -> dict[str, Any]:
        """What was kept and what was left out, without file contents (stored per attempt)."""
        return {
            "token_budget": self.token_budget,
            "tokens_used": self.tokens_used,
            "files": [f.model_dump(exclude={"content"}) for f in self.files],
            "omitted": [o.model_dump() for o in self.omitted],
        }


def select_context(
    worktree: Path,
    scope: Scope,
    *,
    token_budget: int,
    deliverables: list[str] | None = None,
    max_file_tokens: int | None = None,
    estimate_tokens: EstimateTokens = estimate_tokens_by_chars,
    protected: Sequence[str] = (),
) -> ContextBundle:
    """Choose the files for one Builder attempt within ``token_budget`` tokens.

    ``deliverables`` defaults to ``scope.deliverables``. ``max_file_tokens`` caps any one
    file (so one large file cannot take the whole budget); without it a file may use all
    that remains. Paths in the result are POSIX paths relative to ``worktree``; nothing
    outside the worktree is ever read. ``protected`` adds patterns (the run's and the
    project's protected lists) to those that always keep a file out.
    """
    patterns = (*DEFAULT_PROTECTED, *SECRET_FILES, *scope.protected_paths, *protected)
    selector = _Selector(worktree, token_budget, max_file_tokens, estimate_tokens, patterns)
    return selector.run(scope, scope.deliverables if deliverables is None else deliverables)


@dataclass(frozen=True)
class _Candidate:
    rel: str
    kind: ContextKind
    reason: str


class _Selector:
    def __init__(
        self,
        worktree: Path,
        budget: int,
        max_file_tokens: int | None,
        estimate: EstimateTokens,
        protected: tuple[str, ...],
    ) -> None:
        self.root = worktree.resolve()
        self.protected = protected
        self.estimate = estimate
        self.max_file_tokens = max_file_tokens
        self.bundle = ContextBundle(token_budget=budget)
        self.seen: set[Path] = set()
        self.symbols: dict[Path, list[str]] = {}
        self.walked: dict[str, list[str]] = {}

    def run(self, scope: Scope, deliverables: list[str]) -> ContextBundle:
        targets: list[tuple[str, ContextKind, str, bool]] = [
            (p, "scope", "in the phase's scope", True) for p in scope.paths
        ]
        for item in deliverables:
            rel, _, symbol = item.strip().partition("::")
            resolved, _ = self._locate(_normalize(rel))
            if resolved is not None and symbol.strip():
                self.symbols.setdefault(resolved, []).append(symbol.strip())
            targets.append((rel, "deliverable", f"deliverable {item.strip()}", False))
        targets += [
            (e.path, "read_only", e.reason or "read-only context", True)
            for e in scope.read_only_context
        ]
        core: list[str] = []
        for entry, kind, reason, report_missing in targets:
            for cand in self._expand(entry, kind, reason, report_missing):
                if self._take(cand) and kind in ("scope", "deliverable"):
                    core.append(cand.rel)
        for cand in self._related(core):
            self._take(cand)
        return self.bundle

    # -- paths -------------------------------------------------------------------------
    def _locate(self, rel: str) -> tuple[Path | None, str]:
        """The resolved path of ``rel``, or None and why it may not be read."""
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", rel):
            return None, "outside the worktree"
        try:
            resolved = (self.root / pure).resolve()
        except (OSError, RuntimeError):
            return None, "cannot be resolved (symlink loop?)"
        if not resolved.is_relative_to(self.root):
            return None, "a symlink that leads outside the worktree"
        target = resolved.relative_to(self.root).as_posix()
        for path in dict.fromkeys((pure.as_posix(), target)):
            pattern = protected_by(path, self.protected) if path != "." else None
            if pattern is not None:
                return None, f"protected ({pattern}): never shown to a model"
        return resolved, ""

    def _omit(self, rel: str, reason: str) -> None:
        if all(o.path != rel for o in self.bundle.omitted):
            self.bundle.omitted.append(OmittedFile(path=rel, reason=reason))

    def _expand(
        self, entry: str, kind: ContextKind, reason: str, report_missing: bool
    ) -> Iterator[_Candidate]:
        rel = _normalize(entry)
        resolved, refusal = self._locate(rel)
        if resolved is None:
            self._omit(rel, refusal)
        elif resolved.is_dir():
            yield from (_Candidate(f, kind, reason) for f in self._walk(rel))
        elif resolved.is_file():
            yield _Candidate(rel, kind, reason)
        elif report_missing:
            self._omit(rel, "not in the worktree")

    def _walk(self, rel_dir: str, *, recurse: bool = True) -> list[str]:
        """Files beneath ``rel_dir`` (sorted), skipping SKIP_DIRS; symlinked dirs are not
        entered. Cached: the worktree does not change while context is selected."""
        key = f"{rel_dir}|{recurse}"
        if key not in self.walked:
            found: list[str] = []
            for dirpath, dirnames, filenames in os.walk(self.root / rel_dir):
                dirnames[:] = (
                    []
                    if not recurse
                    else [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
                )
                rel = Path(dirpath).relative_to(self.root)
                found.extend((rel / name).as_posix() for name in filenames)
            self.walked[key] = sorted(found)
        return self.walked[key]

    # -- budget ------------------------------------------------------------------------
    def _take(self, cand: _Candidate) -> bool:
        """Add ``cand`` if it is new; True when it was added (whole or cut)."""
        resolved, refusal = self._locate(cand.rel)
        if resolved is None:
            self._omit(cand.rel, refusal)
            return False
        if resolved in self.seen:
            return False
        self.seen.add(resolved)
        text, problem = _read_text(resolved)
        if text is None:
            self._omit(cand.rel, problem)
            return False
        remaining = self.bundle.token_budget - self.bundle.tokens_used
        cap = remaining if self.max_file_tokens is None else min(remaining, self.max_file_tokens)
        tokens = self.estimate(text)
        content, truncated, reason = text, False, cand.reason
        if tokens > cap:
            cut = _condense(
                text,
                cap,
                self.symbols.get(resolved, []),
                cand.rel.endswith(PYTHON_SUFFIXES),
                self.estimate,
            )
            if cut is None:
                why = "token budget exhausted" if remaining <= 0 else "does not fit the budget"
                self._omit(cand.rel, f"{why} (~{tokens} tokens, {max(cap, 0)} available)")
                return False
            content, truncated = cut[0], True
            reason = f"{cand.reason}; cut from ~{tokens} tokens: {cut[1]}"
            tokens = self.estimate(content)
        self.bundle.files.append(
            ContextFile(
                path=cand.rel,
                content=content,
                tokens=tokens,
                truncated=truncated,
                kind=cand.kind,
                reason=reason,
            )
        )
        self.bundle.tokens_used += tokens
        return True

    # -- related files -----------------------------------------------------------------
    def _related(self, core: list[str]) -> Iterator[_Candidate]:
        core_py = [c for c in core if c.endswith(PYTHON_SUFFIXES)]
        core_set = set(core)
        for rel in core_py:
            for target in self._imports_of(rel):
                if target not in core_set:
                    yield _Candidate(target, "related", f"imported by {rel}")
        if core_py:
            for rel, targets in self._importers(core_set):
                hit = sorted(t for t in targets if t in core_set)
                yield _Candidate(rel, "related", f"imports {hit[0]}")
        for rel in core:
            yield from self._companions(rel)

    def _imports_of(self, rel: str) -> list[str]:
        resolved, _ = self._locate(rel)
        text = _read_text(resolved)[0] if resolved else None
        if text is None:
            return []
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return []
        found: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found += self._module_file(alias.name, 0, rel)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                for alias in node.names:
                    qualified = f"{module}.{alias.name}" if module else alias.name
                    hit = self._module_file(qualified, node.level, rel)
                    found += hit or self._module_file(module, node.level, rel)
        return sorted(set(found) - {rel})

    def _module_file(self, module: str, level: int, importer: str) -> list[str]:
        if level:
            base = PurePosixPath(importer).parent
            for _ in range(level - 1):
                base = base.parent
            roots = [base]
        else:
            roots = [PurePosixPath(r) for r in SOURCE_ROOTS]
        parts = [p for p in module.split(".") if p]
        for root in roots:
            stem = root.joinpath(*parts)
            options = (
                [stem / "__init__.py"]
                if not parts
                else [stem.with_name(stem.name + ".py"), stem / "__init__.py"]
            )
            for option in options:
                rel = option.as_posix()
                resolved, _ = self._locate(rel)
                if resolved is not None and resolved.is_file():
                    return [rel]
        return []

    def _importers(self, core: set[str]) -> Iterator[tuple[str, list[str]]]:
        names = {PurePosixPath(c).stem for c in core} | {PurePosixPath(c).parent.name for c in core}
        words = "|".join(sorted(re.escape(n) for n in names - {"__init__", ""}))
        # Reading is cheap, parsing is not: parse only files with an import naming a core module.
        mentions = re.compile(rf"^\s*(from|import)\s.*\b({words})\b", re.MULTILINE)
        python = [r for r in self._walk("") if r.endswith(".py") and r not in core]
        for rel in python[:MAX_SCAN_FILES]:
            resolved, _ = self._locate(rel)
            text = _read_text(resolved)[0] if resolved else None
            if text is not None and words and mentions.search(text):
                targets = self._imports_of(rel)
                if core.intersection(targets):
                    yield rel, targets

    def _companions(self, rel: str) -> Iterator[_Candidate]:
        path = PurePosixPath(rel)
        stem = path.name.split(".")[0]
        names = {stem, f"test_{stem}", f"{stem}_test", f"{stem}_spec"}
        found = [
            f
            for f in self._walk(path.parent.as_posix(), recurse=False)
            if f != rel and PurePosixPath(f).name.split(".")[0] in names
        ]
        if path.suffix == ".py":
            tests = {f"test_{stem}.py", f"{stem}_test.py"}
            found += [
                f
                for top in ("tests", "test")
                if (self.root / top).is_dir()
                for f in self._walk(top)
                if PurePosixPath(f).name in tests
            ]
        for other in found:
            name = PurePosixPath(other).name
            what = "test for" if "test" in name or "spec" in name else "same name as"
            yield _Candidate(other, "related", f"{what} {rel}")


def _normalize(entry: str) -> str:
    text = entry.strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return PurePosixPath(text).as_posix() if text else "."


def _read_text(path: Path) -> tuple[str | None, str]:
    """The file's text, or None and why it is not text we may show."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, f"too large to read ({size} bytes; limit {MAX_FILE_BYTES})"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror or exc}"
    if b"\0" in data[:8192]:
        return None, "binary file"
    try:
        return data.decode("utf-8").replace("\r\n", "\n"), ""
    except UnicodeDecodeError:
        return None, "not UTF-8 text"


# -- cutting a file down ---------------------------------------------------------------
@dataclass
class _Shape:
    head_end: int  # lines [0, head_end) are the head
    symbols: list[tuple[int, int]]  # [start, end) of each named definition
    found: list[str]
    outline: list[tuple[int, int, str]]  # (line index, nesting depth, line)


def _condense(
    text: str, cap: int, symbols: list[str], python: bool, estimate: EstimateTokens
) -> tuple[str, str] | None:
    """``text`` cut to at most ``cap`` tokens and what was kept, or None if nothing fits."""
    lines = text.split("\n")
    shape = _shape(text, lines, symbols, python)
    floor = 0 if shape.symbols else 1  # a view must keep at least one line
    low = max(shape.head_end, floor)

    def view(mode: str, n: int, depth: int) -> str:
        if mode == "clip":
            return _render(lines, 0, [(s, min(e, s + n)) for s, e in shape.symbols], [], 0)
        head, limit = (low, n) if mode == "outline" else (n, None)
        return _render(lines, head, shape.symbols, shape.outline, depth, limit)

    def fits(n: int, mode: str, depth: int) -> bool:
        return estimate(view(mode, n, depth)) <= cap

    # Most of the file with a full outline of the rest; then a top-level outline; then a
    # shorter outline per cut; then no outline; then a shorter head; last, only the start
    # of each named definition.
    plans = [
        ("head", low, len(lines), 99, "an outline of the rest"),
        ("head", low, len(lines), 0, "a top-level outline of the rest"),
        ("outline", 1, len(shape.outline), 0, "part of the outline"),
        ("head", low, len(lines), -1, "no outline"),
        ("head", floor, low, -1, "no outline"),
        ("clip", 1, max((e - s for s, e in shape.symbols), default=0), -1, ""),
    ]
    defs = f"definitions {', '.join(shape.found)}" if shape.found else ""
    for mode, lo, hi, depth, outline in plans:
        n = _largest(lo, hi, partial(fits, mode=mode, depth=depth))
        if n is not None:
            if mode == "clip":
                return view(mode, n, depth), f"kept the first {n} lines of {defs}"
            head = low if mode == "outline" else n
            parts = [f"lines 1-{head}" if head else "", defs, outline]
            return view(mode, n, depth), "kept " + ", ".join(p for p in parts if p)
    return None


def _largest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """The largest n in [lo, hi] with ok(n), assuming ok is monotone; None if not ok(lo)."""
    if lo > hi or not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _render(
    lines: list[str],
    head: int,
    spans: list[tuple[int, int]],
    outline: list[tuple[int, int, str]],
    depth: int,
    limit: int | None = None,
) -> str:
    """Lines [0, head) and the spans; each cut is a marker, then (up to ``limit``) the
    outline entries of nesting depth <= ``depth`` that fall in it."""
    out: list[str] = []
    pos = 0
    for start, end in sorted([(0, head), *spans, (len(lines), len(lines))]):
        if start > pos:
            out.append(f"... [{start - pos} lines omitted] ...")
            cut = [(i, ln) for i, d, ln in outline if pos <= i < start and d <= depth]
            out += [f"...   L{i + 1}: {ln.rstrip()}" for i, ln in cut[:limit]]
            if limit is not None and len(cut) > limit:
                out.append(f"...   (+{len(cut) - limit} more definitions)")
        out += lines[max(start, pos) : end]
        pos = max(pos, end)
    return "\n".join(out)


def _shape(text: str, lines: list[str], symbols: list[str], python: bool) -> _Shape:
    if python:
        try:
            return _python_shape(ast.parse(text), lines, symbols)
        except (SyntaxError, ValueError):
            pass
    head = 0
    while head < min(len(lines), 60) and _HEAD_LINE.match(lines[head]):
        head += 1
    spans, found = [], []
    for symbol in symbols:
        span = _generic_symbol(lines, symbol)
        if span:
            spans.append(span)
            found.append(symbol)
    outline = [
        (i, 0 if not ln[:1].isspace() else 1, ln)
        for i, ln in enumerate(lines)
        if python and re.match(r"\s*(async\s+def|def|class)\s", ln)
    ]
    return _Shape(head, spans, found, outline)


def _python_shape(tree: ast.Module, lines: list[str], symbols: list[str]) -> _Shape:
    head = 0
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        guarded = isinstance(node, ast.If | ast.Try) and any(
            isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(node)
        )
        if not (docstring or guarded or isinstance(node, ast.Import | ast.ImportFrom)):
            break
        head = node.end_lineno or head
    outline: list[tuple[int, int, str]] = []

    def visit(body: list[ast.stmt], depth: int) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                outline.append((node.lineno - 1, depth, lines[node.lineno - 1]))
                if isinstance(node, ast.ClassDef):
                    visit(node.body, depth + 1)

    visit(tree.body, 0)
    spans, found = [], []
    for symbol in symbols:
        found_node = _python_symbol(tree.body, symbol.split("."))
        if found_node is not None:
            decorators = getattr(found_node, "decorator_list", [])
            start = min([found_node.lineno, *(d.lineno for d in decorators)]) - 1
            spans.append((start, found_node.end_lineno or found_node.lineno))
            found.append(symbol)
    return _Shape(head, spans, found, outline)


def _python_symbol(body: list[ast.stmt], parts: list[str]) -> ast.stmt | None:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        else:
            continue
        if parts[0] in names:
            if len(parts) == 1:
                return node
            return _python_symbol(node.body, parts[1:]) if isinstance(node, ast.ClassDef) else None
    return None


def _generic_symbol(lines: list[str], symbol: str) -> tuple[int, int] | None:
    """The block defining ``symbol`` in a non-Python file, by keyword and indentation."""
    name = re.escape(symbol.split(".")[-1])
    start = next(
        (i for i, ln in enumerate(lines) if re.search(rf"\b{_DEF_WORDS}\s+{name}\b", ln)), None
    )
    if start is None:
        start = next((i for i, ln in enumerate(lines) if re.search(rf"\b{name}\b", ln)), None)
    if start is None:
        return None
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < min(len(lines), start + 300):
        line = lines[end]
        stripped = line.lstrip()
        if stripped and len(line) - len(stripped) <= indent and stripped[0] not in "})]":
            break
        end += 1
    return start, end
