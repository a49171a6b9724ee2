"""`autopack apply OUTPUT_FILE --repo DIR`: exit codes, JSON result, git behaviour."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli.main import _register, app

GitRunner = Callable[..., str]
NDJSON = (
    '{"op": "search_replace", "path": "src/app.py", "old": "def main():\\n    x = 1\\n", '
    '"new": "def main():\\n    x = 2\\n"}\n'
    '{"op": "create", "path": "src/util.py", "content": "def f():\\n    return 1\\n"}\n'
)
DIFF = """\
Here is the patch:
```diff
--- a/src/app.py
+++ b/src/app.py
@@ -20,4 +20,4 @@
 def main():
-    x = 1
+    x = 3
     return x
```
"""


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    _register()
    return CliRunner()


def answer(tmp_path: Path, text: str, name: str = "answer.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(runner: CliRunner, *args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["apply", *map(str, args)])
    return result.exit_code, result.output


def test_applies_without_committing_and_reports_json(
    runner: CliRunner, repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    code, out = run(runner, answer(tmp_path, NDJSON), "--repo", repo, "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["status"] == "applied" and report["applied"] is True
    assert report["files_changed"] == ["src/app.py", "src/util.py"]
    assert (report["lines_added"], report["lines_removed"]) == (3, 1)
    assert [o["method"] for o in report["outcomes"]] == ["exact", "whole_file"]
    assert report["parse"]["format"] == "ndjson"
    assert "x = 2" in (repo / "src" / "app.py").read_text()
    assert git(repo, "log", "--oneline").count("\n") == 1, "no commit without --commit"


def test_same_answer_again_is_a_no_op_exit_0(runner: CliRunner, repo: Path, tmp_path: Path) -> None:
    ans = answer(tmp_path, NDJSON)
    assert run(runner, ans, "--repo", repo)[0] == 0
    code, out = run(runner, ans, "--repo", repo, "--json", "--allow-dirty")
    assert code == 0 and json.loads(out)["status"] == "no_op"


def test_diff_with_wrong_line_numbers_and_commit(
    runner: CliRunner, repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    code, out = run(runner, answer(tmp_path, DIFF), "--repo", repo, "--commit", "-m", "x=3")
    assert code == 0, out
    assert git(repo, "log", "-1", "--format=%s").strip() == "x=3"
    assert git(repo, "status", "--porcelain") == ""


def test_rejection_exits_1_with_the_reason_per_edit(
    runner: CliRunner, repo: Path, tmp_path: Path
) -> None:
    bad = '{"op": "search_replace", "path": "src/app.py", "old": "nope\\n", "new": "x\\n"}\n'
    code, out = run(runner, answer(tmp_path, NDJSON + bad), "--repo", repo, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["status"] == "rejected"
    assert [o["status"] for o in report["outcomes"]] == ["applied", "applied", "failed"]
    assert report["outcomes"][2]["code"] == "not_found"
    assert "x = 1" in (repo / "src" / "app.py").read_text(), "all or nothing"


def test_paths_limit_scope_and_protected_paths_always_apply(
    runner: CliRunner, repo: Path, tmp_path: Path
) -> None:
    assert run(runner, answer(tmp_path, NDJSON), "--repo", repo, "--paths", "docs/")[0] == 1
    env = '{"op": "create", "path": ".env", "content": "SECRET=1\\n"}\n'
    code, out = run(runner, answer(tmp_path, env, "env.txt"), "--repo", repo)
    assert code == 1 and "protected" in out
    assert not (repo / ".env").exists()


def test_dirty_tree_is_refused_unless_allowed(
    runner: CliRunner, repo: Path, tmp_path: Path
) -> None:
    (repo / "README.md").write_text("# Local edit\n")
    code, out = run(runner, answer(tmp_path, NDJSON), "--repo", repo, "--json")
    assert code == 1 and json.loads(out)["code"] == "dirty_tree"
    assert run(runner, answer(tmp_path, NDJSON), "--repo", repo, "--dry-run")[0] == 0
    assert "x = 1" in (repo / "src" / "app.py").read_text()
    assert run(runner, answer(tmp_path, NDJSON), "--repo", repo, "--allow-dirty")[0] == 0
    assert (repo / "README.md").read_text() == "# Local edit\n"


def test_answer_file_inside_the_repo_does_not_make_it_dirty(runner: CliRunner, repo: Path) -> None:
    assert run(runner, answer(repo, NDJSON), "--repo", repo)[0] == 0


def test_parse_errors_need_allow_partial(runner: CliRunner, repo: Path, tmp_path: Path) -> None:
    cut = NDJSON + '{"op": "create", "path": "src/late.py", "content": "unfini'
    code, out = run(runner, answer(tmp_path, cut), "--repo", repo, "--json")
    assert code == 1 and json.loads(out)["parse"]["truncated"] is True
    code, _ = run(runner, answer(tmp_path, cut), "--repo", repo, "--allow-partial")
    assert code == 0 and (repo / "src" / "util.py").exists()
    assert not (repo / "src" / "late.py").exists()


def test_usage_errors_exit_2(runner: CliRunner, repo: Path, tmp_path: Path) -> None:
    assert run(runner, tmp_path / "missing.txt", "--repo", repo)[0] == 2
    assert run(runner, answer(tmp_path, NDJSON), "--repo", tmp_path / "nope")[0] == 2
    plain = tmp_path / "plain"
    plain.mkdir()
    assert run(runner, answer(tmp_path, NDJSON), "--repo", plain, "--commit")[0] == 2
    assert run(runner, answer(tmp_path, NDJSON), "--repo", repo, "--paths", "../x/")[0] == 2


def test_large_deletion_needs_approve_deletions(
    runner: CliRunner, repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    (repo / "big.py").write_text("".join(f"v{i} = {i}\n" for i in range(300)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "big")
    shrink = '{"op": "replace_file", "path": "big.py", "content": "v0 = 0\\n"}\n'
    code, out = run(runner, answer(tmp_path, shrink), "--repo", repo)
    assert code == 1 and "--approve-deletions" in out
    code, out = run(
        runner, answer(tmp_path, shrink), "--repo", repo, "--approve-deletions", "--json"
    )
    assert code == 0 and json.loads(out)["savepoint"] == "autopack/apply/save/1"
    assert (repo / "big.py").read_text() == "v0 = 0\n"


def test_works_on_a_plain_directory_without_git(runner: CliRunner, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "src").mkdir(parents=True)
    (plain / "src" / "app.py").write_text("def main():\n    x = 1\n    return x\n")
    code, out = run(runner, answer(tmp_path, NDJSON), "--repo", plain)
    assert code == 0, out
    assert "x = 2" in (plain / "src" / "app.py").read_text()


def test_answer_from_stdin(runner: CliRunner, repo: Path) -> None:
    result = runner.invoke(app, ["apply", "-", "--repo", str(repo), "--json"], input=NDJSON)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["applied"] is True
