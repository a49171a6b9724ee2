"""One edit operation applied to one file's text, in memory.

:func:`apply_operation` takes the file's current text (``\\n`` endings, ``None`` when the
file does not exist) and an edit, and returns the new text or a failure. It never writes:
governed apply (:mod:`autopack.workspace.apply`) runs every edit of an attempt through
here first and writes only when all of them succeeded.

An edit whose result is already in the file is ``already_present`` rather than applied a
second time or failed: retries of answers that had in fact been applied are common.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from autopack.domain.edits import (
    Append,
    CreateFile,
    DeleteFile,
    DeleteLines,
    DiffHunks,
    Edit,
    InsertAfter,
    InsertBefore,
    Prepend,
    ReplaceFile,
    ReplaceLines,
    SearchReplace,
    join_lines,
)
from autopack.workspace.matching import (
    Candidate,
    MatchFailure,
    Method,
    Placement,
    TextIndex,
    locate,
    normalize_line,
    split_lines,
)
from autopack.workspace.splice import SpliceAmbiguous, reindent_block, splice_lines

Status = Literal["applied", "already_present", "failed"]
PlacementMethod = Literal[
    "exact", "whitespace", "fuzzy", "whole_file", "line_range", "end_of_file", "start_of_file"
]
_STRENGTH = {"exact": 0, "whitespace": 1, "fuzzy": 2}


@dataclass
class OperationResult:
    """What one edit did to the text. ``text`` is ``None`` when the file is deleted."""

    status: Status
    text: str | None = None
    method: PlacementMethod | None = None
    first_line: int | None = None
    last_line: int | None = None
    code: str | None = None
    reason: str | None = None
    candidates: tuple[Candidate, ...] = ()
    notes: list[str] = field(default_factory=list)


def _failed(code: str, reason: str, candidates: tuple[Candidate, ...] = ()) -> OperationResult:
    return OperationResult(status="failed", code=code, reason=reason, candidates=candidates)


def _from_match(failure: MatchFailure, what: str) -> OperationResult:
    return _failed(failure.reason, f"{what}: {failure.message}", failure.candidates)


def _present(current: str | None, method: PlacementMethod | None = None) -> OperationResult:
    return OperationResult(status="already_present", text=current, method=method)


def _same_text(a: str, b: str) -> bool:
    """Equal up to trailing whitespace and the final newline."""
    return [ln.rstrip() for ln in split_lines(a)] == [ln.rstrip() for ln in split_lines(b)]


def _with_newline(content: str) -> str:
    return content if not content or content.endswith("\n") else content + "\n"


def apply_operation(current: str | None, edit: Edit) -> OperationResult:
    """Apply ``edit`` to ``current`` (``None``: the file does not exist) in memory."""
    if isinstance(edit, CreateFile):
        if current is None:
            return OperationResult("applied", _with_newline(edit.content), "whole_file")
        if _same_text(current, edit.content):
            return _present(current, "whole_file")
        return _failed(
            "file_exists",
            "the file already exists with different content; "
            "use replace_file to overwrite it or search_replace to change it",
        )
    if isinstance(edit, ReplaceFile):
        # A file that had no final newline keeps the model's choice; others end in one.
        keep = current is not None and current != "" and not current.endswith("\n")
        content = edit.content if keep else _with_newline(edit.content)
        if current is not None and current == content:
            return _present(current, "whole_file")
        return OperationResult("applied", content, "whole_file")
    if isinstance(edit, DeleteFile):
        if current is None:
            return _present(None)
        return OperationResult("applied", None, "whole_file")
    if isinstance(edit, Append | Prepend):
        return _append_prepend(current, edit)
    if current is None:
        if isinstance(edit, SearchReplace) and not edit.old.strip():
            return OperationResult("applied", _with_newline(edit.new), "whole_file")
        if isinstance(edit, DiffHunks) and edit.new_file:
            return _new_file_hunks(current, edit)
        if isinstance(edit, DiffHunks) and edit.deleted_file:
            return _present(None)
        return _failed("missing_file", "the file does not exist")
    if isinstance(edit, SearchReplace):
        return _search_replace(current, edit.old, edit.new)
    if isinstance(edit, InsertBefore | InsertAfter):
        return _insert(current, edit)
    if isinstance(edit, ReplaceLines | DeleteLines):
        return _line_range(current, edit)
    return _diff_hunks(current, edit)


def _append_prepend(current: str | None, edit: Append | Prepend) -> OperationResult:
    content = _with_newline(edit.content)
    if current is None:
        return OperationResult("applied", content, "whole_file")
    lines, added = split_lines(current), split_lines(content)
    keys = [normalize_line(x) for x in lines]
    want = [normalize_line(x) for x in added]
    if isinstance(edit, Append):
        if added and keys[len(keys) - len(want) :] == want:
            return _present(current, "end_of_file")
        base = current if not current or current.endswith("\n") else current + "\n"
        return OperationResult("applied", base + content, "end_of_file")
    if added and keys[: len(want)] == want:
        return _present(current, "start_of_file")
    return OperationResult("applied", content + current, "start_of_file")


def _replace_span(current: str, place: Placement, old: str, new: str) -> str:
    """``current`` with the placed ``old`` replaced by ``new``, kept in the file's style."""
    if place.method == "exact":
        return current[: place.start] + new + current[place.end :]
    index = TextIndex(current)
    region = index.lines[place.first_line - 1 : place.last_line]
    spliced = splice_lines(region, split_lines(old), split_lines(new))
    tail_newline = current[place.start : place.end].endswith("\n")
    return (
        current[: place.start]
        + join_lines(spliced, final_newline=tail_newline)
        + current[place.end :]
    )


def _find(
    current: str, old: str, new: str, *, hint: int | None = None, partial: bool = True
) -> Placement | MatchFailure | None:
    """Where ``old`` is, or ``None`` when it is gone and ``new`` is there (already applied).

    The already-applied check comes before the fuzzy method: a fuzzy match would find
    ``old``'s near twin inside the applied result and apply the edit a second time.
    """
    if _same_words(old, new):
        return _find_exactly(current, old, new, hint=hint, partial=partial)
    place = locate(current, old, hint_line=hint, fuzzy=False, partial=partial)
    if isinstance(place, Placement):
        return None if _applied_around(current, place, old, new) else place
    if place.reason == "ambiguous":
        return place
    if new.strip():
        done = locate(current, new, hint_line=hint, fuzzy=False, partial=partial)
        if isinstance(done, Placement):
            if _anchored(old, new) or done.first_line == hint:
                return None
            return MatchFailure(
                reason="not_found",
                message=f"{_preview_text(old)!r} was not found; the replacement text is at "
                f"line {done.first_line}, but the edit quotes no unchanged line around it "
                "(and gives no line number there), so nothing shows this edit put it "
                "there: not applied. Quote the current text, with a line of context",
            )
    return locate(current, old, hint_line=hint, partial=partial)


def _find_exactly(
    current: str, old: str, new: str, *, hint: int | None, partial: bool
) -> Placement | MatchFailure | None:
    """:func:`_find` for a change of whitespace or blank lines only.

    Ignoring whitespace, ``old`` and ``new`` are the same text, so only the exact text
    can say where the change goes and whether it is done already.
    """
    place = locate(current, old, hint_line=hint, loose=False, partial=partial)
    if isinstance(place, Placement):
        return None if _applied_around(current, place, old, new) else place
    if place.reason == "ambiguous":
        return place
    # The new text standing in the file proves nothing here: a quote that left out a
    # blank line the file has reads exactly like a retry of this edit.
    return MatchFailure(
        reason="not_found",
        message="the edit changes only whitespace or blank lines, so the text to replace "
        f"must be quoted exactly as the file has it, and {_preview_text(old)!r} is not, "
        "blank lines included",
    )


def _same_words(old: str, new: str) -> bool:
    """Whether ``old`` and ``new`` differ only in whitespace and blank lines."""
    return _keys(old) == _keys(new)


def _keys(text: str) -> list[str]:
    return [normalize_line(x) for x in split_lines(text) if x.strip()]


def _anchored(old: str, new: str) -> bool:
    """Whether the edit quotes an unchanged non-blank line that ``new`` keeps at its start
    or end (context), so finding ``new`` says the edit was made *here*.

    Without such a line, ``new`` in the file may be any text that happens to match
    (``return None``), not the result of this edit: ``old`` missing then means
    "not applied", whatever else the file contains.
    """
    old_keys, new_keys = _keys(old), _keys(new)
    if not old_keys or not new_keys:
        return False
    return old_keys[0] == new_keys[0] or old_keys[-1] == new_keys[-1]


def _preview_text(text: str, limit: int = 60) -> str:
    first = next((line.strip() for line in split_lines(text) if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _applied_around(current: str, place: Placement, old: str, new: str) -> bool:
    """Whether ``old`` sits inside an occurrence of ``new`` (a retried insertion)."""
    if place.method == "exact":
        offset = new.find(old)
        begin = place.start - offset
        return offset >= 0 and begin >= 0 and current[begin : begin + len(new)] == new
    old_keys = [normalize_line(x) for x in split_lines(old) if x.strip()]
    new_keys = [normalize_line(x) for x in split_lines(new) if x.strip()]
    shift = next(
        (
            r
            for r in range(len(new_keys) - len(old_keys) + 1)
            if new_keys[r : r + len(old_keys)] == old_keys
        ),
        None,
    )
    if shift is None:
        return False
    index = TextIndex(current)
    nonblank = [i for i, line in enumerate(index.lines) if line.strip()]
    first = next(q for q, i in enumerate(nonblank) if i >= place.first_line - 1)
    begin = first - shift
    window = [
        normalize_line(index.lines[i]) for i in nonblank[max(0, begin) : begin + len(new_keys)]
    ]
    return begin >= 0 and window == new_keys


def _search_replace(current: str, old: str, new: str) -> OperationResult:
    if not old.strip():
        if not current.strip():
            return OperationResult("applied", _with_newline(new), "whole_file")
        if new.strip() and new in current:
            return _present(current, "exact")
        return _failed(
            "empty", "the text to replace is empty but the file is not; quote the lines to replace"
        )
    place = _find(current, old, new)
    if place is None:
        return _present(current)
    if isinstance(place, MatchFailure):
        return _from_match(place, "text to replace")
    try:
        text = _replace_span(current, place, old, new)
    except SpliceAmbiguous as exc:
        return _failed("ambiguous", str(exc))
    return OperationResult(
        "applied",
        text,
        place.method,
        place.first_line,
        place.last_line,
        notes=[place.note] if place.note else [],
    )


def _insert(current: str, edit: InsertBefore | InsertAfter) -> OperationResult:
    place = locate(current, edit.anchor)
    if isinstance(place, MatchFailure):
        return _from_match(place, "anchor")
    index = TextIndex(current)
    first, last = place.first_line - 1, place.last_line - 1
    content = split_lines(edit.content)
    if place.method != "exact":
        region = index.lines[first : last + 1]
        content = reindent_block(region, split_lines(edit.anchor), content)
    after = isinstance(edit, InsertAfter)
    lines = index.lines
    near = (
        lines[last + 1 : last + 1 + len(content)]
        if after
        else lines[max(0, first - len(content)) : first]
    )
    if [normalize_line(x) for x in near] == [normalize_line(x) for x in content]:
        return _present(current, place.method)
    at = last + 1 if after else first
    text = join_lines(lines[:at] + content + lines[at:], final_newline=current.endswith("\n"))
    return OperationResult("applied", text, place.method, place.first_line, place.last_line)


def _line_range(current: str, edit: ReplaceLines | DeleteLines) -> OperationResult:
    index = TextIndex(current)
    lines = index.lines
    new = split_lines(edit.content) if isinstance(edit, ReplaceLines) else []
    start, end = edit.start, edit.end
    in_range = end <= len(lines)
    if edit.expected is not None:
        old_text, new_text = join_lines(split_lines(edit.expected)), join_lines(new)
        at_range = lines[start - 1 : end] if in_range else []
        if at_range == split_lines(edit.expected):
            place: Placement | MatchFailure | None = _range_placement(index, start, end, "exact")
        elif [normalize_line(x) for x in at_range] == [
            normalize_line(x) for x in split_lines(edit.expected)
        ] and at_range:
            place = _range_placement(index, start, end, "whitespace")
        else:
            place = _find(current, old_text, new_text, hint=start, partial=False)
        if place is None:
            return _present(current)
        if isinstance(place, MatchFailure):
            return _from_match(place, f"expected text of lines {start}-{end}")
        try:
            text = _replace_span(current, place, old_text, new_text)
        except SpliceAmbiguous as exc:
            return _failed("ambiguous", str(exc))
        moved = (place.first_line, place.last_line) != (start, end)
        notes = [f"lines {start}-{end} were stale; placed by the expected text"] if moved else []
        return OperationResult(
            "applied", text, place.method, place.first_line, place.last_line, notes=notes
        )
    if not in_range:
        return _failed(
            "out_of_range", f"lines {start}-{end} are past the end of the file ({len(lines)} lines)"
        )
    # Without the expected text a retry can only be recognized by the content already
    # standing at the start line; a retried delete_lines cannot be recognized at all.
    if new and [x.rstrip() for x in lines[start - 1 : start - 1 + len(new)]] == [
        x.rstrip() for x in new
    ]:
        return _present(current, "line_range")
    text = join_lines(lines[: start - 1] + new + lines[end:], final_newline=current.endswith("\n"))
    note = "line numbers taken on trust: the edit quoted no expected text"
    return OperationResult("applied", text, "line_range", start, end, notes=[note])


def _range_placement(index: TextIndex, start: int, end: int, method: Method) -> Placement:
    first, stop = index.span(start - 1, end - 1)
    return Placement(
        start=first, end=stop, first_line=start, last_line=end, method=method, whole_lines=True
    )


def _new_file_hunks(current: str | None, edit: DiffHunks) -> OperationResult:
    lines = [line for hunk in edit.hunks for line in hunk.new_lines()]
    no_newline = bool(edit.hunks) and edit.hunks[-1].new_ends_without_newline
    content = join_lines(lines, final_newline=not no_newline)
    if current is None:
        return OperationResult("applied", content, "whole_file")
    if _same_text(current, content):
        return _present(current, "whole_file")
    return _failed(
        "file_exists", "the diff creates a file that already exists with different content"
    )


def _diff_hunks(current: str, edit: DiffHunks) -> OperationResult:
    if edit.new_file:
        return _new_file_hunks(current, edit)
    if edit.deleted_file:
        removed = [line for hunk in edit.hunks for line in hunk.old_lines()]
        if _same_text(current, join_lines(removed)):
            return OperationResult("applied", None, "whole_file")
        return _failed(
            "content_mismatch",
            "the diff deletes the file, but the file's content "
            "differs from the lines the diff removes",
        )
    text, offset, weakest = current, 0, "exact"
    applied, first, notes = 0, None, []
    total = len(edit.hunks)
    for number, hunk in enumerate(edit.hunks, start=1):
        old, new = hunk.old_text(), hunk.new_text()
        if not old.strip():
            if not text.strip():
                text, applied = new, applied + 1
                continue
            return _failed(
                "no_context",
                f"hunk {number}/{total} has no context or removed "
                "lines, so nothing but its line number says where it goes",
            )
        hint = hunk.old_start + offset if hunk.old_start > 0 else None
        place = _find(text, old, new, hint=hint, partial=False)
        if place is None:
            notes.append(f"hunk {number}/{total} already present")
            offset += len(hunk.new_lines()) - len(hunk.old_lines())
            continue
        if isinstance(place, MatchFailure):
            return _from_match(place, f"hunk {number}/{total}")
        try:
            text = _replace_span(text, place, old, new)
        except SpliceAmbiguous as exc:
            return _failed("ambiguous", f"hunk {number}/{total}: {exc}")
        if place.note:
            notes.append(f"hunk {number}/{total}: {place.note}")
        if _STRENGTH[place.method] > _STRENGTH[weakest]:
            weakest = place.method
        first = first or place.first_line
        # Later hunks' header numbers are off by what earlier hunks added or removed, and
        # by however far the model's numbers were from the truth for this one.
        if hunk.old_start > 0:
            offset = place.first_line - hunk.old_start
        offset += len(hunk.new_lines()) - len(hunk.old_lines())
        applied += 1
    if not applied:
        return _present(current, "exact")
    method: PlacementMethod = (
        "fuzzy" if weakest == "fuzzy" else ("whitespace" if weakest == "whitespace" else "exact")
    )
    return OperationResult("applied", text, method, first, None, notes=notes)
