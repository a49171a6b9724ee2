"""The model-output parser: every format, tolerant of real defects, honest about losses."""

from __future__ import annotations

import json

from autopack.agents.output import (
    MAX_OUTPUT_CHARS,
    NDJSON_FORMAT_SPEC,
    ParsedOutput,
    parse_model_output,
)
from autopack.domain.edits import (
    EDIT_KINDS,
    CreateFile,
    DeleteFile,
    DiffHunks,
    InsertAfter,
    ReplaceFile,
    ReplaceLines,
    SearchReplace,
)


def test_every_example_in_the_format_spec_parses_to_its_operation() -> None:
    # The Builder prompt quotes the spec; a spec the parser disagrees with is a bug.
    examples: list[str] = []
    for line in NDJSON_FORMAT_SPEC.splitlines():
        if line.startswith("{"):
            examples.append(line)
        elif line.startswith(" {") or (line.startswith(" ") and examples):
            examples[-1] += line  # the one example wrapped for width
    parsed = parse_model_output("\n".join(examples))
    assert not parsed.errors, parsed.errors
    assert len(parsed.edits) == len(examples)
    assert {edit.kind for edit in parsed.edits} == set(EDIT_KINDS) - {"diff_hunks"}


def test_ndjson_with_fences_prose_and_aliases() -> None:
    answer = (
        "Sure, here you go:\n```jsonl\n"
        '{"type": "create_file", "file": "a.py", "text": "x = 1\\n"}\n'
        '{"action": "str_replace", "filename": "b.py", "old_str": "no", "search": "1", '
        '"replace": "2"}\n'
        '{"op": "insert_after", "path": "c.py", "after": "import os\\n", "code": "import re\\n"}\n'
        '{"op": "replace_lines", "path": "d.py", "start_line": 2, "end_line": 3, '
        '"old": "b\\nc\\n", "content": "bc\\n"}\n'
        "```\nDone.\n"
    )
    parsed = parse_model_output(answer)
    assert parsed.format == "ndjson" and not parsed.errors and not parsed.truncated
    assert parsed.edits[0] == CreateFile(path="a.py", content="x = 1\n")
    assert parsed.edits[1] == SearchReplace(path="b.py", old="1", new="2")
    assert parsed.edits[2] == InsertAfter(path="c.py", anchor="import os\n", content="import re\n")
    assert parsed.edits[3] == ReplaceLines(
        path="d.py", start=2, end=3, expected="b\nc\n", content="bc\n"
    )
    ignored = [d for d in parsed.diagnostics if d.severity == "ignored"]
    assert [d.line for d in ignored] == [1, 8]


def test_ndjson_truncated_last_line_keeps_the_complete_ones() -> None:
    answer = (
        '{"op": "delete", "path": "old.py"}\n'
        '{"op": "create", "path": "new.py", "content": "def f():\\n    ret'
    )
    parsed = parse_model_output(answer)
    assert parsed.edits == [DeleteFile(path="old.py")]
    assert parsed.truncated
    assert len(parsed.errors) == 1 and parsed.errors[0].line == 2


def test_ndjson_broken_middle_line_is_reported_not_truncation() -> None:
    answer = (
        '{"op": "delete", "path": "a"}\n{"op": "delete", path: b}\n{"op": "delete", "path": "c"}\n'
    )
    parsed = parse_model_output(answer)
    assert [e.path for e in parsed.edits] == ["a", "c"]
    assert not parsed.truncated
    assert parsed.errors[0].line == 2 and "invalid JSON" in parsed.errors[0].reason


def test_ndjson_pretty_printed_object_and_array() -> None:
    pretty = json.dumps({"op": "append", "path": "x.md", "content": "- item\n"}, indent=2)
    array = json.dumps([{"op": "delete", "path": "a"}, {"op": "delete", "path": "b"}])
    parsed = parse_model_output(pretty + "\n" + array + "\n")
    assert [e.kind for e in parsed.edits] == ["append", "delete", "delete"]


def test_ndjson_invalid_operations_are_named() -> None:
    answer = (
        '{"op": "teleport", "path": "a"}\n'
        '{"op": "search_replace", "path": "a", "old": "x"}\n'
        '{"op": "create", "content": "x"}\n'
        '{"op": "replace_lines", "path": "a", "start": 5, "end": 2, "content": ""}\n'
    )
    reasons = [d.reason for d in parse_model_output(answer).errors]
    assert "unknown op 'teleport'" in reasons[0]
    assert "new" in reasons[1]
    assert 'no "path"' in reasons[2]
    assert "before start" in reasons[3]


def test_ndjson_diff_operation() -> None:
    diff = "@@ -1,2 +1,2 @@\n a\n-b\n+B\n"
    parsed = parse_model_output(json.dumps({"op": "diff", "path": "f.txt", "diff": diff}))
    assert len(parsed.edits) == 1
    edit = parsed.edits[0]
    assert isinstance(edit, DiffHunks) and edit.path == "f.txt"
    assert edit.hunks[0].old_lines() == ["a", "b"] and edit.hunks[0].new_lines() == ["a", "B"]


def test_files_object_and_modes() -> None:
    answer = json.dumps(
        {
            "files": [
                {"path": "a.py", "mode": "create", "new_content": "a\r\n"},
                {"path": "b.py", "mode": "modify", "new_content": "b\n"},
                {"path": "c.py", "mode": "delete"},
                {"path": "d.py", "mode": "modify"},
            ]
        }
    )
    parsed = parse_model_output("```json\n" + answer + "\n```")
    assert parsed.format == "files_json"
    assert parsed.edits == [
        CreateFile(path="a.py", content="a\n"),
        ReplaceFile(path="b.py", content="b\n"),
        DeleteFile(path="c.py"),
    ]
    assert "no new_content" in parsed.errors[0].reason


def test_files_object_truncated_salvages_complete_files() -> None:
    answer = (
        '{"files": [{"path": "a.py", "mode": "modify", "new_content": "a\\n"},\n'
        ' {"path": "b.py", "mode": "modify", "new_content": "def b():\\n    pa'
    )
    parsed = parse_model_output(answer)
    assert parsed.edits == [ReplaceFile(path="a.py", content="a\n")]
    assert parsed.truncated and "files[1]" in parsed.errors[0].reason


def test_search_replace_blocks() -> None:
    answer = (
        "Change the loop:\n\nsrc/app.py\n```python\n<<<<<<< SEARCH\n    for x in xs:\n"
        "        go(x)\n=======\n    for x in xs:\n        go(x, fast=True)\n>>>>>>> REPLACE\n"
        "```\n\nAnd the import:\n\n```python\n<<<<<<< SEARCH\nimport os\n=======\nimport os\n"
        "import re\n>>>>>>> REPLACE\n```\n\n```python src/util.py\n<<<<<<< SEARCH\n=======\n"
        "x = 1\n>>>>>>> REPLACE\n```\n"
    )
    parsed = parse_model_output(answer)
    assert parsed.format == "search_replace"
    assert parsed.edits[0] == SearchReplace(
        path="src/app.py",
        old="    for x in xs:\n        go(x)\n",
        new="    for x in xs:\n        go(x, fast=True)\n",
    )
    # A block whose path line is prose gets no path: the edit is reported, not guessed.
    assert len(parsed.edits) == 2 and parsed.edits[1].path == "src/util.py"
    assert parsed.errors[0].reason == "no file path on the line before the block"


def test_search_replace_consecutive_blocks_share_the_path_and_truncation_is_reported() -> None:
    answer = (
        "**a.py**\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n"
        "<<<<<<< SEARCH\np\n=======\nq\n>>>>>>> REPLACE\n"
        "a.py\n<<<<<<< SEARCH\nm\n=======\nn"
    )
    parsed = parse_model_output(answer)
    assert [(e.path, e.kind) for e in parsed.edits] == [("a.py", "search_replace")] * 2
    assert parsed.truncated and "cut off" in parsed.errors[0].reason


GIT_DIFF = """\
diff --git a/src/a.py b/src/a.py
index 1111111..2222222 100644
--- a/src/a.py
+++ b/src/a.py
@@ -10,7 +10,7 @@ def f():
     x = 1

-    y = 2
+    y = 3
     return x + y
@@ -40,3 +40,4 @@
 end
+more
\\ No newline at end of file
diff --git a/new.txt b/new.txt
new file mode 100644
--- /dev/null
+++ b/new.txt
@@ -0,0 +1 @@
+hello
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
"""


def test_git_diff_with_new_deleted_files_and_wrong_counts() -> None:
    parsed = parse_model_output("Here:\n```diff\n" + GIT_DIFF + "```\n")
    assert parsed.format == "unified_diff" and not parsed.errors and not parsed.truncated
    first, new, gone = parsed.edits
    assert isinstance(first, DiffHunks) and first.path == "src/a.py"
    assert first.hunks[0].old_lines() == ["    x = 1", "", "    y = 2", "    return x + y"]
    assert first.hunks[1].new_ends_without_newline
    assert isinstance(new, DiffHunks) and new.new_file and new.path == "new.txt"
    assert isinstance(gone, DiffHunks) and gone.deleted_file and gone.path == "gone.txt"
    counts = [d for d in parsed.diagnostics if "counts" in d.reason]
    assert counts and counts[0].severity == "ignored"


def test_plain_diff_without_numbers_and_with_timestamps() -> None:
    answer = "--- app.py\t2024-01-01\n+++ app.py\t2024-01-02\n@@ @@\n a\n-b\n+c\n"
    edit = parse_model_output(answer).edits[0]
    assert isinstance(edit, DiffHunks) and edit.path == "app.py"
    assert edit.hunks[0].old_start == 0 and edit.hunks[0].new_lines() == ["a", "c"]


def test_removed_sql_comment_is_not_mistaken_for_a_file_header() -> None:
    answer = "--- a/q.sql\n+++ b/q.sql\n@@ -1,3 +1,3 @@\n select 1;\n--- old\n+++ new\n end;\n"
    edit = parse_model_output(answer).edits[0]
    assert isinstance(edit, DiffHunks)
    assert edit.hunks[0].old_lines() == ["select 1;", "-- old", "end;"]
    assert edit.hunks[0].new_lines() == ["select 1;", "++ new", "end;"]


def test_diff_cut_inside_its_last_hunk_drops_that_hunk() -> None:
    answer = (
        "```diff\n--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n x\n-y\n+Y\n z\n"
        "--- a/b.py\n+++ b/b.py\n@@ -5,4 +5,4 @@\n p\n-q\n"
    )
    parsed = parse_model_output(answer)
    assert [e.path for e in parsed.edits] == ["a.py"]
    assert parsed.truncated and "cut off" in parsed.errors[0].reason


def test_diff_cut_inside_a_hunk_header() -> None:
    answer = (
        "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n x\n-y\n+Y\n z\n"
        "--- a/b.py\n+++ b/b.py\n@@ -19,6 +1"
    )
    parsed = parse_model_output(answer)
    assert [e.path for e in parsed.edits] == ["a.py"]
    assert parsed.truncated and "closing @@" in parsed.errors[0].reason


def test_hunk_headers_with_prose_between_the_marks() -> None:
    edit = parse_model_output("--- a/f\n+++ b/f\n@@ ... @@\n a\n-b\n+c\n").edits[0]
    assert isinstance(edit, DiffHunks) and edit.hunks[0].old_lines() == ["a", "b"]
    with_section = parse_model_output(
        "--- a/f\n+++ b/f\n@@ -7,2 +7,2 @@ def f(x - y):\n a\n-b\n+c\n"
    )
    hunk = with_section.edits[0].hunks[0]  # type: ignore[union-attr]
    assert (hunk.old_start, hunk.old_count, hunk.new_count) == (7, 2, 2)


def test_stop_reason_from_the_provider_marks_truncation() -> None:
    answer = "--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n x\n-y\n+Y\n"
    assert not parse_model_output(answer).truncated
    cut = parse_model_output(answer, stopped_early=True)
    assert cut.truncated


def test_renames_and_binary_patches_are_reported() -> None:
    answer = (
        "diff --git a/x b/y\nsimilarity index 90%\nrename from x\nrename to y\n"
        "diff --git a/i.png b/i.png\nBinary files a/i.png and b/i.png differ\n"
    )
    parsed = parse_model_output(answer)
    assert parsed.edits == []
    assert len(parsed.errors) == 2


def test_earliest_format_wins() -> None:
    answer = "a.py\n<<<<<<< SEARCH\n--- a/b\n+++ b/b\n=======\nx\n>>>>>>> REPLACE\n"
    assert parse_model_output(answer).format == "search_replace"


def test_no_edits_and_huge_answers_are_reported() -> None:
    nothing = parse_model_output("I could not find the file you mentioned.")
    assert nothing.edits == [] and nothing.format == "empty" and nothing.errors
    huge = parse_model_output("x" * (MAX_OUTPUT_CHARS + 1))
    assert huge.edits == [] and "cap" in huge.errors[0].reason


def test_large_but_allowed_answer_parses_in_linear_time() -> None:
    line = json.dumps({"op": "append", "path": "log.txt", "content": "entry\n"})
    parsed: ParsedOutput = parse_model_output("\n".join([line] * 20_000))
    assert len(parsed.edits) == 20_000


# A complete hunk whose header overstates its counts, ending on a short trailing context.
WRONG_COUNTS = "--- a/a.py\n+++ b/a.py\n@@ -1,6 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n"


def test_hunk_counts_alone_never_make_a_diff_truncated() -> None:
    for stopped_early in (False, None):
        parsed = parse_model_output(WRONG_COUNTS, stopped_early=stopped_early)
        assert not parsed.truncated and len(parsed.edits) == 1, stopped_early
    # At the token limit, the same unmet counts mean lines may be missing.
    cut = parse_model_output(WRONG_COUNTS, stopped_early=True)
    assert cut.truncated and not cut.edits


def test_without_a_stop_reason_the_end_of_the_answer_decides() -> None:
    open_fence = parse_model_output("```diff\n" + WRONG_COUNTS, stopped_early=None)
    assert open_fence.truncated and not open_fence.edits
    cut_change = parse_model_output(WRONG_COUNTS[: -len(" e\n")] + "+Do", stopped_early=None)
    assert cut_change.truncated and not cut_change.edits
    # The provider said it ended: an unclosed fence is the model's slip, not a cut.
    ended = parse_model_output("```diff\n" + WRONG_COUNTS, stopped_early=False)
    assert not ended.truncated and len(ended.edits) == 1


def test_a_diff_that_makes_a_symlink_or_submodule_is_refused() -> None:
    for mode in ("120000", "160000"):
        answer = (
            f"diff --git a/link b/link\nnew file mode {mode}\n--- /dev/null\n+++ b/link\n"
            "@@ -0,0 +1 @@\n+target\n"
        )
        parsed = parse_model_output(answer)
        assert not parsed.edits
        assert f"mode {mode}" in parsed.errors[0].reason
    typechange = (
        "diff --git a/x b/x\nold mode 100644\nnew mode 120000\n--- a/x\n+++ b/x\n"
        "@@ -1 +1 @@\n-text\n+target\n"
    )
    assert not parse_model_output(typechange).edits


def test_search_replace_with_equals_lines_in_the_text() -> None:
    # A reStructuredText title underline of nine = signs is text; seven is the divider.
    title = "docs/api.rst\n<<<<<<< SEARCH\nTitle\n=========\nold\n=======\nnew\n"
    edit = parse_model_output(title + ">>>>>>> REPLACE\n").edits[0]
    assert isinstance(edit, SearchReplace)
    assert (edit.old, edit.new) == ("Title\n=========\nold\n", "new\n")
    # Two lines of exactly seven: which one divides is a guess, so the block is refused.
    two = "docs/api.rst\n<<<<<<< SEARCH\nTitle\n=======\nold\n=======\nnew\n>>>>>>> REPLACE\n"
    parsed = parse_model_output(two)
    assert not parsed.edits and "more than one =======" in parsed.diagnostics[0].reason


def test_search_replace_path_may_be_a_well_known_bare_file_name() -> None:
    block = "<<<<<<< SEARCH\nall:\n=======\nall: test\n>>>>>>> REPLACE\n"
    assert [e.path for e in parse_model_output("Makefile\n" + block).edits] == ["Makefile"]
    assert not parse_model_output("Changes\n" + block).edits


def test_plain_file_headers_after_a_hunk_with_overstated_counts_start_a_new_file() -> None:
    answer = (
        "--- x.py\n+++ x.py\n@@ -1,9 +1,9 @@\n a\n-b\n+B\n--- y.py\n+++ y.py\n@@ -1 +1 @@\n-c\n+C\n"
    )
    parsed = parse_model_output(answer, stopped_early=False)
    assert [e.path for e in parsed.edits] == ["x.py", "y.py"]
