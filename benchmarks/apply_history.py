"""Apply cases from a real repository's history: real commits, rendered as models render them.

For each modified text file of the newest non-merge commits of a local git clone, the
parent revision's bytes are the file before and the child revision's bytes the intended
result. The change between them is rendered in every kind of :data:`KINDS`, each the way
a model writes it, and each rendering is a case: applying it to the parent's bytes must
give the child's bytes exactly, or be refused with the file untouched.

==================  =========================================================================
diff                a git-style unified diff, three lines of context (what ``git diff`` prints)
wrong_counts        the same diff with every hunk header's counts off by one or two
fenced              the diff in a fenced code block after a line of prose, with blank context
                    lines written as empty lines and the last hunk's final blank context line
                    missing (models strip trailing whitespace and the fence eats the last line)
search_replace      one SEARCH/REPLACE block per hunk, quoting the hunk's context
loose_quote         the same blocks quoting unchanged lines loosely: trailing whitespace
                    dropped and a blank line between two unchanged lines left out (the
                    model's copy of the context, not the file's)
ndjson              one ``search_replace`` NDJSON operation per hunk
whole_file          one ``replace_file`` NDJSON operation with the child's text
truncated           the diff cut inside its last hunk; the provider said ``max_tokens``
==================  =========================================================================

The answers use ``\\n`` endings whatever the file uses, as models write them. Nothing of the
repository is stored: cases are built in memory from ``git cat-file``.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

KINDS = (
    "diff",
    "wrong_counts",
    "fenced",
    "search_replace",
    "loose_quote",
    "ndjson",
    "whole_file",
    "truncated",
)
MAX_FILE_BYTES = 200_000


@dataclass(frozen=True)
class FileChange:
    """One modified file of one commit: the parent's and the child's bytes."""

    commit: str
    path: str
    before: bytes
    after: bytes


@dataclass(frozen=True)
class HistoryCase:
    """One rendering of a real change; ``stopped_early`` is what the provider would say."""

    id: str
    kind: str
    path: str
    answer: str
    before: bytes
    after: bytes
    stopped_early: bool


def file_changes(repo: Path, limit: int) -> Iterator[FileChange]:
    """Up to ``limit`` modified text files, newest non-merge commits first."""
    log = _git(repo, "log", "--no-merges", "--format=%H", "HEAD").split()
    found = 0
    with subprocess.Popen(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as batch:
        assert batch.stdin is not None and batch.stdout is not None

        def blob(sha: str) -> bytes:
            assert batch.stdin is not None and batch.stdout is not None
            batch.stdin.write(sha.encode() + b"\n")
            batch.stdin.flush()
            size = int(batch.stdout.readline().split()[2])
            data = batch.stdout.read(size)
            batch.stdout.read(1)
            return data

        for commit in log:
            raw = _git(repo, "diff-tree", "-r", "--no-renames", "--root", "-z", commit)
            fields = raw.split("\0")
            # -z raw output: ":mode mode sha sha status" NUL path NUL, after the commit id.
            for meta, path in zip(fields[1::2], fields[2::2], strict=False):
                parts = meta.lstrip(":").split()
                if len(parts) != 5 or parts[4] != "M" or parts[:2] != ["100644", "100644"]:
                    continue
                before, after = blob(parts[2]), blob(parts[3])
                if not (_is_text(before) and _is_text(after)):
                    continue
                yield FileChange(commit[:10], path, before, after)
                found += 1
                if found >= limit:
                    batch.stdin.close()
                    return
        batch.stdin.close()


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def _is_text(data: bytes) -> bool:
    if len(data) > MAX_FILE_BYTES or b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- hunks as a diff tool computes them --------------------------------------------------


@dataclass
class _Hunk:
    old_start: int
    new_start: int
    #: (tag, text) with tag " ", "-" or "+"; texts without their newline.
    lines: list[tuple[str, str]]

    def counts(self) -> tuple[int, int]:
        return (
            sum(1 for tag, _ in self.lines if tag != "+"),
            sum(1 for tag, _ in self.lines if tag != "-"),
        )


def text_lines(text: str) -> list[str]:
    parts = text.split("\n")
    if text.endswith("\n"):
        parts.pop()
    return parts if text else []


def diff_hunks(
    old: list[str], new: list[str], *, old_eof: bool = False, new_eof: bool = False
) -> list[_Hunk]:
    """The hunks ``diff -U3`` prints; ``*_eof``: that side has no final newline, which
    makes its last line differ from the same text with one."""
    marked_old = [*old[:-1], old[-1] + "\0"] if old and old_eof else old
    marked_new = [*new[:-1], new[-1] + "\0"] if new and new_eof else new
    matcher = SequenceMatcher(None, marked_old, marked_new, autojunk=False)
    context = 3
    hunks: list[_Hunk] = []
    for group in matcher.get_grouped_opcodes(context):
        body: list[tuple[str, str]] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                body.extend((" ", x) for x in old[i1:i2])
                continue
            body.extend(("-", x) for x in old[i1:i2])
            body.extend(("+", x) for x in new[j1:j2])
        hunks.append(_Hunk(group[0][1] + 1, group[0][3] + 1, body))
    return hunks


def _header(hunk: _Hunk, counts: tuple[int, int] | None = None) -> str:
    old_n, new_n = counts or hunk.counts()
    # A zero-length side starts one line earlier, as diff prints it.
    old_s = hunk.old_start - (1 if old_n == 0 else 0)
    new_s = hunk.new_start - (1 if new_n == 0 else 0)
    return f"@@ -{old_s},{old_n} +{new_s},{new_n} @@"


@dataclass(frozen=True)
class _Shape:
    """Whether each side lacks a final newline, and how many lines it has."""

    old_eof: bool
    new_eof: bool
    old_total: int
    new_total: int


def _render_diff(
    path: str,
    hunks: list[_Hunk],
    shape: _Shape,
    *,
    rng: random.Random | None = None,
    bare_blank: bool = False,
) -> list[str]:
    """The diff's lines; ``rng`` skews the counts, ``bare_blank`` strips blank context."""
    out = [f"diff --git a/{path} b/{path}", f"--- a/{path}", f"+++ b/{path}"]
    for hunk in hunks:
        counts = None
        if rng is not None:
            old_n, new_n = hunk.counts()
            counts = (
                max(0, old_n + rng.choice((-2, -1, 1, 2))),
                max(0, new_n + rng.choice((-1, 1))),
            )
        out.append(_header(hunk, counts))
        old_line, new_line = hunk.old_start - 1, hunk.new_start - 1
        for tag, text in hunk.lines:
            out.append("" if bare_blank and tag == " " and not text else tag + text)
            old_line += tag != "+"
            new_line += tag != "-"
            # "\ No newline" follows the last line of a side that has no final newline.
            last_old = tag != "+" and old_line == shape.old_total and shape.old_eof
            last_new = tag != "-" and new_line == shape.new_total and shape.new_eof
            ends = {" ": last_old and last_new, "-": last_old, "+": last_new}[tag]
            if ends:
                out.append("\\ No newline at end of file")
    return out


def _block_texts(hunk: _Hunk, loose: bool) -> tuple[str, str]:
    """A hunk as the ``old`` and ``new`` texts of a search/replace edit."""
    lines = list(hunk.lines)
    if loose:
        blanks = [i for i, (tag, text) in enumerate(lines) if tag == " " and not text.strip()]
        # Only a blank line between two unchanged lines: one next to a change is part of
        # what the change means (above or below the new lines?), and leaving it out
        # changes the edit, not just the quote.
        inner = [
            i
            for i in blanks
            if 0 < i < len(lines) - 1 and lines[i - 1][0] == lines[i + 1][0] == " "
        ]
        if inner:
            del lines[inner[0]]
        lines = [(tag, text.rstrip() if tag == " " else text) for tag, text in lines]
    old = "".join(text + "\n" for tag, text in lines if tag != "+")
    new = "".join(text + "\n" for tag, text in lines if tag != "-")
    return old, new


def render_cases(change: FileChange) -> list[HistoryCase]:
    """Every applicable kind of :data:`KINDS` for one real change."""
    before_text = change.before.decode("utf-8").replace("\r\n", "\n")
    after_text = change.after.decode("utf-8").replace("\r\n", "\n")
    old, new = text_lines(before_text), text_lines(after_text)
    old_eof = bool(before_text) and not before_text.endswith("\n")
    new_eof = bool(after_text) and not after_text.endswith("\n")
    hunks = diff_hunks(old, new, old_eof=old_eof, new_eof=new_eof)
    if not hunks:
        return []
    rng = random.Random(f"{change.commit}:{change.path}")
    path = change.path
    shape = _Shape(old_eof, new_eof, len(old), len(new))
    base = f"{change.commit}/{path}"
    cases: list[HistoryCase] = []

    def add(kind: str, answer: str, stopped_early: bool = False) -> None:
        cases.append(
            HistoryCase(
                f"{kind}/{base}",
                kind,
                path,
                answer,
                change.before,
                change.after,
                stopped_early,
            )
        )

    diff = _render_diff(path, hunks, shape)
    add("diff", "\n".join(diff) + "\n")
    add(
        "wrong_counts",
        "\n".join(_render_diff(path, hunks, shape, rng=rng)) + "\n",
    )
    fenced = _render_diff(path, hunks, shape, bare_blank=True)
    if hunks[-1].lines[-1] == (" ", "") and fenced[-1] == "":
        fenced.pop()
    add("fenced", "Here is the change:\n\n```diff\n" + "\n".join(fenced) + "\n```\n")
    # Search/replace cannot say "no newline at end of file"; such changes are left out.
    if not (old_eof or new_eof):
        blocks, loose, ops = [], [], []
        for hunk in hunks:
            old_text, new_text = _block_texts(hunk, loose=False)
            blocks.append(f"{path}\n```\n<<<<<<< SEARCH\n{old_text}=======\n{new_text}")
            blocks[-1] += ">>>>>>> REPLACE\n```\n"
            ops.append(
                json.dumps({"op": "search_replace", "path": path, "old": old_text, "new": new_text})
            )
            loose_old, loose_new = _block_texts(hunk, loose=True)
            loose.append(
                f"{path}\n```\n<<<<<<< SEARCH\n{loose_old}=======\n{loose_new}"
                ">>>>>>> REPLACE\n```\n"
            )
        add("search_replace", "\n".join(blocks))
        if loose != blocks:
            add("loose_quote", "\n".join(loose))
        add("ndjson", "\n".join(ops) + "\n")
    # A whole-file answer cannot drop a final newline the file had: models drop it by
    # habit, so the tool adds it back (see workspace/operations.py).
    if not (new_eof and not old_eof):
        add("whole_file", json.dumps({"op": "replace_file", "path": path, "content": after_text}))
    header_at = max(i for i, line in enumerate(diff) if line.startswith("@@"))
    first_change = next(i for i in range(header_at + 1, len(diff)) if diff[i][:1] in "-+")
    cut_at = rng.randint(first_change, len(diff) - 1)
    cut_line = diff[cut_at]
    text = "\n".join(diff[:cut_at]) + "\n" + cut_line[: rng.randint(0, len(cut_line))]
    add("truncated", text, stopped_early=True)
    return cases
