"""The executor's git hot path in-process (libgit2): what git itself then sees.

Every check reads the result back with the git command line, so the in-process commits,
tags and index are the ones git would have written.
"""

from __future__ import annotations

import hashlib
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


def _loose_objects(repo: Path, git: GitRunner) -> int:
    fields = dict(line.split(": ", 1) for line in git(repo, "count-objects", "-v").splitlines())
    return int(fields["count"])


def _blob_in_17(n: int) -> str:
    """A file content whose blob lands in ``objects/17/``: ``gc --auto`` estimates the
    loose objects from that one directory, so the test puts some there on purpose."""
    i = 0
    while True:
        text = f"{n}:{i}\n"
        data = text.encode()
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().startswith("17"):
            return text
        i += 1


def test_in_process_commits_and_tags_are_packed_by_git_gc_auto(
    repo: Path, tmp_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libgit2 never runs ``git gc --auto`` as ``git commit`` does: the workspace asks for
    it every GC_EVERY in-process writes, and git's own threshold (``gc.auto``) decides."""
    monkeypatch.setattr("autopack.workspace.git.GC_EVERY", 10)
    git(repo, "config", "gc.auto", "256")  # more than one loose object in objects/17/
    ws = GitWorkspace.create(repo, "run-gc", tmp_path / "wt")
    guarded: list[str] = []
    ws.ref_guard = lambda: guarded.append("checked")
    for i in range(9):
        (ws.path / f"f{i}.txt").write_text(_blob_in_17(i) if i < 3 else f"{i}\n")
        ws.commit(f"commit {i}")
    assert ws.gc_checks == 0
    loose = _loose_objects(repo, git)
    assert loose >= 9 * 3  # a blob, a tree and a commit each
    checks_before = len(guarded)
    (ws.path / "last.txt").write_text("last\n")
    ws.savepoint()  # the tenth write (a tag): git gc --auto runs, over its threshold
    assert ws.gc_checks == 1
    assert _loose_objects(repo, git) == 0 < loose
    assert "autopack/run-gc/save/1" in git(repo, "tag", "--list")
    git(repo, "fsck", "--no-dangling")
    assert len(guarded) == checks_before + 2  # the tag, and the gc: both under the guard


def test_git_gc_auto_leaves_a_repository_under_its_threshold_alone(
    repo: Path, tmp_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("autopack.workspace.git.GC_EVERY", 3)
    ws = GitWorkspace.create(repo, "run-gc0", tmp_path / "wt")
    for i in range(3):
        (ws.path / f"f{i}.txt").write_text(f"{i}\n")
        ws.commit(f"commit {i}")
    assert ws.gc_checks == 1
    assert _loose_objects(repo, git) >= 9  # git's default gc.auto (6700) is far away
