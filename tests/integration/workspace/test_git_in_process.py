"""The executor's git hot path in-process (libgit2): what git itself then sees.

Every check reads the result back with the git command line, so the in-process commits,
tags and index are the ones git would have written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.errors import LeaseLost, WorkspaceError
from autopack.workspace.git import GitWorkspace
from autopack.workspace.git_lib import clean_message

GitRunner = Callable[..., str]


def test_commit_of_paths_leaves_other_staged_changes_staged(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-p", tmp_path / "wt")
    (ws.path / "mine.txt").write_text("mine\n")
    (ws.path / "other.txt").write_text("other\n")
    git(ws.path, "add", "other.txt")
    sha = ws.commit("only mine", paths=["mine.txt"])
    assert sha is not None and sha == git(ws.path, "rev-parse", "HEAD").strip()
    assert git(ws.path, "show", "--name-only", "--format=", "HEAD").split() == ["mine.txt"]
    # other.txt is still staged, exactly as `git commit -- mine.txt` would leave it.
    assert git(ws.path, "status", "--porcelain").splitlines() == ["A  other.txt"]


def test_commit_of_a_deleted_path_and_of_nothing(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-d", tmp_path / "wt")
    (ws.path / "src" / "app.py").unlink()
    assert ws.commit("drop app", paths=["src/app.py"]) is not None
    assert "src/app.py" not in git(ws.path, "ls-files")
    assert ws.is_clean()
    assert ws.commit("nothing again", paths=["src/app.py"]) is None
    assert ws.commit("nothing at all") is None


def test_commit_all_stages_new_changed_and_deleted_files(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-a", tmp_path / "wt")
    (ws.path / "src" / "app.py").unlink()
    (ws.path / "new").mkdir()
    (ws.path / "new" / "n.txt").write_text("n\n")
    (ws.path / "README.md").write_text("changed\n")
    sha = ws.commit("everything\n\n\nbody line   \n\n")
    assert sha is not None and ws.is_clean()
    changed = git(ws.path, "show", "--name-status", "--format=", "HEAD").split()
    assert sorted(zip(changed[::2], changed[1::2], strict=True)) == [
        ("A", "new/n.txt"),
        ("D", "src/app.py"),
        ("M", "README.md"),
    ]
    # git commit -m's whitespace cleanup: blank runs collapsed, trailing spaces cut.
    assert git(ws.path, "log", "-1", "--format=%B") == "everything\n\nbody line\n\n"
    assert git(ws.path, "fsck", "--no-progress").strip() == ""


def test_ignored_paths_are_left_out_of_a_path_commit(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace.create(repo, "run-i", tmp_path / "wt")
    (ws.path / ".gitignore").write_text("*.log\n")
    ws.commit("ignore logs")
    (ws.path / "debug.log").write_text("noise\n")
    assert ws.commit("only a log", paths=["debug.log"]) is None
    assert ws.is_clean()


def test_savepoints_count_on_and_are_found_by_name(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace.create(repo, "run-s", tmp_path / "wt")
    first = ws.savepoint()
    (ws.path / "a.txt").write_text("a\n")
    ws.commit("a")
    second = ws.savepoint()
    assert [first, second] == ["autopack/run-s/save/1", "autopack/run-s/save/2"]
    # A new handle on the same worktree (a resumed executor) continues the numbering.
    again = GitWorkspace.create(repo, "run-s", tmp_path / "wt")
    assert again.savepoint() == "autopack/run-s/save/3"
    found = again.get_savepoint("2")
    assert found is not None and found.head == again.head() == found.commit
    assert again.get_savepoint("autopack/other/save/1") is None
    assert again.get_savepoint("9") is None
    assert [s.number for s in again.list_savepoints()] == [1, 2, 3]


def test_soft_reset_and_changed_paths(repo: Path, tmp_path: Path, git: GitRunner) -> None:
    ws = GitWorkspace.create(repo, "run-r", tmp_path / "wt")
    base = ws.head()
    (ws.path / "one.txt").write_text("1\n")
    ws.commit("one")
    (ws.path / "src" / "app.py").unlink()
    ws.commit("two")
    assert sorted(ws.changed_between(base, ws.head())) == ["one.txt", "src/app.py"]
    ws.reset_soft(base)
    assert ws.head() == base
    squash = ws.commit("squashed")
    assert squash is not None
    assert git(ws.path, "rev-list", "--count", f"{base}..HEAD").strip() == "1"


def test_ref_writes_in_process_pass_the_guard(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace.create(repo, "run-g", tmp_path / "wt")
    (ws.path / "x.txt").write_text("x\n")

    def lost() -> None:
        raise LeaseLost("gone", run_id="run-g", token=1)

    ws.ref_guard = lost
    head = ws.head()
    with pytest.raises(LeaseLost):
        ws.commit("x")
    with pytest.raises(LeaseLost):
        ws.savepoint()
    with pytest.raises(LeaseLost):
        ws.reset_soft(head)
    assert ws.head() == head and ws.list_savepoints() == []


def test_a_filter_driver_sends_staging_to_the_command_line(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    # A clean filter that upper-cases: only the git command line runs it.
    git(repo, "config", "filter.upper.clean", "tr a-z A-Z")
    git(repo, "config", "filter.upper.smudge", "cat")
    ws = GitWorkspace.create(repo, "run-f", tmp_path / "wt")
    (ws.path / ".gitattributes").write_text("*.up filter=upper\n")
    (ws.path / "a.up").write_text("shout\n")
    assert ws.lib.has_filter_drivers()
    assert ws.commit("filtered") is not None
    assert git(ws.path, "show", "HEAD:a.up") == "SHOUT\n"


def test_libgit2_failures_are_workspace_errors(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace.create(repo, "run-e", tmp_path / "wt")
    with pytest.raises(WorkspaceError, match="diff"):
        ws.changed_between("0" * 40, ws.head())


def test_clean_message() -> None:
    assert clean_message("\n\nsubject  \n\n\n\nbody\n\n") == "subject\n\nbody\n"
    assert clean_message("  \n") == ""


def test_commit_all_of_a_file_turned_directory_and_a_symlink(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    """The one-walk ``add -A`` commits what ``git add -A`` would, in the cases a path-by-path
    add must not get wrong (a removal and an addition under one name, a new symlink)."""
    ws = GitWorkspace.create(repo, "run-t", tmp_path / "wt")
    (ws.path / "README.md").unlink()
    (ws.path / "README.md").mkdir()
    (ws.path / "README.md" / "inner.txt").write_text("inner\n")
    (ws.path / "link").symlink_to("src/app.py")
    twin = tmp_path / "twin"
    git(repo.parent, "clone", "-q", str(repo), str(twin))
    (twin / "README.md").unlink()
    (twin / "README.md").mkdir()
    (twin / "README.md" / "inner.txt").write_text("inner\n")
    (twin / "link").symlink_to("src/app.py")
    git(twin, "add", "-A")
    expected = git(twin, "write-tree").strip()
    assert ws.commit("reshaped") is not None and ws.is_clean()
    assert git(ws.path, "rev-parse", "HEAD^{tree}").strip() == expected


def test_commit_of_paths_with_nothing_else_staged_commits_exactly_them(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-o", tmp_path / "wt")
    (ws.path / "new").mkdir()
    (ws.path / "new" / "a.txt").write_text("a\n")
    (ws.path / "new" / "b.txt").write_text("b\n")
    (ws.path / "README.md").write_text("not committed\n")
    sha = ws.commit("new files", paths=["new/"])
    assert sha is not None
    assert git(ws.path, "show", "--name-only", "--format=", "HEAD").split() == [
        "new/a.txt",
        "new/b.txt",
    ]
    assert git(ws.path, "status", "--porcelain").splitlines() == [" M README.md"]


def _objects(repo: Path, git: GitRunner) -> dict[str, int]:
    """``git count-objects -v``: ``count`` loose objects, ``in-pack`` packed ones."""
    lines = git(repo, "count-objects", "-v").splitlines()
    return {k: int(v) for k, v in (line.split(": ", 1) for line in lines) if v.isdigit()}


def _write_commits(ws: GitWorkspace, prefix: str, n: int) -> None:
    for i in range(n):
        (ws.path / f"{prefix}{i}.txt").write_text(f"{prefix} {i}\n")
        ws.commit(f"{prefix} {i}")


def test_in_process_commits_and_tags_are_packed_by_git_maintenance(
    repo: Path, tmp_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libgit2 never tidies up as ``git commit`` does (``gc --auto``): every
    MAINTAIN_EVERY in-process writes the workspace runs git's maintenance, whose thresholds
    decide (here: 20 loose objects)."""
    monkeypatch.setattr("autopack.workspace.git.MAINTAIN_EVERY", 10)
    git(repo, "config", "maintenance.loose-objects.auto", "20")
    ws = GitWorkspace.create(repo, "run-gc", tmp_path / "wt")
    guarded: list[str] = []
    ws.ref_guard = lambda: guarded.append("checked")
    _write_commits(ws, "a", 9)
    assert ws.maintenance_runs == 0
    before = _objects(repo, git)
    assert before["count"] >= 9 * 3 and before["in-pack"] == 0  # blob, tree, commit each
    checks = len(guarded)
    (ws.path / "last.txt").write_text("last\n")
    ws.savepoint()  # the tenth write (a savepoint): maintenance runs, over its threshold
    assert ws.maintenance_runs == 1
    assert len(guarded) == checks + 2  # the savepoint and the maintenance, under the guard
    assert _objects(repo, git)["in-pack"] >= before["count"]
    _write_commits(ws, "b", 10)  # the next run packs these and deletes the loose copies
    assert ws.maintenance_runs == 2  # of what it packed before: one batch stays loose
    after = _objects(repo, git)
    assert after["count"] == 10 * 3
    assert after["in-pack"] >= before["count"] + 10 * 3
    assert "refs/autopack/run-gc/save/1" in git(repo, "for-each-ref", "refs/autopack/run-gc/")
    git(repo, "fsck", "--no-dangling")


def test_git_maintenance_leaves_a_repository_under_its_thresholds_alone(
    repo: Path, tmp_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("autopack.workspace.git.MAINTAIN_EVERY", 3)
    ws = GitWorkspace.create(repo, "run-gc0", tmp_path / "wt")
    _write_commits(ws, "a", 3)
    assert ws.maintenance_runs == 1
    objects = _objects(repo, git)  # git's default: 100 loose objects
    assert objects["count"] >= 9 and objects["in-pack"] == 0


def test_a_failing_git_maintenance_never_fails_the_commit_before_it(
    repo: Path, tmp_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Housekeeping is not the write: a setting git refuses (here a malformed threshold in
    the user's config) is logged, and the commit that triggered it stands."""
    monkeypatch.setattr("autopack.workspace.git.MAINTAIN_EVERY", 2)
    git(repo, "config", "maintenance.loose-objects.auto", "abc")
    ws = GitWorkspace.create(repo, "run-gc-bad", tmp_path / "wt")
    _write_commits(ws, "a", 2)
    assert ws.maintenance_runs == 1 and ws.maintenance_failures == 1
    assert git(ws.path, "log", "-1", "--format=%s").strip() == "a 1"
    _write_commits(ws, "b", 2)  # and the workspace goes on writing
    assert ws.maintenance_failures == 2


def _index_lines_cut(diff: str) -> str:
    """A diff without its ``index`` lines' blob abbreviations (git lengthens them as a
    repository grows; libgit2 prints 7 digits) and git's ``index`` line for an empty new
    file, which libgit2 leaves out."""
    return "\n".join(line for line in diff.splitlines() if not line.startswith("index "))


def test_the_review_diff_in_process_is_what_git_diff_prints(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-diff", tmp_path / "wt")
    base = ws.head()
    body = "".join(f"line {i}\n" for i in range(40))
    (ws.path / "moved.txt").write_text(body)
    (ws.path / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    (ws.path / "blob.bin").write_bytes(bytes(range(256)))
    ws.commit("add files")
    middle = ws.head()
    (ws.path / "moved.txt").rename(ws.path / "renamed.txt")
    (ws.path / "src" / "app.py").write_text("def f():\n    return 2\n\n\ndef g():\n    pass\n")
    (ws.path / "README.md").unlink()
    (ws.path / "crlf.txt").write_bytes(b"one\r\nTWO\r\n")
    (ws.path / "blob.bin").write_bytes(bytes(range(255, -1, -1)))
    ws.commit("change files")
    for a, b in ((base, "HEAD"), (middle, "HEAD"), (base, middle)):
        mine = ws.diff(a, b)
        assert mine.strip()
        assert _index_lines_cut(mine) == _index_lines_cut(git(ws.path, "diff", a, b))
    # The rename is found, as git's default diff.renames finds it.
    assert "rename from moved.txt\nrename to renamed.txt" in ws.diff(middle)
    assert ws.diff("HEAD") == ""


def test_the_review_diff_honours_renames_off_and_leaves_diff_drivers_to_git(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-drv", tmp_path / "wt")
    base = ws.head()
    (ws.path / "src" / "app.py").rename(ws.path / "src" / "main.py")
    ws.commit("move app")
    git(ws.path, "config", "diff.renames", "false")
    assert "rename from" not in ws.diff(base)
    assert "deleted file mode" in ws.diff(base)
    # A textconv driver only the git command line runs: the diff is git's own.
    git(ws.path, "config", "diff.upper.textconv", "tr a-z A-Z <")
    (ws.path / ".gitattributes").write_text("*.py diff=upper\n")
    (ws.path / "src" / "main.py").write_text("print('changed')\n")
    ws.commit("change main")
    assert "PRINT('CHANGED')" in ws.diff(base)


def test_a_squash_is_one_commit_on_the_base_of_what_was_committed_and_one_branch_move(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-sq", tmp_path / "wt")
    base = ws.head()
    (ws.path / "a.txt").write_text("a\n")
    ws.commit("attempt 1", paths=["a.txt"])
    (ws.path / "b.txt").write_text("b\n")
    (ws.path / "README.md").unlink()
    ws.commit("attempt 2")
    reviewed = git(ws.path, "rev-parse", "HEAD^{tree}").strip()
    # Uncommitted, so never reviewed: left in the worktree, not swept into the commit.
    (ws.path / "left by the tests.txt").write_text("c\n")
    (ws.path / "a.txt").write_text("a, changed by the tests\n")
    moves_before = len(git(ws.path, "reflog", "show", "refs/heads/autopack/run-sq").splitlines())

    sha = ws.squash(base, "phase p1\n\nthe body")

    assert sha is not None and sha == ws.head() == git(ws.path, "rev-parse", "HEAD").strip()
    assert git(ws.path, "rev-parse", "HEAD^").strip() == base
    assert git(ws.path, "rev-parse", "HEAD^{tree}").strip() == reviewed
    assert git(ws.path, "log", "-1", "--format=%B", "HEAD").strip() == "phase p1\n\nthe body"
    changed = git(ws.path, "show", "--name-status", "--format=", "HEAD").splitlines()
    assert sorted(changed) == ["A\ta.txt", "A\tb.txt", "D\tREADME.md"]
    assert not ws.is_clean()
    status = git(ws.path, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == [" M a.txt", '?? "left by the tests.txt"']
    reflog = git(ws.path, "reflog", "show", "refs/heads/autopack/run-sq").splitlines()
    assert len(reflog) == moves_before + 1  # one move, not a reset and then a commit
    assert "commit: phase p1" in reflog[0]


def test_a_squash_of_nothing_puts_the_branch_back_at_the_base(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-sq0", tmp_path / "wt")
    base = ws.head()
    (ws.path / "a.txt").write_text("a\n")
    ws.commit("attempt 1")
    (ws.path / "a.txt").unlink()
    ws.commit("attempt 2: the first one undone")

    assert ws.squash(base, "phase p1") is None
    assert ws.head() == base == git(ws.path, "rev-parse", "HEAD").strip()
    assert ws.is_clean() and git(ws.path, "status", "--porcelain") == ""
    # Nothing on top of the base: the squash commits nothing and moves nothing.
    assert ws.squash(base, "phase p1") is None and ws.head() == base


def test_the_committed_files_are_heads_tree_read_like_a_directory(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-files", tmp_path / "wt")
    (ws.path / "pkg" / "sub").mkdir(parents=True)
    (ws.path / "pkg" / "sub" / "mod.py").write_text("def f():\n    return 'é'\n")
    ws.commit("attempt", paths=["pkg/sub/mod.py"])
    (ws.path / "pkg" / "sub" / "mod.py").write_text("changed by the tests\n")
    (ws.path / "untracked.txt").write_text("not committed\n")

    files = ws.committed_files()

    assert files is not None
    assert files.kind("pkg") == files.kind("pkg/sub") == "dir"
    assert files.kind("pkg/sub/mod.py") == "file" and files.kind("README.md") == "file"
    assert files.kind("untracked.txt") is None and files.kind("pkg/nope.py") is None
    assert files.text("pkg/sub/mod.py") == "def f():\n    return 'é'\n"
