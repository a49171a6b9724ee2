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
    lo, hi, pairs, unsure = _align(region, old)
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
            if lo[i1] != hi[i1] and any(line.strip() for line in region[lo[i1] : hi[i1]]):
                raise SpliceAmbiguous(
                    f"lines are inserted where the file has {hi[i1] - lo[i1]} line(s) the "
                    "edit did not quote; quote them so the insertion point is clear"
                )
            # Only blank lines here: insert right after the preceding quoted line.
            start = stop = lo[i1]
        else:
            start, stop = hi[i1], max(hi[i1], lo[i2])
        result.extend(region[cursor:start])
        result.extend(reindent(line) for line in new[j1:j2])
        cursor = max(cursor, stop)
    result.extend(region[cursor:])
    return result


def reindent_block(region: list[str], anchor: list[str], content: list[str]) -> list[str]:
    """``content`` in the file's indentation, learned from ``anchor`` matched to ``region``."""
    pairs = _align(region, anchor)[2]
    reindent = Reindenter([(anchor[i], region[r]) for i, r in pairs])
    return [reindent(line) for line in content]


_Alignment = tuple[list[int], list[int], list[tuple[int, int]], set[int]]


def _align(region: list[str], old: list[str]) -> _Alignment:
    """Map each boundary between ``old`` lines to a range ``lo..hi`` of region boundaries.

    Lines that match (ignoring whitespace), and unequal runs of the same length, pair up
    one to one; ``pairs`` lists them. A boundary before file lines that ``old`` skipped
    has ``lo < hi``. Boundaries inside a run of ``old`` lines that corresponds to a run of
    a different length in the file are ``unsure``: no position there can be trusted.
    """
    size = len(old) + 1
    lo = [len(region)] * size
    hi = [0] * size

    def bind(a: int, b: int) -> None:
        lo[a] = min(lo[a], b)
        hi[a] = max(hi[a], b)

    pairs: list[tuple[int, int]] = []
    unsure: set[int] = set()
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
        else:  # insert, or replace of unequal length
            bind(a1, b1)
            bind(a2, b2)
            for a in range(a1 + 1, a2):
                bind(a, b1)
                bind(a, b2)
                unsure.add(a)
    return lo, hi, pairs, unsure
