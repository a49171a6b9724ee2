"""Placement: where an edit's text sits in a file, found without guessing.

:func:`locate` tries three methods in order and stops at the first that finds exactly one
place:

1. ``exact``: the text occurs verbatim. Text ending in a newline is whole lines and only
   matches at line starts; text without one may match inside a line.
2. ``whitespace``: the non-blank lines match once leading/trailing whitespace, runs of
   inner whitespace and blank lines are ignored (models drop indentation, trailing spaces
   and blank lines, and write spaces for tabs).
3. ``fuzzy``: for blocks of two or more lines, a window of the file is similar enough
   (difflib ratio >= :data:`FUZZY_MIN_SCORE`) *and* beats every other window by
   :data:`FUZZY_MARGIN`, so a stale comment or a typo still places, a near-duplicate does
   not.

Several exact or whitespace matches are ambiguous. A line-number hint (a diff hunk's
header, corrected by the offsets of hunks already placed) may pick one only when exactly
one candidate starts on that very line; otherwise the result is a :class:`MatchFailure`
listing the candidates. Nothing is ever placed at the nearest guess.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Literal

from pydantic import BaseModel, ConfigDict

FUZZY_MIN_SCORE = 0.85
FUZZY_MARGIN = 0.08
#: Enough to report an ambiguity without scanning a pathological file to the end.
MAX_OCCURRENCES = 50
#: File lines x needle lines above which fuzzy scoring is skipped (it would take seconds).
MAX_FUZZY_WORK = 2_000_000

Method = Literal["exact", "whitespace", "fuzzy"]
_WS_RUN = re.compile(r"\s+")


class Candidate(BaseModel):
    """A place that almost matched, for the person or model reading the failure."""

    model_config = ConfigDict(frozen=True)

    line: int
    score: float
    preview: str


class Placement(BaseModel):
    """Where the text is. ``start``/``end`` are offsets into the text, lines are 1-based."""

    model_config = ConfigDict(frozen=True)

    start: int
    end: int
    first_line: int
    last_line: int
    method: Method
    whole_lines: bool
    score: float = 1.0
    note: str | None = None


class MatchFailure(BaseModel):
    """No unique place: ``reason`` is ``not_found``, ``ambiguous`` or ``empty``."""

    model_config = ConfigDict(frozen=True)

    reason: Literal["not_found", "ambiguous", "empty"]
    message: str
    candidates: tuple[Candidate, ...] = ()


def normalize_line(line: str) -> str:
    """A line as the whitespace-insensitive methods compare it."""
    return _WS_RUN.sub(" ", line.strip())


class TextIndex:
    """A text split into lines, with the offset where each line starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        parts = text.split("\n")
        if text.endswith("\n"):
            parts.pop()
        self.lines: list[str] = parts if text else []
        self.starts: list[int] = []
        offset = 0
        for line in self.lines:
            self.starts.append(offset)
            offset += len(line) + 1

    def line_of(self, offset: int) -> int:
        """0-based line containing ``offset``."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def line_end(self, index: int) -> int:
        """Offset just past line ``index`` and its newline (if it has one)."""
        return min(self.starts[index] + len(self.lines[index]) + 1, len(self.text))

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Offsets covering lines ``first``..``last`` (0-based, inclusive) with newlines."""
        return self.starts[first], self.line_end(last)


def split_lines(text: str) -> list[str]:
    """Lines of ``\\n`` text without their endings (a final newline adds no empty line)."""
    return TextIndex(text).lines


def locate(
    text: str,
    needle: str,
    *,
    hint_line: int | None = None,
    fuzzy: bool = True,
    partial: bool = True,
    loose: bool = True,
) -> Placement | MatchFailure:
    """Find the one place where ``needle`` is in ``text`` (both with ``\\n`` endings).

    ``hint_line`` (1-based) may pick among several equal matches, never among near ones.
    ``partial=False`` treats ``needle`` as whole lines even without a final newline (diff
    hunks); ``fuzzy=False`` stops after the whitespace-insensitive method, ``loose=False``
    after the exact one.
    """
    if not needle.strip():
        return MatchFailure(reason="empty", message="the text to find is empty")
    index = TextIndex(text)
    found = _exact(index, needle, hint_line, partial)
    if found is not None:
        return found
    if not loose:
        return MatchFailure(reason="not_found", message=f"{_preview(needle)!r} was not found")
    needle_lines = split_lines(needle)
    found = _whitespace(index, needle_lines, hint_line)
    if found is not None:
        return found
    if not fuzzy:
        return MatchFailure(
            reason="not_found",
            message=f"{_preview(needle)!r} was not found exactly or ignoring whitespace",
        )
    keys = [normalize_line(line) for line in needle_lines if line.strip()]
    windows = _score_windows(index, keys)
    if len(keys) >= 2 and windows:
        best = windows[0]
        rival = next((w for w in windows[1:] if not _overlaps(w, best)), None)
        margin = best[0] - (rival[0] if rival else 0.0)
        if best[0] >= FUZZY_MIN_SCORE and margin >= FUZZY_MARGIN:
            return _line_placement(index, best[1], best[2], "fuzzy", score=best[0])
        if best[0] >= FUZZY_MIN_SCORE:
            return MatchFailure(
                reason="ambiguous",
                message=f"{_preview(needle)!r} is similar to several places; quote more "
                "surrounding lines so that exactly one place matches",
                candidates=_candidates(index, windows),
            )
    return MatchFailure(
        reason="not_found",
        message=f"{_preview(needle)!r} was not found (exactly, ignoring whitespace, "
        "or approximately)",
        candidates=_candidates(index, windows),
    )


def _exact(
    index: TextIndex, needle: str, hint_line: int | None, partial: bool
) -> Placement | MatchFailure | None:
    text = index.text
    occurrences: list[int] = []
    pos = text.find(needle)
    while pos != -1 and len(occurrences) < MAX_OCCURRENCES:
        occurrences.append(pos)
        pos = text.find(needle, pos + 1)
    if not occurrences:
        return None
    ends_line = needle.endswith("\n")
    whole = ends_line or not partial

    def aligned(pos: int) -> bool:
        end = pos + len(needle)
        starts_line = pos == 0 or text[pos - 1] == "\n"
        return starts_line and (ends_line or end == len(text) or text[end] == "\n")

    lined = [p for p in occurrences if aligned(p)]
    pool = lined if lined or whole else occurrences
    if not pool:
        return None
    lines = [index.line_of(p) + 1 for p in pool]
    chosen = _single(lines, hint_line)
    if chosen is None:
        return MatchFailure(
            reason="ambiguous",
            message=f"{_preview(needle)!r} occurs {len(pool)} times (lines "
            f"{', '.join(map(str, lines[:10]))}); quote enough surrounding lines to make it "
            "unique",
            candidates=tuple(
                Candidate(line=ln, score=1.0, preview=_preview(index.lines[ln - 1]))
                for ln in lines[:10]
            ),
        )
    start = pool[chosen]
    end = start + len(needle)
    last = index.line_of(max(start, end - 1)) if end > start else index.line_of(start)
    return Placement(
        start=start,
        end=end,
        first_line=lines[chosen],
        last_line=last + 1,
        method="exact",
        whole_lines=aligned(start),
        note="several matches; chosen by the line number" if len(pool) > 1 else None,
    )


def _whitespace(
    index: TextIndex, needle_lines: list[str], hint_line: int | None
) -> Placement | MatchFailure | None:
    keys = [normalize_line(line) for line in needle_lines if line.strip()]
    if not keys:
        return None
    quoted_before = next(i for i, line in enumerate(needle_lines) if line.strip())
    quoted_after = next(i for i, line in enumerate(reversed(needle_lines)) if line.strip())
    file_nb = [i for i, line in enumerate(index.lines) if line.strip()]
    file_keys = [normalize_line(index.lines[i]) for i in file_nb]
    spans: list[tuple[int, int]] = []
    k = len(keys)
    for p in range(len(file_keys) - k + 1):
        if file_keys[p] == keys[0] and file_keys[p : p + k] == keys:
            first, last = file_nb[p], file_nb[p + k - 1]
            blanks_before, blanks_after = quoted_before, quoted_after
            # Blank lines the model quoted around its block belong to the span when the
            # file has them, so an edit that removes them removes them from the file.
            while blanks_before and first > 0 and not index.lines[first - 1].strip():
                first, blanks_before = first - 1, blanks_before - 1
            while (
                blanks_after and last + 1 < len(index.lines) and not index.lines[last + 1].strip()
            ):
                last, blanks_after = last + 1, blanks_after - 1
            spans.append((first, last))
    if not spans:
        return None
    chosen = _single([first + 1 for first, _ in spans], hint_line)
    if chosen is None:
        return MatchFailure(
            reason="ambiguous",
            message=f"{_preview(needle_lines)!r} matches {len(spans)} places when "
            "whitespace is ignored; quote enough surrounding lines to make it unique",
            candidates=tuple(
                Candidate(line=f + 1, score=1.0, preview=_preview(index.lines[f]))
                for f, _ in spans[:10]
            ),
        )
    first, last = spans[chosen]
    placement = _line_placement(index, first, last, "whitespace")
    if len(spans) > 1:
        return placement.model_copy(update={"note": "several matches; chosen by the line number"})
    return placement


def _score_windows(index: TextIndex, keys: list[str]) -> list[tuple[float, int, int]]:
    """(score, first line, last line) of file windows like ``keys``, best first.

    A window is as many non-blank file lines as ``keys`` has; its score is the
    length-weighted mean of difflib's ratio line by line. Scoring line by line (not the
    joined block) keeps one stale line from hiding in a long block and costs a fraction
    of the time. A window that can no longer reach the fuzzy floor stops being scored
    and keeps its upper bound, which is below the floor and so decides nothing.
    """
    if not keys:
        return []
    file_nb = [i for i, line in enumerate(index.lines) if line.strip()]
    if len(file_nb) * len(keys) > MAX_FUZZY_WORK:
        return []  # too costly to score; the exact and whitespace methods still ran
    file_keys = [normalize_line(index.lines[i]) for i in file_nb]
    k = len(keys)
    weights = [max(len(key), 1) for key in keys]
    total = float(sum(weights))
    floor = FUZZY_MIN_SCORE - FUZZY_MARGIN
    matchers = []
    for key in keys:
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(key)
        matchers.append(matcher)

    def similarity(i: int, line: str, exact: bool) -> float:
        if line == keys[i]:
            return 1.0
        matchers[i].set_seq1(line)
        # quick_ratio() bounds ratio() from above at a fraction of the cost.
        return matchers[i].ratio() if exact else matchers[i].quick_ratio()

    windows: list[tuple[float, int, int]] = []
    for p in range(len(file_keys) - k + 1):
        score = 0.0
        for exact in (False, True):
            got, left = 0.0, total
            for i in range(k):
                got += similarity(i, file_keys[p + i], exact) * weights[i]
                left -= weights[i]
                if (got + left) / total < floor:
                    got += left
                    break
            score = got / total
            if score < floor:
                break  # an upper bound below the floor: it can decide nothing
        windows.append((score, file_nb[p], file_nb[p + k - 1]))
    return sorted(windows, key=lambda w: (-w[0], w[1]))


def _overlaps(a: tuple[float, int, int], b: tuple[float, int, int]) -> bool:
    return a[1] <= b[2] and b[1] <= a[2]


def _candidates(index: TextIndex, windows: list[tuple[float, int, int]]) -> tuple[Candidate, ...]:
    picked: list[tuple[float, int, int]] = []
    for window in windows:
        if all(not _overlaps(window, other) for other in picked):
            picked.append(window)
        if len(picked) == 3:
            break
    return tuple(
        Candidate(line=first + 1, score=round(score, 3), preview=_preview(index.lines[first]))
        for score, first, _ in picked
    )


def _single(lines: list[int], hint_line: int | None) -> int | None:
    """The index of the only candidate, or of the only one starting at ``hint_line``."""
    if len(lines) == 1:
        return 0
    if hint_line is not None:
        at_hint = [i for i, line in enumerate(lines) if line == hint_line]
        if len(at_hint) == 1:
            return at_hint[0]
    return None


def _line_placement(
    index: TextIndex, first: int, last: int, method: Method, *, score: float = 1.0
) -> Placement:
    start, end = index.span(first, last)
    return Placement(
        start=start,
        end=end,
        first_line=first + 1,
        last_line=last + 1,
        method=method,
        whole_lines=True,
        score=round(score, 4),
    )


def _preview(text: str | list[str], limit: int = 60) -> str:
    lines = text if isinstance(text, list) else text.split("\n")
    first = next((line.strip() for line in lines if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"
