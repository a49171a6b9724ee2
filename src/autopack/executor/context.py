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

A file that does not fit is cut to the regions that matter rather than truncated
(:func:`autopack.memory.focus.focus_file`): its head, the definitions the phase names
(deliverable symbols, ``hints`` from retrieval, names in the goal and criteria), their
callees and callers in that file, each with a few lines around, and an outline of the rest;
each elided range is a ``... [lines A-B omitted] ...`` line. A file the phase must edit
(scope, deliverable) is never reduced to an outline alone. What each file kept and left
out, with tokens per region, is in :meth:`ContextBundle.to_record`. Binary, non-UTF-8 and
oversized files, paths outside the worktree and symlinks that leave it are never read;
they are listed in ``omitted``.

With ``repo_map_tokens`` the bundle also carries a repository map
(:mod:`autopack.memory.repomap`): the definitions elsewhere in the repository ranked for
the phase, within that many tokens, taken after the scope, deliverable and read-only files
and before related files.

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
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autopack.domain.plan import Scope
from autopack.executor.context_bundle import (
    ContextBundle,
    ContextFile,
    ContextKind,
    ContextRegion,
    OmittedFile,
    RepoMapRecord,
)
from autopack.memory.focus import ContextHint, Region, focus_file
from autopack.memory.repomap import build_repo_map, words_of
from autopack.memory.tags import TagCache, language_of
from autopack.redaction import SECRET_FILES
from autopack.workspace.guards import DEFAULT_PROTECTED, protected_by

EstimateTokens = Callable[[str], int]
__all__ = [
    "ContextBundle",
    "ContextFile",
    "ContextHint",
    "ContextKind",
    "ContextRegion",
    "OmittedFile",
    "RepoMapRecord",
    "estimate_tokens_by_chars",
    "select_context",
]

# fmt: off
SKIP_DIRS = frozenset({".git", "__pycache__", "node_modules", "build", "dist", "target", ".eggs",
                       ".venv", "venv", ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                       ".autonomous_runs"})
# fmt: on
MAX_FILE_BYTES = 1_000_000
MAX_SCAN_FILES = 5_000  # Python files read when looking for importers
PYTHON_SUFFIXES = (".py", ".pyi")
SOURCE_ROOTS = ("", "src", "lib")
MAP_FLOOR = 24  # 1/24 of the budget: the least a requested repository map gets


def estimate_tokens_by_chars(text: str) -> int:
    """About four characters per token: the default estimate when no tokenizer is given."""
    return (len(text) + 3) // 4


def select_context(
    worktree: Path,
    scope: Scope,
    *,
    token_budget: int,
    deliverables: list[str] | None = None,
    max_file_tokens: int | None = None,
    estimate_tokens: EstimateTokens = estimate_tokens_by_chars,
    protected: Sequence[str] = (),
    goal_texts: Sequence[str] = (),
    hints: Sequence[ContextHint] | None = None,
    repo_map_tokens: int = 0,
    tag_cache: TagCache | None = None,
    worktree_files: Collection[str] | None = None,
) -> ContextBundle:
    """Choose the files for one Builder attempt within ``token_budget`` tokens.

    ``deliverables`` defaults to ``scope.deliverables``. ``max_file_tokens`` caps any one
    file (so one large file cannot take the whole budget); without it a file may use all
    that remains. Paths in the result are POSIX paths relative to ``worktree``; nothing
    outside the worktree is ever read. ``protected`` adds patterns (the run's and the
    project's protected lists) to those that always keep a file out.

    ``goal_texts`` (goal, phase description; the deliverables and acceptance criteria are
    added) name what a cut file keeps and what the map ranks up; ``hints`` (retrieval's
    regions for the phase) add symbols or line ranges a cut file keeps after what the phase
    names, and are recorded in the bundle (None: retrieval did not run).
    ``repo_map_tokens`` > 0 reserves that much of the budget for the repository map.
    ``tag_cache`` keeps parsed tags between calls (default: this call only).
    ``worktree_files``: the worktree's files as git lists them, when the caller knows them
    without asking git (the map then starts no git process; default: git is asked).
    """
    patterns = (*DEFAULT_PROTECTED, *SECRET_FILES, *scope.protected_paths, *protected)
    items = scope.deliverables if deliverables is None else deliverables
    words = words_of([*goal_texts, *items, *scope.acceptance_criteria])
    selector = _Selector(
        worktree,
        token_budget,
        max_file_tokens,
        estimate_tokens,
        patterns,
        _Focus(
            words,
            list(hints or ()),
            tag_cache or TagCache(None),
            repo_map_tokens,
            worktree_files,
        ),
    )
    bundle = selector.run(scope, items)
    bundle.hints = None if hints is None else list(hints)
    return bundle


@dataclass(frozen=True)
class _Focus:
    words: set[str]
    hints: list[ContextHint]
    cache: TagCache
    map_tokens: int
    files: Collection[str] | None = None


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
        focus: _Focus,
    ) -> None:
        self.root = worktree.resolve()
        self.focus = focus
        self.protected = protected
        self.estimate = estimate
        self.max_file_tokens = max_file_tokens
        self.bundle = ContextBundle(token_budget=budget)
        self.seen: set[Path] = set()
        self.symbols: dict[Path, list[str]] = {}
        self.walked: dict[str, list[str]] = {}
        self.imports: dict[str, list[str]] = {}
        self.shares: dict[str, int] = {}

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
        candidates = [
            cand
            for entry, kind, reason, report_missing in targets
            for cand in self._expand(entry, kind, reason, report_missing)
        ]
        sizes = self._sizes([c for c in candidates if c.kind in ("scope", "deliverable")])
        # The map takes what the phase's files leave, up to its size; when they do not fit
        # whole anyway it keeps a small floor (1/MAP_FLOOR of the budget).
        budget, needed = self.bundle.token_budget, sum(sizes.values())
        room = budget - needed if needed <= budget else budget // MAP_FLOOR
        reserve = min(self.focus.map_tokens, room, budget)
        self.bundle.token_budget -= reserve  # the map's share is not the files'
        self._share_budget(sizes)
        for cand in candidates:
            if self._take(cand) and cand.kind in ("scope", "deliverable"):
                core.append(cand.rel)
        self.bundle.token_budget += reserve
        if reserve > 0:
            self._add_repo_map(core, reserve)
        for cand in self._related(core):
            self._take(cand)
        return self.bundle

    def _sizes(self, core: list[_Candidate]) -> dict[str, int]:
        """Estimated tokens of each readable file the phase edits, whole."""
        sizes: dict[str, int] = {}
        for cand in core:
            resolved, _ = self._locate(cand.rel)
            text = _read_text(resolved)[0] if resolved is not None else None
            if text is not None and cand.rel not in sizes:
                sizes[cand.rel] = self.estimate(text)
        return sizes

    def _share_budget(self, sizes: dict[str, int]) -> None:
        """Caps for the files the phase edits when they cannot all be whole: files under
        an equal share are whole, the rest split what is left equally (water-filling), so
        a large file taken first cannot starve the others."""
        left, waiting = self.bundle.token_budget, sorted(sizes.items(), key=lambda kv: kv[1])
        if sum(sizes.values()) <= left:
            return
        while waiting:
            share = left // len(waiting)
            rel, size = waiting.pop(0)
            self.shares[rel] = min(size, share) if size <= share else share
            left -= self.shares[rel]

    def _add_repo_map(self, core: list[str], budget: int) -> None:
        # Files in the prompt stay out, cut ones too: their outline already lists them.
        shown = [f.path for f in self.bundle.files]
        repo_map = build_repo_map(
            self.root,
            token_budget=budget,
            cache=self.focus.cache,
            focus_files=core,
            mentioned=self.focus.words,
            shown=shown,
            readable=lambda rel: self._locate(rel)[0] is not None,
            estimate_tokens=self.estimate,
            files=self.focus.files,
        )
        self.bundle.repo_map = repo_map.text
        self.bundle.tokens_used += repo_map.tokens
        self.bundle.repo_map_record = RepoMapRecord(
            tokens=repo_map.tokens,
            token_budget=budget,
            files=repo_map.files,
            symbols=repo_map.symbols,
            ranked=repo_map.ranked,
            scanned=repo_map.scanned,
            parsed=repo_map.parsed,
        )

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
        file: ContextFile | None = None
        # Its fair share first (when the phase's files cannot all be whole); a file that
        # cannot be shown at all within it may use what remains.
        for limit in dict.fromkeys((min(cap, self.shares.get(cand.rel, cap)), cap)):
            if tokens <= limit:
                file = ContextFile(
                    path=cand.rel, content=text, tokens=tokens, kind=cand.kind, reason=cand.reason
                )
            elif (cut := self._cut(cand, resolved, text, max(limit, 0))) is not None:
                file = cut.model_copy(
                    update={"reason": f"{cut.reason} (cut from ~{tokens} tokens)"}
                )
            if file is not None:
                break
        if file is None:
            why = "token budget exhausted" if remaining <= 0 else "does not fit the budget"
            self._omit(cand.rel, f"{why} (~{tokens} tokens, {max(cap, 0)} available)")
            return False
        self.bundle.files.append(file)
        self.bundle.tokens_used += file.tokens
        return True

    def _cut(self, cand: _Candidate, resolved: Path, text: str, cap: int) -> ContextFile | None:
        """``text`` focused on what the phase names, within ``cap`` tokens."""
        grammar = language_of(cand.rel)
        tags = self.focus.cache.tags(text.encode("utf-8"), grammar) if grammar else None
        mine = [h for h in self.focus.hints if _normalize(h.path) == cand.rel]
        view = focus_file(
            text,
            cap=cap,
            tags=tags,
            symbols=self.symbols.get(resolved, []),
            hints=mine,
            mentioned=self.focus.words,
            must_edit=cand.kind in ("scope", "deliverable"),
            estimate_tokens=self.estimate,
        )
        if view is None:
            return None
        return ContextFile(
            path=cand.rel,
            content=view.content,
            tokens=self.estimate(view.content),
            truncated=True,
            kind=cand.kind,
            reason=f"{cand.reason}; {view.summary}",
            kept=[_region(r) for r in view.kept],
            left_out=[_region(r) for r in view.left_out],
        )

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
        # Cached: a large module is otherwise parsed once per core file and importer.
        if rel not in self.imports:
            self.imports[rel] = self._parse_imports(rel)
        return self.imports[rel]

    def _parse_imports(self, rel: str) -> list[str]:
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


def _region(region: Region) -> ContextRegion:
    return ContextRegion(
        start=region.start, end=region.end, label=region.label, tokens=region.tokens
    )


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
