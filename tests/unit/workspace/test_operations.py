"""Each edit kind applied to text in memory: placement, the file's own style, retries."""

from __future__ import annotations

import pytest

from autopack.domain.edits import (
    Append,
    CreateFile,
    DeleteFile,
    DeleteLines,
    DiffHunks,
    Edit,
    Hunk,
    HunkLine,
    InsertAfter,
    InsertBefore,
    Prepend,
    ReplaceFile,
    ReplaceLines,
    SearchReplace,
)
from autopack.workspace.operations import OperationResult, apply_operation
from autopack.workspace.splice import SpliceAmbiguous, splice_lines

GO = "package main\n\nfunc main() {\n\tx := 1\n\n\tfmt.Println(x)\n}\n"


def ok(current: str | None, edit: Edit) -> OperationResult:
    result = apply_operation(current, edit)
    assert result.status == "applied", result.reason
    return result


def hunk(start: int, *body: str) -> Hunk:
    return Hunk(
        old_start=start,
        lines=tuple(HunkLine(tag=line[0], text=line[1:]) for line in body),  # type: ignore[arg-type]
    )


def test_search_replace_exact() -> None:
    result = ok(GO, SearchReplace(path="m.go", old="\tx := 1\n", new="\tx := 2\n"))
    assert result.text == GO.replace("x := 1", "x := 2")
    assert result.method == "exact" and result.first_line == 4


def test_search_replace_with_spaces_keeps_tabs_and_the_unquoted_blank_line() -> None:
    edit = SearchReplace(
        path="m.go",
        old="    x := 1\n    fmt.Println(x)\n",
        new="    x := 1\n    if x > 0 {\n        fmt.Println(x)\n    }\n",
    )
    result = ok(GO, edit)
    assert result.method == "whitespace"
    assert result.text == (
        "package main\n\nfunc main() {\n\tx := 1\n\n\tif x > 0 {\n\t\tfmt.Println(x)\n\t}\n}\n"
    )


def test_retried_search_replace_is_already_present() -> None:
    edit = SearchReplace(path="m.go", old="\tx := 1\n", new="\tx := 1\n\ty := 2\n")
    once = ok(GO, edit)
    again = apply_operation(once.text, edit)
    assert again.status == "already_present"
    assert again.text == once.text


def test_retried_insertion_quoted_with_other_indentation_is_not_applied_twice() -> None:
    edit = SearchReplace(path="m.go", old="  x := 1\n", new="  x := 1\n  y := 2\n")
    once = ok(GO, edit)
    assert apply_operation(once.text, edit).status == "already_present"


def test_missing_text_fails_with_candidates() -> None:
    result = apply_operation(GO, SearchReplace(path="m.go", old="\tz := 9\n", new="\tz := 8\n"))
    assert result.status == "failed" and result.code == "not_found"
    assert result.candidates


def test_empty_old_creates_a_missing_file_but_refuses_a_full_one() -> None:
    assert ok(None, SearchReplace(path="n.txt", old="", new="hi\n")).text == "hi\n"
    assert apply_operation(GO, SearchReplace(path="m.go", old="", new="x\n")).code == "empty"


def test_create_refuses_to_overwrite_different_content_but_accepts_identical() -> None:
    assert ok(None, CreateFile(path="a", content="a")).text == "a\n"
    assert apply_operation("b\n", CreateFile(path="a", content="a\n")).code == "file_exists"
    assert apply_operation("a\n", CreateFile(path="a", content="a")).status == "already_present"


def test_replace_file_and_delete() -> None:
    assert ok("old\n", ReplaceFile(path="a", content="new")).text == "new\n"
    assert ok("old", ReplaceFile(path="a", content="new")).text == "new"  # no final newline kept
    assert apply_operation("same\n", ReplaceFile(path="a", content="same\n")).status == (
        "already_present"
    )
    assert ok("x\n", DeleteFile(path="a")).text is None
    assert apply_operation(None, DeleteFile(path="a")).status == "already_present"


def test_insert_after_and_before_a_partial_anchor() -> None:
    after = ok(GO, InsertAfter(path="m.go", anchor="func main()", content="\t// start\n"))
    assert after.text is not None and "func main() {\n\t// start\n\tx := 1" in after.text
    before = ok(GO, InsertBefore(path="m.go", anchor="func main", content="// Main runs.\n"))
    assert before.text is not None and "\n// Main runs.\nfunc main() {" in before.text
    retry = apply_operation(
        after.text, InsertAfter(path="m.go", anchor="func main()", content="\t// start\n")
    )
    assert retry.status == "already_present"


def test_insert_after_an_anchor_quoted_with_spaces_uses_the_files_tabs() -> None:
    result = ok(GO, InsertAfter(path="m.go", anchor="    x := 1\n", content="    y := x\n"))
    assert result.method == "whitespace"
    assert result.text is not None and "\tx := 1\n\ty := x\n" in result.text


def test_ambiguous_anchor_fails() -> None:
    result = apply_operation("a\nb\na\n", InsertAfter(path="f", anchor="a\n", content="x\n"))
    assert result.status == "failed" and result.code == "ambiguous"


def test_replace_lines_trusts_numbers_without_expected_text() -> None:
    result = ok("1\n2\n3\n4\n", ReplaceLines(path="f", start=2, end=3, content="two\n"))
    assert result.text == "1\ntwo\n4\n"


def test_replace_lines_with_stale_numbers_follows_the_expected_text() -> None:
    edit = ReplaceLines(path="f", start=1, end=1, expected="3\n", content="three\n")
    result = ok("1\n2\n3\n4\n", edit)
    assert result.text == "1\n2\nthree\n4\n"
    assert result.notes and "stale" in result.notes[0]
    # Run again, the edit finds "three" at line 3, not at its line 1, with no quoted
    # context to tie it to this edit: that is reported as not applied, never as done.
    again = apply_operation(result.text, edit)
    assert again.status == "failed" and "line 3" in (again.reason or "")
    anchored = ReplaceLines(path="f", start=3, end=3, expected="3\n", content="three\n")
    assert apply_operation(result.text, anchored).status == "already_present"


def test_replace_lines_expected_with_spaces_keeps_the_files_tabs() -> None:
    edit = ReplaceLines(
        path="m.go", start=4, end=4, expected="    x := 1\n", content="    x := 1\n    y := 2\n"
    )
    result = ok(GO, edit)
    assert result.method == "whitespace" and not result.notes
    assert result.text is not None and "\tx := 1\n\ty := 2\n" in result.text


def test_retried_replace_lines_without_expected_is_recognized() -> None:
    edit = ReplaceLines(path="f", start=2, end=2, content="b1\nb2\n")
    once = ok("a\nb\nc\n", edit)
    assert once.text == "a\nb1\nb2\nc\n" and "trust" in once.notes[0]
    assert apply_operation(once.text, edit).status == "already_present"


def test_line_range_past_the_end_fails() -> None:
    result = apply_operation("1\n", DeleteLines(path="f", start=3, end=4))
    assert result.status == "failed" and result.code == "out_of_range"


def test_delete_lines_and_append_prepend() -> None:
    assert ok("1\n2\n3\n", DeleteLines(path="f", start=2, end=2)).text == "1\n3\n"
    assert ok("a", Append(path="f", content="b")).text == "a\nb\n"
    assert ok("b\n", Prepend(path="f", content="a\n")).text == "a\nb\n"
    assert apply_operation("a\nb\n", Append(path="f", content="b\n")).status == "already_present"


def test_diff_hunks_with_shifted_numbers_and_drift() -> None:
    text = "".join(f"line {i}\n" for i in range(1, 41))
    edit = DiffHunks(
        path="f",
        hunks=(
            hunk(12, " line 4", "-line 5", "+LINE 5", "+extra", " line 6"),
            # Claimed 22, really 24 (the same +8 shift as hunk 1), and hunk 1 added a line.
            hunk(22, " line 30", "-line 31", " line 32"),
        ),
    )
    result = ok(text, edit)
    assert result.text is not None
    assert "line 4\nLINE 5\nextra\nline 6\n" in result.text
    assert "line 30\nline 32\n" in result.text
    assert apply_operation(result.text, edit).status == "already_present"


def test_diff_hunk_on_duplicated_context_uses_the_exact_line_number() -> None:
    text = "a\nb\nc\nx\na\nb\nc\n"
    edit = DiffHunks(path="f", hunks=(hunk(5, " a", "-b", "+B", " c"),))
    assert ok(text, edit).text == "a\nb\nc\nx\na\nB\nc\n"
    shifted = DiffHunks(path="f", hunks=(hunk(4, " a", "-b", "+B", " c"),))
    assert apply_operation(text, shifted).code == "ambiguous"


def test_hunk_without_context_is_refused_in_a_non_empty_file() -> None:
    edit = DiffHunks(path="f", hunks=(hunk(2, "+new"),))
    assert apply_operation("a\nb\n", edit).code == "no_context"


def test_new_and_deleted_file_diffs() -> None:
    new = DiffHunks(path="f", new_file=True, hunks=(hunk(0, "+a", "+b"),))
    assert ok(None, new).text == "a\nb\n"
    assert apply_operation("a\nb\n", new).status == "already_present"
    gone = DiffHunks(path="f", deleted_file=True, hunks=(hunk(1, "-a", "-b"),))
    assert ok("a\nb\n", gone).text is None
    assert apply_operation("a\nc\n", gone).code == "content_mismatch"


def test_missing_file_fails_for_edits_that_need_one() -> None:
    result = apply_operation(None, InsertAfter(path="f", anchor="x", content="y"))
    assert result.code == "missing_file"


def test_splice_keeps_file_lines_the_model_did_not_change() -> None:
    region = ["\tx := 1  ", "", "\t// stale comment", "\treturn x"]
    old = ["    x := 1", "    // stale coment", "    return x"]
    new = ["    x := 1", "    // stale coment", "    return x + 1"]
    assert splice_lines(region, old, new) == [
        "\tx := 1  ",
        "",
        "\t// stale comment",
        "\treturn x + 1",
    ]


def test_splice_refuses_an_insertion_next_to_an_unquoted_line() -> None:
    with pytest.raises(SpliceAmbiguous):
        splice_lines(["a", "unquoted", "b"], ["a", "b"], ["a", "new", "b"])
