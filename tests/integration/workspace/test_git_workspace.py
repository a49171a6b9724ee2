"""GitWorkspace against real repositories: worktrees, commits, savepoints, cleanup."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.errors import ValidationError, WorkspaceError
from autopack.workspace.git import AUTOPACK_EMAIL, GitWorkspace

GitRunner = Callable[..., str]


def test_create_makes_a_worktree_without_touching_the_users_checkout(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    ws = GitWorkspace.create(repo, "run-1", tmp_path / "worktrees")
    assert ws.path == (tmp_path / "worktrees" / "run-1").resolve()
    assert ws.current_branch() == "autopack/run-1"
    assert ws.base_commit() == head
    assert (ws.path / "src" / "app.py").read_text() == (repo / "src" / "app.py").read_text()
    # The user's checkout: same branch, same HEAD, nothing changed or added.
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(repo, "rev-parse", "HEAD").strip() == head
    assert git(repo, "status", "--porcelain") == ""


def test_create_is_idempotent_and_recreates_a_lost_directory(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace.create(repo, "run-1", tmp_path / "wt")
    (ws.path / "new.txt").write_text("work in progress\n")
    sha = ws.commit("add new.txt")
    again = GitWorkspace.create(repo, "run-1", tmp_path / "wt")
    assert again.path == ws.path and again.head() == sha
    ws.cleanup()  # directory gone, branch kept
    resumed = GitWorkspace.create(repo, "run-1", tmp_path / "wt")
    assert resumed.head() == sha
    assert (resumed.path / "new.txt").read_text() == "work in progress\n"


def test_create_from_a_base_ref(repo: Path, tmp_path: Path, git: GitRunner) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "later.txt").write_text("later\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "later")
    ws = GitWorkspace.create(repo, "run-2", tmp_path / "wt", base_ref=first)
    assert ws.head() == first and not (ws.path / "later.txt").exists()


def test_commit_uses_autopack_identity_and_returns_none_when_clean(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-3", tmp_path / "wt")
    assert ws.commit("nothing") is None
    (ws.path / "src" / "app.py").write_text("print('hi')\n")
    sha = ws.commit("change app")
    assert sha is not None and ws.is_clean()
    assert git(ws.path, "log", "-1", "--format=%ae %ce").split() == [AUTOPACK_EMAIL] * 2
    assert [c.subject for c in ws.list_commits()] == ["change app"]
    stats = ws.diff_stats()
    assert (stats.files_changed, stats.insertions, stats.deletions) == (1, 1, 6)


def test_commit_of_selected_paths_leaves_other_changes(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace.create(repo, "run-4", tmp_path / "wt")
    (ws.path / "a.txt").write_text("a\n")
    (ws.path / "b.txt").write_text("b\n")
    assert ws.commit("only a", paths=["a.txt"]) is not None
    assert [(e.code, e.path) for e in ws.status()] == [("??", "b.txt")]


def test_commit_of_paths_skips_ignored_files(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace.create(repo, "run-4b", tmp_path / "wt")
    (ws.path / ".gitignore").write_text("build/\n")
    ws.commit("ignore build")
    (ws.path / "build").mkdir()
    (ws.path / "build" / "out.txt").write_text("generated\n")
    (ws.path / "kept.txt").write_text("kept\n")
    assert ws.commit("two files", paths=["build/out.txt", "kept.txt"]) is not None
    assert ws.commit("only ignored", paths=["build/out.txt"]) is None
    assert ws.is_clean()


def test_commit_works_without_any_git_identity(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    monkeypatch.setenv("HOME", str(empty))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(empty))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty / "none"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    ws = GitWorkspace.create(repo, "run-5", tmp_path / "wt")
    (ws.path / "x.txt").write_text("x\n")
    assert ws.commit("no identity needed") is not None
    assert ws.savepoint() == "autopack/run-5/save/1"


def test_savepoints_restore_commits_files_and_uncommitted_state(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace.create(repo, "run-6", tmp_path / "wt")
    app = ws.path / "src" / "app.py"
    original = app.read_text()
    clean = ws.savepoint()
    app.write_text("uncommitted\n")
    (ws.path / "untracked.txt").write_text("draft\n")
    dirty = ws.savepoint()
    assert [s.name for s in ws.list_savepoints()] == [clean, dirty]
    assert ws.list_savepoints()[1].commit != ws.list_savepoints()[1].head

    app.write_text("broken\n")
    ws.commit("bad attempt")
    (ws.path / "junk.txt").write_text("junk\n")

    ws.reset_to(dirty)
    assert app.read_text() == "uncommitted\n"
    assert (ws.path / "untracked.txt").read_text() == "draft\n"
    assert not (ws.path / "junk.txt").exists()
    assert ws.list_commits() == []
    assert {e.path for e in ws.status()} == {"src/app.py", "untracked.txt"}

    ws.reset_to("1")
    assert app.read_text() == original and ws.is_clean()


def test_savepoints_are_not_tags_so_describe_still_finds_the_release(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    # hatch-vcs and setuptools-scm version a project from `git describe --tags`: a savepoint
    # tag on HEAD was taken for a release ("Can't parse version from tag
    # 'autopack/<run>/save/1'"), in the run and in the user's checkout after a merge.
    git(repo, "tag", "-a", "v1.2.0", "-m", "release")
    ws = GitWorkspace.create(repo, "run-9", tmp_path / "wt")
    (ws.path / "new.txt").write_text("work\n")
    ws.commit("work")
    name = ws.savepoint()
    (ws.path / "draft.txt").write_text("uncommitted\n")
    ws.savepoint()

    assert git(ws.path, "describe", "--tags").startswith("v1.2.0-1-g")
    assert git(repo, "tag", "--list").split() == ["v1.2.0"]
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objecttype)", "refs/autopack/run-9/")
    assert refs.split("\n")[1:3] == [
        "refs/autopack/run-9/save/1 tag",
        "refs/autopack/run-9/save/2 tag",
    ]
    assert ws.get_savepoint(name) is not None and ws.get_savepoint("2") is not None

    ws.cleanup(delete_branch=True)
    assert git(repo, "for-each-ref", "refs/autopack/").strip() == ""


def test_savepoint_tags_an_older_autopack_made_are_still_read_and_deleted(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-10", tmp_path / "wt")
    head = ws.head()
    git(repo, "tag", "-a", "autopack/run-10/save/1", "-m", f"autopack savepoint 1\n\nhead: {head}")
    (ws.path / "src" / "app.py").write_text("changed\n")
    ws.commit("change")

    assert ws.savepoint() == "autopack/run-10/save/2"  # numbered on from the legacy one
    assert [s.name for s in ws.list_savepoints()] == [
        "autopack/run-10/save/1",
        "autopack/run-10/save/2",
    ]
    ws.reset_to("1")
    assert ws.head() == head

    ws.cleanup(delete_branch=True)
    assert git(repo, "tag", "--list").strip() == ""
    assert git(repo, "for-each-ref", "refs/autopack/").strip() == ""


def test_unknown_savepoint_and_bad_run_ids(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace.create(repo, "run-7", tmp_path / "wt")
    with pytest.raises(WorkspaceError):
        ws.reset_to("9")
    with pytest.raises(ValidationError):
        GitWorkspace.create(repo, "../escape", tmp_path / "wt")


def test_git_failures_carry_command_and_stderr(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as caught:
        GitWorkspace.create(repo, "run-8", tmp_path / "wt", base_ref="no-such-ref")
    assert "no-such-ref" in caught.value.message
    ws = GitWorkspace.create(repo, "run-8", tmp_path / "wt")
    with pytest.raises(WorkspaceError) as failed:
        ws.git("checkout", "does-not-exist")
    assert failed.value.command[-2:] == ["checkout", "does-not-exist"]
    assert "does-not-exist" in failed.value.stderr


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError):
        GitWorkspace.create(tmp_path, "run-9", tmp_path / "wt")
    with pytest.raises(WorkspaceError):
        GitWorkspace.open(tmp_path)


def test_existing_foreign_directory_is_not_taken_over(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "wt" / "run-10").mkdir(parents=True)
    with pytest.raises(WorkspaceError):
        GitWorkspace.create(repo, "run-10", tmp_path / "wt")


def test_cleanup_with_branch_removes_every_run_ref(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    ws = GitWorkspace.create(repo, "run-11", tmp_path / "wt")
    ws.savepoint()
    ws.cleanup(delete_branch=True)
    assert not ws.path.exists()
    refs = git(repo, "for-each-ref", "--format=%(refname)")
    assert "run-11" not in refs
    assert "run-11" not in git(repo, "worktree", "list")
