"""Edits land exactly as written: unchanged lines keep the file's bytes, in their places.

Each test builds a small git repository whose file carries one defect class seen when
real commits are rendered as models render them, applies the model's answer through the
parser and governed apply, and compares the file with the intended bytes (or checks that
it was refused and left untouched).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.agents.output import parse_model_output
from autopack.workspace.apply import ApplyResult, apply_edits
from autopack.workspace.guards import ApplyPolicy

GitRunner = Callable[..., str]


@pytest.fixture
def make_repo(tmp_path: Path, git: GitRunner) -> Callable[[str, bytes], Path]:
    """A repository with one committed file of the given bytes."""

    def make(rel: str, data: bytes) -> Path:
        root = tmp_path / "repo"
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial")
        return root

    return make


def apply_answer(root: Path, answer: str, *, stopped_early: bool | None = False) -> ApplyResult:
    parsed = parse_model_output(answer, stopped_early=stopped_early)
    assert parsed.edits, parsed.diagnostics
    return apply_edits(root, parsed.edits, ApplyPolicy())


TWO_FUNCTIONS = (
    b"def first():\n    return 1\n\n\ndef second():\n    value = 2\n\n    return value\n"
)


def test_a_blank_line_the_quote_left_out_is_not_moved(make_repo: Callable[..., Path]) -> None:
    # The file has two blank lines between the functions; the model quotes one. Where the
    # new function goes relative to the unquoted blank line is a guess: refused, untouched.
    root = make_repo("mod.py", TWO_FUNCTIONS)
    answer = (
        "mod.py\n<<<<<<< SEARCH\n    return 1\n\ndef second():\n=======\n"
        "    return 1\ndef middle():\n    pass\n\ndef second():\n>>>>>>> REPLACE\n"
    )
    result = apply_answer(root, answer)
    assert result.status == "rejected"
    assert "did not quote" in (result.outcomes[0].reason or "")
    assert (root / "mod.py").read_bytes() == TWO_FUNCTIONS


def test_a_blank_line_left_out_away_from_the_change_stays_where_it_is(
    make_repo: Callable[..., Path],
) -> None:
    # The quote skips the blank line inside second(); the change is elsewhere. The blank
    # line is the file's, kept in place, and only the changed line differs.
    root = make_repo("mod.py", TWO_FUNCTIONS)
    answer = (
        "mod.py\n<<<<<<< SEARCH\ndef second():\n    value = 2\n    return value\n=======\n"
        "def second():\n    value = 3\n    return value\n>>>>>>> REPLACE\n"
    )
    result = apply_answer(root, answer)
    assert result.applied, result.reason
    assert (root / "mod.py").read_bytes() == TWO_FUNCTIONS.replace(b"value = 2", b"value = 3")


def test_a_blank_line_only_change_quoted_loosely_is_not_reported_done(
    make_repo: Callable[..., Path],
) -> None:
    # The model adds a blank line, quoting the lines around it without the blank line the
    # file already has there: its "new" text is in the file, but nothing was applied.
    data = b"def first():\n    return 1\n\ndef second():\n    return 2\n"
    root = make_repo("mod.py", data)
    answer = (
        "mod.py\n<<<<<<< SEARCH\n    return 1\ndef second():\n=======\n"
        "    return 1\n\ndef second():\n>>>>>>> REPLACE\n"
    )
    result = apply_answer(root, answer)
    assert result.status == "rejected" and result.outcomes[0].status == "failed"
    assert "blank lines" in (result.outcomes[0].reason or "")
    assert (root / "mod.py").read_bytes() == data


def test_trailing_whitespace_and_crlf_of_unchanged_lines_are_kept(
    make_repo: Callable[..., Path],
) -> None:
    # The model's quote drops the trailing spaces and writes LF; the file keeps both.
    data = (
        b"def total(items):\r\n    count = 0   \r\n    for item in items:\t\r\n"
        b"        count += 1\r\n    return count\r\n"
    )
    root = make_repo("total.py", data)
    answer = (
        '{"op": "search_replace", "path": "total.py", "old": "    count = 0\\n'
        '    for item in items:\\n        count += 1\\n", '
        '"new": "    count = 0\\n    for item in items:\\n        count += item\\n"}\n'
    )
    result = apply_answer(root, answer)
    assert result.applied, result.reason
    assert (root / "total.py").read_bytes() == data.replace(b"count += 1", b"count += item")


# The body has 6 old and 6 new lines; the header claims 7 and 8. Trailing context is
# shorter than leading context (the hunk ends at the end of the file).
DIFF_WRONG_COUNTS = "\n".join(
    [
        "diff --git a/mod.py b/mod.py",
        "--- a/mod.py",
        "+++ b/mod.py",
        "@@ -3,7 +3,8 @@",
        " ",
        " ",
        " def second():",
        "-    value = 2",
        "+    value = 3",
        " ",
        "     return value",
        "",
    ]
)


@pytest.mark.parametrize("stopped_early", [False, None])
def test_a_complete_diff_with_wrong_hunk_counts_applies(
    make_repo: Callable[..., Path], stopped_early: bool | None
) -> None:
    # The provider said the answer ended (or said nothing, and the answer ends cleanly):
    # it is complete, whatever its counts say, and applies.
    root = make_repo("mod.py", TWO_FUNCTIONS)
    parsed = parse_model_output(DIFF_WRONG_COUNTS, stopped_early=stopped_early)
    assert not parsed.truncated
    result = apply_edits(root, parsed.edits, ApplyPolicy())
    assert result.applied, result.reason
    assert (root / "mod.py").read_bytes() == TWO_FUNCTIONS.replace(b"value = 2", b"value = 3")


def test_the_same_diff_cut_at_the_token_limit_is_not_applied_in_part(
    make_repo: Callable[..., Path],
) -> None:
    # With max_tokens as the stop reason, a last hunk whose counts are not met may be
    # missing lines: it is dropped, and the answer is reported truncated.
    root = make_repo("mod.py", TWO_FUNCTIONS)
    parsed = parse_model_output(DIFF_WRONG_COUNTS, stopped_early=True)
    assert parsed.truncated and not parsed.edits
    assert (root / "mod.py").read_bytes() == TWO_FUNCTIONS


def test_a_fenced_diff_missing_its_last_blank_context_line_applies(
    make_repo: Callable[..., Path],
) -> None:
    data = b"import os\n\nA = 1\nB = 2\nC = 3\n\n"
    root = make_repo("consts.py", data)
    # git would end the hunk with " " (a blank context line); the fence ate it.
    answer = (
        "Here is the change:\n\n```diff\n--- a/consts.py\n+++ b/consts.py\n"
        "@@ -2,5 +2,5 @@\n \n A = 1\n-B = 2\n+B = 20\n C = 3\n```\n"
    )
    result = apply_answer(root, answer, stopped_early=None)
    assert result.applied, result.reason
    assert (root / "consts.py").read_bytes() == data.replace(b"B = 2\n", b"B = 20\n")


def test_a_diff_that_creates_a_symlink_is_refused(make_repo: Callable[..., Path]) -> None:
    root = make_repo("README.md", b"# Demo\n")
    answer = (
        "diff --git a/link b/link\nnew file mode 120000\nindex 0000000..1de5659\n"
        "--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+/etc/passwd\n"
        "\\ No newline at end of file\n"
    )
    parsed = parse_model_output(answer, stopped_early=False)
    assert not parsed.edits
    assert any("symbolic link" in d.reason for d in parsed.diagnostics)
    assert apply_edits(root, parsed.edits, ApplyPolicy()).status == "rejected"
    assert not (root / "link").exists() and not (root / "link").is_symlink()
