"""A map of the repository for one phase: the definitions that matter most, within a budget.

Like aider's repository map: every source file's tags (:mod:`autopack.memory.tags`, cached
by content hash) give a graph whose edges run from a file that references a name to the
files that define it, weighted by how often and how specific the name is. A PageRank over
that graph, personalised towards the phase's files and the files named in its text, ranks
the files; each file's rank flows along its edges onto the definitions it uses, which ranks
the definitions. The top definitions are rendered as their signature lines (with the
enclosing class or type) grouped by file, as many as fit ``token_budget`` (found by a
binary search on the number of definitions).

The map leaves out the files the prompt already shows, and never lists a file that
``readable`` refuses (protected or secret files).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autopack.memory.tags import Definition, FileTags, TagCache, language_of

MAX_MAP_FILES = 5_000  # source files read for one map; a larger repository is sampled by path
MAX_FILE_BYTES = 1_000_000
DAMPING = 0.85
_SKIP_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv", "venv", "build", "dist"})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EstimateTokens = Callable[[str], int]


@dataclass
class RepoMap:
    """The rendered map and what went into it (``parsed``: files parsed, not cached)."""

    text: str
    tokens: int
    files: list[str] = field(default_factory=list)
    symbols: int = 0
    ranked: int = 0
    scanned: int = 0
    parsed: int = 0


@dataclass(frozen=True, slots=True)
class _Source:
    path: str
    tags: FileTags


def words_of(texts: Iterable[str]) -> set[str]:
    """The identifiers and words in ``texts`` (goal, deliverables, criteria), as written and
    split at dots, so ``pkg.mod::Class.method`` gives ``Class`` and ``method`` too."""
    found: set[str] = set()
    for text in texts:
        found.update(_WORD.findall(text))
    return found


def is_source_file(path: str) -> bool:
    """Whether the map reads ``path`` (a supported language)."""
    return language_of(path) is not None


def list_source_files(root: Path, files: Iterable[str] | None = None) -> list[str]:
    """Supported source files of ``root`` as POSIX paths: git's tracked and untracked
    (not ignored) files when ``root`` is a git work tree, else a directory walk.

    ``files``: that list of git's (all of it, or its source files), when the caller
    already knows it (the workspace does while it knows the worktree clean); then no git
    process lists or walks it again."""
    if files is not None:
        return sorted(p for p in files if language_of(p) is not None)
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode("utf-8", "replace")
        paths = [p for p in out.split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        paths = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            rel = Path(dirpath).relative_to(root)
            paths.extend((rel / name).as_posix() for name in filenames)
    return sorted({p for p in paths if language_of(p) is not None})


def build_repo_map(
    root: Path,
    *,
    token_budget: int,
    cache: TagCache,
    focus_files: Collection[str] = (),
    mentioned: Collection[str] = (),
    shown: Collection[str] = (),
    readable: Callable[[str], bool] = lambda _path: True,
    estimate_tokens: EstimateTokens,
    files: Iterable[str] | None = None,
) -> RepoMap:
    """The repository map of ``root`` for a phase, at most ``token_budget`` tokens.

    ``focus_files``: the phase's files (the ranking is personalised towards them and the
    names they use). ``mentioned``: words of the goal, deliverables and criteria (names in
    it weigh ten times more; files whose name is mentioned join the focus). ``shown``:
    files the prompt already holds, left out of the map. ``files``: the worktree's files
    as git lists them, if the caller knows them (see :func:`list_source_files`). An
    empty map (no supported files, or a budget too small for one definition) has
    ``text == ""``.
    """
    parses_before = cache.parses
    sources = _read_sources(root, readable, cache, files)
    ranked = rank_definitions(sources, set(focus_files), set(mentioned))
    shown_set = set(shown)
    ranked = [(path, d) for path, d in ranked if path not in shown_set]
    lines = _LineReader(root)

    def render(n: int) -> str:
        return _render(ranked[:n], lines)

    low, high = 0, len(ranked)
    while low < high:  # the largest n whose rendering fits
        mid = (low + high + 1) // 2
        if estimate_tokens(render(mid)) <= token_budget:
            low = mid
        else:
            high = mid - 1
    text = render(low)
    chosen = ranked[:low]
    return RepoMap(
        text=text,
        tokens=estimate_tokens(text) if text else 0,
        files=list(dict.fromkeys(path for path, _ in chosen)),
        symbols=low,
        ranked=len(ranked),
        scanned=len(sources),
        parsed=cache.parses - parses_before,
    )


def _read_sources(
    root: Path, readable: Callable[[str], bool], cache: TagCache, files: Iterable[str] | None
) -> list[_Source]:
    sources: list[_Source] = []
    for rel in list_source_files(root, files)[:MAX_MAP_FILES]:
        grammar = language_of(rel)
        path = root / rel
        if grammar is None or not readable(rel) or path.is_symlink():
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        sources.append(_Source(rel, cache.tags(data, grammar)))
    return sources


def rank_definitions(
    sources: Sequence[_Source], focus: set[str], mentioned: set[str]
) -> list[tuple[str, Definition]]:
    """Every definition of ``sources`` (path, definition), best first; see the module
    docstring for how. Ties break by path and line, so the order is deterministic."""
    defines: dict[str, set[str]] = defaultdict(set)
    for src in sources:
        for d in src.tags.defs:
            defines[d.name].add(src.path)
    references: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for src in sources:
        for name, _line in src.tags.refs:
            if name in defines:
                references[name][src.path] += 1
    # Edges referencer -> definer, and which names carry each edge's weight.
    edges: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for name, users in references.items():
        weight = _name_weight(name, mentioned, len(defines[name]))
        for user, count in users.items():
            boost = 50.0 if user in focus else 1.0
            for definer in defines[name] - {user}:
                edges[(user, definer)][name] += weight * boost * math.sqrt(count)
    nodes = sorted({s.path for s in sources})
    # The walk restarts at the phase's files, files named in its text and files defining
    # a name in it, so what the phase talks about ranks even when nothing uses it yet.
    named_files = {
        path
        for name in mentioned
        if len(name) >= 4 and 0 < len(defines.get(name, ())) <= 5  # specific names only
        for path in defines[name]
    }
    personal = {
        p for p in nodes if p in focus or p in named_files or PurePosixPath(p).stem in mentioned
    }
    rank = _pagerank(nodes, edges, personal)
    out_weight: dict[str, float] = defaultdict(float)
    for (user, _), names in edges.items():
        out_weight[user] += sum(names.values())
    score: dict[tuple[str, str], float] = defaultdict(float)
    for (user, definer), names in edges.items():
        for name, weight in names.items():
            score[(definer, name)] += rank[user] * weight / out_weight[user]
    ranked: list[tuple[float, str, Definition]] = []
    for src in sources:
        for d in src.tags.defs:
            # A definition nobody uses still ranks by its file; a mentioned one rises.
            base = score.get((src.path, d.name), 0.0) + 0.01 * rank[src.path]
            ranked.append((base * (10.0 if d.name in mentioned else 1.0), src.path, d))
    ranked.sort(key=lambda item: (-item[0], item[1], item[2].line))
    return [(path, d) for _, path, d in ranked]


def _name_weight(name: str, mentioned: set[str], definers: int) -> float:
    weight = 1.0
    if name in mentioned:
        weight *= 10.0
    if len(name) >= 8 and ("_" in name.strip("_") or name != name.lower()):
        weight *= 10.0  # long compound names are specific: a use says more
    if name.startswith("_"):
        weight *= 0.1
    if definers > 5:
        weight *= 0.1  # defined everywhere (run, main, __init__): says little
    return weight


def _pagerank(
    nodes: list[str], edges: dict[tuple[str, str], dict[str, float]], personal: set[str]
) -> dict[str, float]:
    """Personalised PageRank by power iteration (a dangling file's rank returns to the
    personalisation vector, so the ranks sum to one)."""
    if not nodes:
        return {}
    teleport = {n: (1.0 / len(personal) if n in personal else 0.0) for n in nodes}
    if not personal:
        teleport = dict.fromkeys(nodes, 1.0 / len(nodes))
    outgoing: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for (src, dst), names in edges.items():
        outgoing[src].append((dst, sum(names.values())))
    totals = {src: sum(w for _, w in targets) for src, targets in outgoing.items()}
    rank = dict(teleport)
    for _ in range(100):
        dangling = sum(rank[n] for n in nodes if totals.get(n, 0.0) <= 0.0)
        new = {n: (1 - DAMPING + DAMPING * dangling) * teleport[n] for n in nodes}
        for src, targets in outgoing.items():
            if totals[src] > 0.0:
                share = DAMPING * rank[src] / totals[src]
                for dst, weight in targets:
                    new[dst] += share * weight
        delta = sum(abs(new[n] - rank[n]) for n in nodes)
        rank = new
        if delta < 1e-9:
            break
    return rank


class _LineReader:
    """Lines of files under ``root``, each file read once per map."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lines: dict[str, list[str]] = {}

    def get(self, rel: str) -> list[str]:
        if rel not in self._lines:
            try:
                text = (self.root / rel).read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            self._lines[rel] = text.split("\n")
        return self._lines[rel]


def _render(chosen: Sequence[tuple[str, Definition]], lines: _LineReader) -> str:
    """Chosen definitions grouped by file (files in rank order), each as its numbered
    signature line under the lines of the definitions enclosing it; ``⋮`` marks a gap."""
    by_file: dict[str, list[Definition]] = {}
    for path, d in chosen:
        by_file.setdefault(path, []).append(d)
    blocks: list[str] = []
    for path, defs in by_file.items():
        text = lines.get(path)
        wanted: set[int] = set()
        for d in defs:
            wanted.add(d.line)
            wanted.update(e.line for e in _enclosing(path, d, lines))
        out = [f"{path}:"]
        previous = -2
        for number in sorted(n for n in wanted if n < len(text)):
            if number != previous + 1:
                out.append("⋮")
            out.append(f"{number + 1:>5}│ {text[number].rstrip()[:200]}")
            previous = number
        blocks.append("\n".join(out))
    return "\n".join(blocks)


def _enclosing(path: str, d: Definition, lines: _LineReader) -> list[Definition]:
    # The enclosing class/type lines are found by indentation: cheaper than keeping every
    # file's tags for rendering, and right for the nested definitions maps show.
    text = lines.get(path)
    if d.line >= len(text):
        return []
    indent = len(text[d.line]) - len(text[d.line].lstrip())
    found: list[Definition] = []
    for number in range(d.line - 1, -1, -1):
        if indent == 0:
            break
        line = text[number]
        stripped = line.lstrip()
        if stripped and len(line) - len(stripped) < indent and _OPENER.match(stripped):
            indent = len(line) - len(stripped)
            found.append(Definition("", number, d.end, number))
    return found


_OPENER = re.compile(
    r"(export\s+)?(pub(\([^)]*\))?\s+)?(public\s+|private\s+|protected\s+|abstract\s+|static\s+"
    r"|final\s+|async\s+)*(class|interface|struct|enum|trait|impl|type|def|fn|func|function"
    r"|object|module|namespace)\b"
)
