"""Reading unified diffs as models write them: git style or plain, with wrong numbers.

Hunk header numbers and counts are kept as hints (placement finds the text itself), so a
diff whose line numbers are shifted or whose counts are wrong still parses. Blank context
lines whose leading space was stripped are read as blank context. A diff cut off in its
last hunk (the provider stopped at its token limit, or, when its stop reason is unknown,
an unclosed code fence or a last changed line without its newline) loses that hunk, and
says so, rather than applying half of it. Hunk counts alone never decide that a diff was
cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from autopack.domain.edits import DiffHunks, Hunk, HunkLine

#: "@@ -a,b +c,d @@", but also "@@ @@" and "@@ ... @@": models drop or mangle the numbers.
_HUNK = re.compile(r"^@@+(.*?)@@+")
_OLD_RANGE = re.compile(r"-(\d+)(?:,(\d+))?")
_NEW_RANGE = re.compile(r"\+(\d+)(?:,(\d+))?")
_META = (
    "index ",
    "new file mode",
    "deleted file mode",
    "old mode",
    "new mode",
    "similarity index",
    "dissimilarity index",
)
DEV_NULL = "/dev/null"
_TAGS: dict[str, Literal[" ", "-", "+"]] = {" ": " ", "-": "-", "+": "+"}
_Note = Callable[[int, str, bool], None]


@dataclass
class DiffProblem:
    """A line the parser skipped; ``lost`` when an edit was dropped because of it."""

    line: int
    segment: str
    reason: str
    lost: bool


@dataclass
class _Hunk:
    old_start: int
    old_count: int | None
    new_start: int
    new_count: int | None
    line: int
    body: list[HunkLine] = field(default_factory=list)
    old_eof: bool = False
    new_eof: bool = False
    #: Empty lines (no leading space) at the end of the body: a blank context line whose
    #: space was stripped, or just the blank line after the hunk. Only these are trimmed.
    bare_tail: int = 0

    def add(self, line: HunkLine, *, bare: bool = False) -> None:
        self.body.append(line)
        self.bare_tail = self.bare_tail + 1 if bare else 0

    def trimmed(self) -> list[HunkLine]:
        return self.body[: len(self.body) - self.bare_tail]

    def counts(self) -> tuple[int, int]:
        return (
            sum(1 for x in self.body if x.tag != "+"),
            sum(1 for x in self.body if x.tag != "-"),
        )

    def satisfied(self) -> bool:
        if self.old_count is None or self.new_count is None:
            return False
        old, new = self.counts()
        return old >= self.old_count and new >= self.new_count

    def freeze(self) -> Hunk:
        body = self.trimmed()
        return Hunk(
            old_start=self.old_start,
            old_count=self.old_count,
            new_start=self.new_start,
            new_count=self.new_count,
            lines=tuple(body),
            old_ends_without_newline=self.old_eof,
            new_ends_without_newline=self.new_eof,
        )


@dataclass
class _File:
    old_path: str | None = None
    new_path: str | None = None
    line: int = 0
    hunks: list[_Hunk] = field(default_factory=list)
    skip: str | None = None
    #: Whether its ---/+++ pair was read.
    headed: bool = False


def _clean_path(raw: str, prefix: str) -> str:
    path = raw.split("\t")[0].strip()
    if path.startswith('"') and path.endswith('"') and len(path) > 1:
        path = path[1:-1]
    if path != DEV_NULL and path.startswith(prefix):
        path = path[len(prefix) :]
    return path


def parse_unified_diff(
    text: str,
    *,
    default_path: str | None = None,
    first_line: int = 1,
    stopped_early: bool | None = None,
) -> tuple[list[DiffHunks], list[DiffProblem], bool]:
    """Edits, problems and whether the diff looked truncated.

    ``default_path`` names the file for hunks without ``---``/``+++`` headers (a diff
    embedded in an NDJSON operation); ``first_line`` numbers lines for messages;
    ``stopped_early`` is the provider's word on truncation when the caller has it.
    """
    lines = text.split("\n")
    ended_with_newline = text.endswith("\n")
    if ended_with_newline:
        lines.pop()
    problems: list[DiffProblem] = []
    files: list[_File] = []
    current: _File | None = None
    hunk: _Hunk | None = None
    fence_open = False

    def note(index: int, reason: str, lost: bool) -> None:
        problems.append(DiffProblem(index + first_line, lines[index][:200], reason, lost))

    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            hunk = None
            parts = line[len("diff --git ") :].split(" b/", 1)
            current = _File(
                _clean_path(parts[0], "a/"),
                _clean_path("b/" + parts[1], "b/") if len(parts) == 2 else None,
                i,
            )
            files.append(current)
        elif (
            line.startswith("--- ")
            and i + 1 < len(lines)
            and lines[i + 1].startswith("+++ ")
            and _is_header(hunk, line, lines[i + 1], lines[i + 2] if i + 2 < len(lines) else "")
        ):
            if current is None or current.hunks or current.headed:
                current = _File(line=i)
                files.append(current)
            # A file's mode lines (symlink, rename) and its ---/+++ pair belong together.
            current.headed = True
            current.old_path = _clean_path(line[4:], "a/")
            current.new_path = _clean_path(lines[i + 1][4:], "b/")
            hunk = None
            i += 1
        elif line.startswith("@@"):
            hunk = None
            header = _HUNK.match(line)
            if header is None:
                # A header cut off at the very end is truncation; elsewhere, a broken hunk.
                cut_header = i == len(lines) - 1 and not ended_with_newline
                fence_open = fence_open or cut_header
                note(i, "a hunk header without its closing @@; the hunk was dropped", True)
            else:
                if current is None:
                    current = _File(old_path=default_path, new_path=default_path, line=i)
                    files.append(current)
                hunk = _new_hunk(header.group(1), i)
                current.hunks.append(hunk)
        elif hunk is not None and line[:1] in (" ", "-", "+"):
            hunk.add(HunkLine(tag=_TAGS[line[0]], text=line[1:]))
        elif hunk is not None and line == "":
            hunk.add(HunkLine(tag=" ", text=""), bare=True)
        elif hunk is not None and line.startswith("\\"):
            if hunk.body and hunk.body[-1].tag != "+":
                hunk.old_eof = True
            if hunk.body and hunk.body[-1].tag != "-":
                hunk.new_eof = True
        elif current is not None and line.startswith(_META):
            special = _special_mode(line)
            if special is not None:
                current.skip = special
        elif current is not None and line.startswith(
            ("rename from", "rename to", "copy from", "copy to")
        ):
            current.skip = "renames and copies are not supported; write a delete and a create"
        elif current is not None and (
            line.startswith("Binary files") or line == "GIT binary patch"
        ):
            current.skip = "binary patches are not applied"
        else:
            hunk = None
            if line.lstrip().startswith("```"):
                fence_open = not fence_open
            elif line.strip():
                note(i, "not part of a diff (ignored)", lost=False)
        i += 1

    last = files[-1].hunks[-1] if files and files[-1].hunks else None
    # The provider's stop reason, when known, settles truncation; otherwise an open fence.
    signal = fence_open if stopped_early is None else stopped_early
    if last is not None and _cut_off(
        last,
        stopped_early=stopped_early,
        fence_open=fence_open,
        ended_with_newline=ended_with_newline,
    ):
        files[-1].hunks.pop()
        note(
            last.line,
            "the last hunk looks cut off (the answer seems truncated); it was "
            "dropped rather than applied in part",
            True,
        )
        signal = True
    edits: list[DiffHunks] = []
    for entry in files:
        edit = _to_edit(entry, note)
        if edit is not None:
            edits.append(edit)
    return edits, problems, signal


def _new_hunk(numbers: str, line: int) -> _Hunk:
    """A hunk from the text between the @@ marks; missing numbers stay unknown."""
    old, new = _OLD_RANGE.search(numbers), _NEW_RANGE.search(numbers)
    # "-5" without a count means one line, as in diff's own output.
    return _Hunk(
        old_start=int(old.group(1)) if old else 0,
        old_count=int(old.group(2) or 1) if old else None,
        new_start=int(new.group(1)) if new else 0,
        new_count=int(new.group(2) or 1) if new else None,
        line=line,
    )


def _cut_off(
    last: _Hunk, *, stopped_early: bool | None, fence_open: bool, ended_with_newline: bool
) -> bool:
    """Whether the answer's last hunk may be incomplete, so applying it could do half a change.

    The provider's word decides when there is one: an answer that ended normally is
    complete, whatever its hunk counts say (models get them wrong); one cut at the token
    limit keeps its last hunk only when the header's counts show every line arrived and
    the last line is whole. Without that word the end of the answer decides: a fence left
    open, or a last added or removed line without its newline, is a cut. Hunk counts alone
    never condemn a hunk, so a complete diff with wrong counts applies. (A partial last
    *context* line is harmless: placement keeps the file's own line.)
    """
    if stopped_early is False:
        return False
    body = last.trimmed()
    cut_change = not ended_with_newline and bool(body) and body[-1].tag != " "
    if stopped_early:
        return cut_change or not last.satisfied()
    return fence_open or cut_change


#: Git modes that are not regular files; applying their hunks as text would silently make
#: a regular file where the diff asks for something else.
_SPECIAL_MODES = {
    "120000": "a symbolic link",
    "160000": "a submodule (gitlink)",
}


def _special_mode(line: str) -> str | None:
    """Why a ``new file mode``/``new mode`` (etc.) line makes the file unappliable."""
    mode = line.rsplit(" ", 1)[-1].strip()
    kind = _SPECIAL_MODES.get(mode)
    if kind is None:
        return None
    return (
        f"the diff makes or changes {kind} (mode {mode}); only regular files are edited, "
        "so it was not applied (write the file's content, or ask a person to make the link)"
    )


def _is_header(hunk: _Hunk | None, minus: str, plus: str, after: str) -> bool:
    """A ``---``/``+++`` pair starts a file unless it reads better as two body lines.

    Inside a hunk whose counts are not met yet it is a header only when it looks like one
    (``a/``/``b/`` paths, or a hunk header right after it): the counts may be wrong.
    """
    if hunk is None or hunk.satisfied() or after.startswith("@@"):
        return True
    return minus[4:].startswith(("a/", DEV_NULL)) and plus[4:].startswith(("b/", DEV_NULL))


def _to_edit(entry: _File, report: _Note) -> DiffHunks | None:
    path_new, path_old = entry.new_path, entry.old_path
    if entry.skip:
        report(entry.line, entry.skip, True)
        return None
    for empty in [h for h in entry.hunks if not h.trimmed()]:
        report(empty.line, "a hunk without any lines; dropped", True)
        entry.hunks.remove(empty)
    path = path_new if path_new and path_new != DEV_NULL else path_old
    if not path or path == DEV_NULL:
        if entry.hunks:
            report(entry.line, "hunks without a file name", True)
        return None
    if not entry.hunks and DEV_NULL not in (path_old, path_new):
        if path_old != path_new:
            report(entry.line, "a file header without hunks (ignored)", False)
        return None
    for hunk in entry.hunks:
        old, new = hunk.counts()
        declared = (hunk.old_count, hunk.new_count)
        if None not in declared and declared != (old, new):
            report(
                hunk.line,
                f"hunk header counts {declared[0]},{declared[1]} disagree with "
                f"its body ({old},{new}); the body is used",
                False,
            )
    return DiffHunks(
        path=path,
        hunks=tuple(h.freeze() for h in entry.hunks),
        new_file=path_old == DEV_NULL,
        deleted_file=path_new == DEV_NULL,
    )
