"""One large file cut down to the regions a phase needs, with the rest outlined.

:func:`focus_file` keeps, in this order and as far as ``cap`` tokens allow: the file's head
(docstring, imports), the definitions the phase names (deliverable symbols, names in the
goal and criteria), then the regions retrieval found for it (:class:`ContextHint`: what the
goal describes without naming), each with a few lines around, the definitions they
call in the file (callees), and those that call them (callers), found from the file's
tree-sitter tags (:mod:`autopack.memory.tags`). Every elided range is one marker line
``... [lines A-B omitted] ...`` (1-based, inclusive) followed by an outline of the
definitions inside it (``...   L<n>: <line>``), so an edit can still be anchored on kept
text and a reader knows what lies where.

A file the phase must edit (``must_edit``) is never reduced to an outline alone: when
nothing it names is found, the definitions whose identifiers share the most words with
the goal are kept; failing that, the start of the file. What was kept and left out is
returned as :class:`Region` items with their tokens, for the attempt's record.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from autopack.memory.tags import Definition, FileTags

CONTEXT_LINES = 3  # lines kept around each region: enough to anchor an edit
MAX_ITEMS = 80  # regions considered per file (callers of a popular function are many)
EstimateTokens = Callable[[str], int]
_HEAD = re.compile(
    r"^\s*($|#|//|/\*|\*|import\b|from\b|package\b|use\b|using\b|require\b"
    r"|const\s+\w+\s*=\s*require\b|\"use strict\")"
)
_SPLIT = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# Words too common in goals to say which code a phase is about.
_STOP_WORDS = (
    "the and for with from that this into when then than not are was were has have add use "
    "using should must make new fix test tests file files code value values return returns "
    "none true false self"
)
_STOP = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True, slots=True)
class ContextHint:
    """A place that matters for a phase without being named by it: ``path`` lines
    ``start_line``-``end_line`` (1-based, inclusive; 0 when only a symbol is known),
    defining ``symbol`` ("" for other lines). ``method`` says who suggested it (retrieval's
    ``lexical``/``semantic``/``hybrid``, or a caller's word) with ``score`` for ranking."""

    path: str
    symbol: str = ""
    start_line: int = 0
    end_line: int = 0
    score: float = 0.0
    method: str = ""

    @property
    def lines(self) -> tuple[int, int] | None:
        """The 1-based inclusive line range, when the hint has one."""
        if 1 <= self.start_line <= self.end_line:
            return (self.start_line, self.end_line)
        return None


@dataclass(frozen=True, slots=True)
class Region:
    """Lines ``start``..``end`` (1-based, inclusive) kept or left out, and why."""

    start: int
    end: int
    label: str
    tokens: int


@dataclass(frozen=True, slots=True)
class FocusedView:
    """The cut-down text, what it kept and left out, and a one-line summary."""

    content: str
    kept: list[Region]
    left_out: list[Region]
    summary: str


@dataclass(frozen=True, slots=True)
class _Item:
    start: int  # 0-based, inclusive
    end: int  # 0-based, exclusive
    label: str
    name: str = ""  # the definition's name, when the item is one


def focus_file(
    text: str,
    *,
    cap: int,
    tags: FileTags | None,
    symbols: Sequence[str] = (),
    hints: Sequence[ContextHint] = (),
    mentioned: Collection[str] = (),
    must_edit: bool,
    estimate_tokens: EstimateTokens,
) -> FocusedView | None:
    """``text`` cut to at most ``cap`` tokens around what matters, or None if not even one
    line fits. ``symbols``: names the phase must work on (``Class.method`` allowed);
    ``hints``: regions retrieval found for the phase in this file (kept after what the
    phase names, labelled ``(retrieval)``); ``mentioned``: the words of the goal,
    deliverables and criteria. ``tags`` None (a language without a
    grammar): definitions are found by keyword and indentation instead."""
    lines = text.split("\n")
    defs = list(tags.defs) if tags is not None else []
    refs = list(tags.refs) if tags is not None else []
    if tags is None:
        defs = [d for s in symbols if (d := _keyword_definition(lines, s)) is not None]
    head = _head_end(lines)
    targets = _named(defs, symbols, mentioned, hints, len(lines))
    if not targets and must_edit:
        targets = _overlapping(defs, refs, mentioned)
    items: list[_Item] = [_Item(0, head, "head (imports)")] if head else []
    items += targets
    items += _neighbours(defs, refs, targets)
    if targets and must_edit:
        # Room left after what is named goes to what shares the goal's words.
        items += _overlapping(defs, refs, mentioned)
    items = _widen(items[:MAX_ITEMS], len(lines))
    outline = _outline(defs)
    chooser = _Chooser(lines, outline, cap, estimate_tokens)
    view = chooser.choose(items, fallback_start=must_edit)
    if view is None:
        return None
    content, kept = view
    left = _gaps(kept, len(lines))
    kept_regions = [
        Region(i.start + 1, i.end, i.label, estimate_tokens("\n".join(lines[i.start : i.end])))
        for i in kept
    ]
    left_regions = [
        Region(s + 1, e, "omitted", estimate_tokens("\n".join(lines[s:e]))) for s, e in left
    ]
    named = [i.label for i in kept if i.label.split(" ", 1)[0] != "head"]
    summary = "kept " + (", ".join(named[:6]) if named else "the head")
    if len(named) > 6:
        summary += f" and {len(named) - 6} more"
    return FocusedView(content, kept_regions, left_regions, summary + "; the rest outlined")


def _head_end(lines: list[str]) -> int:
    """The leading docstring, comments and imports (at most 60 lines)."""
    end, limit = 0, min(len(lines), 60)
    if end < limit and lines[0].lstrip().startswith(('"""', "'''")):
        quote = lines[0].lstrip()[:3]
        end = (
            1
            if lines[0].count(quote) >= 2
            else next((i + 1 for i in range(1, limit) if quote in lines[i]), limit)
        )
    while end < limit and _HEAD.match(lines[end]):
        end += 1
    return min(end, limit)


def _named(
    defs: list[Definition],
    symbols: Sequence[str],
    mentioned: Collection[str],
    hints: Sequence[ContextHint],
    total: int,
) -> list[_Item]:
    found: list[_Item] = []
    for symbol in symbols:
        parts = [p for p in symbol.split(".") if p]
        for d in defs:
            if parts and d.name == parts[-1] and _inside(defs, d, parts[:-1]):
                found.append(_Item(d.start, d.end + 1, f"{symbol} (named)", d.name))
    # Names in the goal and criteria: the rarer a name in this file, the surer the match.
    counts: dict[str, int] = {}
    for d in defs:
        counts[d.name] = counts.get(d.name, 0) + 1
    by_goal = sorted(
        (d for d in defs if d.name in mentioned and len(d.name) >= 3),
        key=lambda d: (counts[d.name], -len(d.name), d.start),
    )
    found += [_Item(d.start, d.end + 1, f"{d.name} (in the goal)", d.name) for d in by_goal]
    # Retrieval's regions come after what the phase names: a name is surer than a match.
    found += [item for h in hints if (item := _hinted(defs, h, total)) is not None]
    return _unique(found)


def _hinted(defs: list[Definition], hint: ContextHint, total: int) -> _Item | None:
    """The definition a hint points at (its symbol, within its lines when it has them),
    else the hint's lines as they are (a window of a long definition stays a window)."""
    lines = hint.lines
    for d in defs:
        if hint.symbol and d.name == hint.symbol.split(".")[-1]:
            inside = lines is None or (
                lines[0] - 1 - CONTEXT_LINES <= d.start and d.end <= lines[1] - 1 + CONTEXT_LINES
            )
            if inside:
                return _Item(d.start, d.end + 1, f"{d.name} (retrieval)", d.name)
    if lines is None or lines[0] > total:
        return None
    start, end = lines
    label = f"{hint.symbol} (retrieval)" if hint.symbol else f"lines {start}-{end} (retrieval)"
    return _Item(start - 1, min(end, total), label, hint.symbol)


def _inside(defs: list[Definition], d: Definition, outer: list[str]) -> bool:
    if not outer:
        return True
    return any(o.name == outer[-1] and o.start <= d.start and d.end <= o.end for o in defs)


def _words(name: str) -> set[str]:
    return {w.lower() for w in _SPLIT.findall(name) if len(w) >= 3} - _STOP


def _overlapping(
    defs: list[Definition], refs: list[tuple[str, int]], mentioned: Collection[str]
) -> list[_Item]:
    """Definitions ranked by how many goal words their name and the names they use share."""
    goal = set().union(*(_words(m) for m in mentioned)) if mentioned else set()
    if not goal:
        return []
    lines = [line for _, line in refs]  # refs are sorted by line
    scored: list[tuple[int, int, Definition]] = []
    for d in defs:
        low, high = bisect_left(lines, d.start), bisect_right(lines, d.end)
        used = {name for name, _ in refs[low:high]}
        words = _words(d.name) | set().union(*(_words(u) for u in used)) if used else _words(d.name)
        score = 3 * len(_words(d.name) & goal) + len(words & goal)
        if score:
            scored.append((-score, d.end - d.start, d))
    scored.sort(key=lambda item: (item[0], item[1], item[2].start))
    return [
        _Item(d.start, d.end + 1, f"{d.name} (shares words with the goal)", d.name)
        for *_, d in scored
    ]


def _neighbours(
    defs: list[Definition], refs: list[tuple[str, int]], targets: list[_Item]
) -> list[_Item]:
    """Callees of the targets defined in this file, then the definitions calling them."""
    by_name: dict[str, list[Definition]] = {}
    for d in defs:
        by_name.setdefault(d.name, []).append(d)
    callees: list[_Item] = []
    callers: list[_Item] = []
    target_names = {t.name for t in targets if t.name}
    lines = [line for _, line in refs]  # refs are sorted by line
    for t in targets:
        for name, _line in refs[bisect_left(lines, t.start) : bisect_left(lines, t.end)]:
            callees += [
                _Item(d.start, d.end + 1, f"{d.name} (used by {t.name or t.label})", d.name)
                for d in by_name.get(name, [])
                if not (t.start <= d.start and d.end < t.end)
            ]
    for name, line in refs:
        if name in target_names:
            holder = _innermost(defs, line)
            if holder is not None and holder.name not in target_names:
                callers.append(
                    _Item(holder.start, holder.end + 1, f"{holder.name} (uses {name})", holder.name)
                )
    return _unique(callees) + _unique(callers)


def _innermost(defs: list[Definition], line: int) -> Definition | None:
    holding = [d for d in defs if d.start <= line <= d.end]
    return min(holding, key=lambda d: d.end - d.start) if holding else None


def _unique(items: list[_Item]) -> list[_Item]:
    seen: set[tuple[int, int]] = set()
    out: list[_Item] = []
    for item in items:
        if (item.start, item.end) not in seen:
            seen.add((item.start, item.end))
            out.append(item)
    return out


def _widen(items: list[_Item], total: int) -> list[_Item]:
    return [
        i
        if i.label.startswith("head")
        else _Item(
            max(0, i.start - CONTEXT_LINES), min(total, i.end + CONTEXT_LINES), i.label, i.name
        )
        for i in items
    ]


def _outline(defs: list[Definition]) -> list[tuple[int, int]]:
    """(line, depth) of every definition, top-level first so a short outline keeps them."""
    out: list[tuple[int, int]] = []
    open_ends: list[int] = []  # ends of the definitions enclosing the current one
    for d in sorted(defs, key=lambda d: (d.start, -d.end)):
        while open_ends and open_ends[-1] < d.start:
            open_ends.pop()
        out.append((d.line, len(open_ends)))
        open_ends.append(d.end)
    return sorted(out, key=lambda x: (x[1], x[0]))


def _gaps(kept: list[_Item], total: int) -> list[tuple[int, int]]:
    out, pos = [], 0
    for item in sorted(kept, key=lambda i: i.start):
        if item.start > pos:
            out.append((pos, item.start))
        pos = max(pos, item.end)
    if pos < total:
        out.append((pos, total))
    return out


class _Chooser:
    """Picks the items that fit ``cap`` in priority order, then as much outline as fits."""

    def __init__(
        self,
        lines: list[str],
        outline: list[tuple[int, int]],
        cap: int,
        estimate: EstimateTokens,
    ) -> None:
        self.lines, self.outline, self.cap, self.estimate = lines, outline, cap, estimate

    def render(self, kept: list[_Item], outline: int) -> str:
        shown = sorted(line for line, _ in self.outline[:outline])
        out: list[str] = []
        pos = 0
        spans = [*sorted((i.start, i.end) for i in kept), (len(self.lines), len(self.lines))]
        for start, end in spans:
            if start > pos:
                out.append(f"... [lines {pos + 1}-{start} omitted] ...")
                out += [
                    f"...   L{n + 1}: {self.lines[n].rstrip()}" for n in shown if pos <= n < start
                ]
            out += self.lines[max(start, pos) : end]
            pos = max(pos, end)
        return "\n".join(out)

    def fits(self, kept: list[_Item], outline: int = 0) -> bool:
        return self.estimate(self.render(kept, outline)) <= self.cap

    def choose(self, items: list[_Item], *, fallback_start: bool) -> tuple[str, list[_Item]] | None:
        # The outline gets up to a quarter of the cap; regions what the outline leaves.
        full_outline = self.estimate(self.render([], len(self.outline))) if self.outline else 0
        reserve = min(full_outline, self.cap // 4)
        room = _Chooser(self.lines, self.outline, self.cap - reserve, self.estimate)
        kept: list[_Item] = []
        for item in items:
            if room.fits([*kept, item]):
                kept.append(item)
        named = [i for i in items if not i.label.startswith("head")]
        if named and not any(k in kept for k in named):
            # Not even the first named region fits: keep as much of its start as fits.
            first = named[0]
            n = _largest(
                1,
                first.end - first.start,
                lambda k: self.fits([_Item(first.start, first.start + k, first.label)]),
            )
            if n is None:
                return None
            kept = [_Item(first.start, first.start + n, f"{first.label}, first {n} lines")]
        elif not named and fallback_start:
            # Nothing to focus on in a file the phase edits: its start, as far as fits.
            n = _largest(1, len(self.lines), lambda k: room.fits([_Item(0, k, "start")]))
            n = n or _largest(1, len(self.lines), lambda k: self.fits([_Item(0, k, "start")]))
            if n is None:
                return None
            kept = [_Item(0, n, f"lines 1-{n}")]
        if not kept and not self.fits([]):
            return None
        count = _largest(0, len(self.outline), lambda k: self.fits(kept, k)) or 0
        return self.render(kept, count), kept


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


def _keyword_definition(lines: list[str], symbol: str) -> Definition | None:
    """The block defining ``symbol`` in a file without a grammar, by keyword and indent."""
    name = re.escape(symbol.split(".")[-1])
    pattern = re.compile(rf"\b{name}\b")
    start = next((i for i, ln in enumerate(lines) if pattern.search(ln)), None)
    if start is None:
        return None
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < min(len(lines), start + 300):
        stripped = lines[end].lstrip()
        if stripped and len(lines[end]) - len(stripped) <= indent and stripped[0] not in "})]":
            break
        end += 1
    return Definition(symbol.split(".")[-1], start, end - 1, start)
