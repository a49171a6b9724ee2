"""Splicing a model's change into the file's own text.

When a block was placed by the whitespace or fuzzy method, the model's ``old`` text and
the file's text differ in details the model did not mean to change: indentation (or tabs
for spaces), trailing spaces, blank lines, a stale comment. Replacing the file's lines
with the model's ``new`` text would silently rewrite those details. Instead,
:func:`splice_lines` diffs ``old`` against ``new`` to learn what the model *changed*, maps
``old`` onto the file's lines, and applies only the changes: unchanged lines keep the
file's bytes, new lines get the file's indentation style.
"""

from __future__ import annotations

from collections import Counter
from difflib import SequenceMatcher
from math import gcd

from autopack.workspace.matching import normalize_line


class SpliceAmbiguous(ValueError):
    """The change cannot be mapped onto the file's lines without guessing."""


def leading_ws(line: str) -> str:
    """The line's indentation (spaces and tabs)."""
    return line[: len(line) - len(line.lstrip(" \t"))]


class Reindenter:
    """Translates the model's indentation to the file's, learned from matched line pairs."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        votes = Counter(
            (leading_ws(model), leading_ws(file)) for model, file in pairs if model.strip()
        )
        self.table: dict[str, str] = {}
        for (model_ws, file_ws), _ in votes.most_common():
            self.table.setdefault(model_ws, file_ws)
        self.identity = all(m == f for m, f in self.table.items())
        file_indents = [f for f in self.table.values() if f]
        self.file_tabs = bool(file_indents) and all(f.startswith("\t") for f in file_indents)
        self.model_unit = _unit([m for m in self.table if m and "\t" not in m])
        self.file_unit = (
            "\t" if self.file_tabs else " " * _unit([f for f in file_indents if "\t" not in f])
        )

    def __call__(self, line: str) -> str:
        if self.identity or not line.strip():
            return line
        model_ws = leading_ws(line)
        body = line[len(model_ws) :]
        if model_ws in self.table:
            return self.table[model_ws] + body
        for known in sorted(self.table, key=len, reverse=True):
            if known and model_ws.startswith(known):
                return self.table[known] + self._convert(model_ws[len(known) :]) + body
        base = self.table.get("", "")
        return base + self._convert(model_ws) + body

    def _convert(self, ws: str) -> str:
        width = len(ws.replace("\t", " " * self.model_unit))
        levels, rest = divmod(width, self.model_unit)
        return self.file_unit * levels + " " * rest


def _unit(indents: list[str]) -> int:
    widths = [len(i) for i in indents if i]
    unit = 0
    for width in widths:
        unit = gcd(unit, width)
    return unit if unit >= 2 else 4


def splice_lines(region: list[str], old: list[str], new: list[str]) -> list[str]:
    """The file's ``region`` after the change ``old`` -> ``new`` (lines without endings).

    Raises :class:`SpliceAmbiguous` when a change lands where the file has lines the
    model's ``old`` did not quote and it cannot be told on which side they belong.
    """
    lo, hi, pairs, unsure, edges = _align(region, old)
    reindent = Reindenter([(old[i], region[r]) for i, r in pairs])
    result: list[str] = []
    cursor = 0
    changes = SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in changes:
        if tag == "equal":
            continue
        if i1 in unsure or i2 in unsure:
            raise SpliceAmbiguous(
                "the changed lines differ from the file's lines too much to tell which "
                "file lines they replace; quote the current text exactly"
            )
        if i1 == i2:
            if any(lo[p] != hi[p] or p in edges for p in _slides(old, new[j1:j2], i1)):
                # Even a blank line: putting the new lines on either side of it would
                # move it relative to the lines around it.
                raise SpliceAmbiguous(
                    "lines are inserted next to file lines the edit did not quote (blank "
                    "lines count), so which side of them they go on is a guess; quote the "
                    "file's lines around the insertion exactly"
                )
            start = stop = lo[i1]
        else:
            inside = [a for a in range(i1 + 1, i2) if lo[a] != hi[a]]
            if inside:
                raise SpliceAmbiguous(
                    "the lines the edit replaces have file lines between them that the edit "
                    "did not quote (blank lines count), which it neither keeps nor removes; "
                    "quote the current text exactly"
                )
            # File lines the edit did not quote at either end stay outside the change.
            start, stop = hi[i1], max(hi[i1], lo[i2])
        result.extend(region[cursor:start])
        result.extend(reindent(line) for line in new[j1:j2])
        cursor = max(cursor, stop)
    result.extend(region[cursor:])
    return result


def _slides(old: list[str], added: list[str], at: int) -> set[int]:
    """Every boundary of ``old`` where inserting ``added`` (rotated) gives the same text.

    Inserting ``x, y`` before an ``x`` equals inserting ``y, x`` after it: a diff can put
    an insertion anywhere along such a slide, and in the file it must be safe at each.
    """
    keys_old = [normalize_line(line) for line in old]
    keys = [normalize_line(line) for line in added]
    found = {at}
    right, seq = at, list(keys)
    while seq and right < len(old) and seq[0] == keys_old[right]:
        seq, right = [*seq[1:], seq[0]], right + 1
        found.add(right)
    left, seq = at, list(keys)
    while seq and left > 0 and seq[-1] == keys_old[left - 1]:
        seq, left = [seq[-1], *seq[:-1]], left - 1
        found.add(left)
    return found


def reindent_block(region: list[str], anchor: list[str], content: list[str]) -> list[str]:
    """``content`` in the file's indentation, learned from ``anchor`` matched to ``region``."""
    pairs = _align(region, anchor)[2]
    reindent = Reindenter([(anchor[i], region[r]) for i, r in pairs])
    return [reindent(line) for line in content]


_Alignment = tuple[list[int], list[int], list[tuple[int, int]], set[int], set[int]]


def _align(region: list[str], old: list[str]) -> _Alignment:
    """Map each boundary between ``old`` lines to a range ``lo..hi`` of region boundaries.

    Lines that match (ignoring whitespace), and unequal runs of the same length, pair up
    one to one; ``pairs`` lists them. A boundary before file lines that ``old`` skipped
    has ``lo < hi``. Boundaries inside a run of ``old`` lines that corresponds to a run of
    a different length in the file are ``unsure``: no position there can be trusted. So
    are the boundaries along a run of equal lines (blank lines, mostly) that is longer or
    shorter in the file than in ``old``: which of them ``old`` quoted is a guess.
    """
    size = len(old) + 1
    lo = [len(region)] * size
    hi = [0] * size

    def bind(a: int, b: int) -> None:
        lo[a] = min(lo[a], b)
        hi[a] = max(hi[a], b)

    pairs: list[tuple[int, int]] = []
    unsure: set[int] = set()
    edges: set[int] = set()
    keys_old = [normalize_line(line) for line in old]
    keys_region = [normalize_line(line) for line in region]
    matcher = SequenceMatcher(None, keys_old, keys_region, autojunk=False)
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and a2 - a1 == b2 - b1):
            pairs.extend((a1 + d, b1 + d) for d in range(a2 - a1))
            for d in range(a2 - a1 + 1):
                bind(a1 + d, b1 + d)
        elif tag == "delete":
            for a in range(a1, a2 + 1):
                bind(a, b1)
            _uncertain_run(keys_old, a1, a2, set(keys_old[a1:a2]), unsure, edges)
        elif tag == "insert":
            bind(a1, b1)
            bind(a1, b2)
            _uncertain_run(keys_old, a1, a1, set(keys_region[b1:b2]), unsure, edges)
        else:  # replace of unequal length
            bind(a1, b1)
            bind(a2, b2)
            for a in range(a1 + 1, a2):
                bind(a, b1)
                bind(a, b2)
                unsure.add(a)
    return lo, hi, pairs, unsure, edges


def _uncertain_run(
    keys: list[str], a1: int, a2: int, run: set[str], unsure: set[int], edges: set[int]
) -> None:
    """Record the boundaries along a run of equal lines that the file and ``old`` count
    differently (``old[a1:a2]`` skipped, or file lines skipped at ``a1``).

    Inside the run no boundary can be mapped (``unsure``); at its two ends, lines can be
    replaced, but an insertion there would land on one side of the lines ``old`` did not
    count or the other, which is a guess (``edges``).
    """
    if len(run) != 1:
        return
    key = next(iter(run))
    first, last = a1, a2
    while first > 0 and keys[first - 1] == key:
        first -= 1
    while last < len(keys) and keys[last] == key:
        last += 1
    unsure.update(range(first + 1, last))
    edges.update((first, last))
