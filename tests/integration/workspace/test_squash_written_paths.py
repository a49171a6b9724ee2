"""The squash without a walk: it stages the paths the worktree's watch saw written.

``git add -A`` walks the whole worktree. While the index held the worktree whole (a walk
found or made it so) and only this workspace's own path commits wrote the index since,
the paths the watch named are all that can differ, and the squash stages just those. Each
test makes the kind of change a phase (or its tests, or a person) makes, squashes, and
asks the git command line whether anything was left out (``git status``) or let in
(``git ls-files``); and counts whether the squash walked.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autopack.workspace import watch as watch_module
from autopack.workspace.git import GitWorkspace
from autopack.workspace.git_lib import LibRepo
from autopack.workspace.watch import WorktreeWatch

GitRunner = Callable[..., str]

pytestmark = pytest.mark.skipif(
    WorktreeWatch.start(Path(__file__).parent) is None, reason="no inotify on this system"
)


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Full ``add -A`` walks, and squashes that staged the watch's paths instead."""
    counts = Counter[str]()
    real_add, real_touched = LibRepo._add_everything, LibRepo.stage_touched

    def add_everything(self: LibRepo, index: Any) -> bool:
        counts["walk"] += 1
        return real_add(self, index)

    def stage_touched(self: LibRepo, paths: set[str]) -> Any:
        tree = real_touched(self, paths)
        counts["written paths" if tree is not None else "refused"] += 1
        return tree

    monkeypatch.setattr(LibRepo, "_add_everything", add_everything)
    monkeypatch.setattr(LibRepo, "stage_touched", stage_touched)
    return counts


def _phase_one(repo: Path, tmp_path: Path, git: GitRunner, run_id: str) -> tuple[GitWorkspace, str]:
    """A watched worktree after its first phase's squash (which walks: nothing known yet),
    with a .gitignore; returns it and the base for the next phase's squash."""
    ws = GitWorkspace.create(repo, run_id, tmp_path / "wt")
    assert ws.track_worktree()
    (ws.path / ".gitignore").write_text("*.log\nbuild/\n__pycache__/\n")
    (ws.path / "docs").mkdir()
    (ws.path / "docs" / "guide.md").write_text("guide\n")
    (ws.path / "tool.sh").write_text("echo hi\n")
    base = ws.head()
    assert ws.squash(base, "phase 1") is not None
    return ws, ws.head()


def _left_out_or_let_in(ws: GitWorkspace, git: GitRunner) -> tuple[str, list[str]]:
    """What `git status` still sees (should be nothing) and what is tracked."""
    return git(ws.path, "status", "--porcelain", "--untracked-files=all"), git(
        ws.path, "ls-files"
    ).splitlines()


def test_a_phases_writes_are_squashed_without_a_walk(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    ws, base = _phase_one(repo, tmp_path, git, "run-w1")
    walks.clear()
    # What an apply writes and commits by path (the index follows those paths)...
    (ws.path / "src" / "app.py").write_text("def main():\n    return 2\n")
    (ws.path / "src" / "new.py").write_text("x = 1\n")
    ws.commit("attempt 1", paths=["src/app.py", "src/new.py"])
    # ... and what else a phase leaves: nested new directories, a deletion, a rename, a
    # mode change, a symlink, ignored output, a file made and removed again.
    nested = ws.path / "pkg" / "sub" / "deep"
    nested.mkdir(parents=True)
    (nested / "mod.py").write_text("y = 2\n")
    (nested / "__pycache__").mkdir()  # ignored, inside a new directory
    (nested / "__pycache__" / "mod.pyc").write_bytes(b"\0")
    (nested / "build").mkdir()
    (nested / "build" / "x.o").write_bytes(b"\0")
    (ws.path / "pkg" / "__init__.py").write_text("")
    (ws.path / "README.md").unlink()
    (ws.path / "docs" / "guide.md").rename(ws.path / "docs" / "manual.md")
    os.chmod(ws.path / "tool.sh", 0o755)
    (ws.path / "link").symlink_to("tool.sh")
    (ws.path / "run.log").write_text("ignored\n")
    (ws.path / "build").mkdir()
    (ws.path / "build" / "out.bin").write_bytes(b"\0ignored")
    (ws.path / "src" / "__pycache__").mkdir()
    (ws.path / "src" / "__pycache__" / "app.pyc").write_bytes(b"\0")
    (ws.path / "scratch.txt").write_text("gone soon\n")
    (ws.path / "scratch.txt").unlink()
    (ws.path / "data[1].txt").write_text("a name a pathspec would read as a pattern\n")
    (ws.path / "data1.txt").write_text("which would match this one\n")

    sha = ws.squash(base, "phase 2")

    assert walks == Counter({"written paths": 1})
    status, tracked = _left_out_or_let_in(ws, git)
    assert status == ""
    assert sorted(tracked) == [
        ".gitignore",
        "data1.txt",
        "data[1].txt",
        "docs/manual.md",
        "link",
        "pkg/__init__.py",
        "pkg/sub/deep/mod.py",
        "src/app.py",
        "src/new.py",
        "tool.sh",
    ]
    assert sha is not None and git(ws.path, "rev-parse", "HEAD^").strip() == base
    assert "100755 " in git(ws.path, "ls-files", "-s", "tool.sh")
    assert git(ws.path, "cat-file", "-p", "HEAD:link") == "tool.sh"
    # The squash left the index holding the worktree: the next phase's savepoint needs no
    # walk, and its squash again stages only what it writes.
    assert ws.is_clean()
    (ws.path / "pkg" / "sub" / "deep" / "mod.py").write_text("y = 3\n")
    assert ws.squash(ws.head(), "phase 3") is not None
    assert walks == Counter({"written paths": 2})
    assert _left_out_or_let_in(ws, git)[0] == ""


def test_a_deleted_tracked_directory_goes_whole(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    ws, base = _phase_one(repo, tmp_path, git, "run-w2")
    walks.clear()
    for path in sorted((ws.path / "docs").iterdir()):
        path.unlink()
    (ws.path / "docs").rmdir()
    (ws.path / "src" / "app.py").unlink()
    (ws.path / "src").rmdir()

    ws.squash(base, "phase 2")

    assert walks == Counter({"written paths": 1})
    status, tracked = _left_out_or_let_in(ws, git)
    assert status == "" and sorted(tracked) == [".gitignore", "README.md", "tool.sh"]


@pytest.mark.parametrize(
    "change",
    ["gitignore", "file_to_dir", "dir_to_file", "worktree_itself"],
)
def test_what_only_a_walk_gets_right_is_walked(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str], change: str
) -> None:
    ws, base = _phase_one(repo, tmp_path, git, f"run-{change.replace('_', '-')}")
    (ws.path / "kept.log").write_text("ignored until the .gitignore changes\n")
    assert ws.squash(ws.head(), "phase 1b") is None  # nothing but an ignored file
    base = ws.head()
    walks.clear()
    if change == "gitignore":  # what was ignored is not any more, everywhere
        (ws.path / ".gitignore").write_text("build/\n")
    elif change == "file_to_dir":
        (ws.path / "tool.sh").unlink()
        (ws.path / "tool.sh").mkdir()
        (ws.path / "tool.sh" / "inner.txt").write_text("now a directory\n")
    elif change == "dir_to_file":
        (ws.path / "docs" / "guide.md").unlink()
        (ws.path / "docs").rmdir()
        (ws.path / "docs").write_text("now a file\n")
    else:  # an event on the worktree's own directory names no path in it
        os.utime(ws.path)
        (ws.path / "new.txt").write_text("and a file\n")

    ws.squash(base, "phase 2")

    assert walks["refused"] == 1 and walks["walk"] == 1
    status, tracked = _left_out_or_let_in(ws, git)
    assert status == ""
    if change == "gitignore":
        assert "kept.log" in tracked


def test_a_nested_repository_is_left_to_the_walk(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    # `git add -A` adds a nested repository as a gitlink (or refuses one with no commit):
    # staging its path as a directory of files would be wrong either way.
    ws, _ = _phase_one(repo, tmp_path, git, "run-nested")
    nested = ws.path / "vendored"
    nested.mkdir()
    git(nested, "init", "-q")
    (nested / "lib.txt").write_text("theirs\n")
    before = git(ws.path, "ls-files", "-s")

    assert ws.lib.stage_touched({"vendored", "vendored/lib.txt"}) is None
    # A file written inside a nested repository made before this phase: not ours either.
    assert ws.lib.stage_touched({"vendored/lib.txt"}) is None
    assert git(ws.path, "ls-files", "-s") == before  # refused before staging anything


def test_fifos_are_left_out_as_git_leaves_them(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    # Hashing a FIFO would wait for a writer forever; `git add -A` never stages one.
    ws, base = _phase_one(repo, tmp_path, git, "run-fifo")
    walks.clear()
    (ws.path / "notes.txt").write_text("kept\n")
    os.mkfifo(ws.path / "pipe")
    (ws.path / "pipes").mkdir()
    os.mkfifo(ws.path / "pipes" / "fifo")
    (ws.path / "pipes" / "real.txt").write_text("kept too\n")

    ws.squash(base, "phase 2")

    assert walks == Counter({"written paths": 1})
    status, tracked = _left_out_or_let_in(ws, git)
    assert status == "" and "notes.txt" in tracked and "pipes/real.txt" in tracked
    assert "pipe" not in tracked and "pipes/fifo" not in tracked


def test_a_file_that_fails_to_stage_leaves_nothing_staged_behind(
    repo: Path, tmp_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pygit2

    ws, _ = _phase_one(repo, tmp_path, git, "run-fail")
    (ws.path / "a.txt").write_text("would be staged first\n")
    (ws.path / "b.txt").write_text("vanishes as it is read\n")
    before = git(ws.path, "ls-files", "-s")
    real_add = pygit2.Index.add

    def add(self: pygit2.Index, path: Any) -> None:
        if path == "b.txt":
            raise pygit2.GitError("could not open 'b.txt'")
        real_add(self, path)

    monkeypatch.setattr(pygit2.Index, "add", add)

    assert ws.lib.stage_touched({"a.txt", "b.txt"}) is None
    ws.lib.repo.index.write()  # what a later write of the index would write
    assert git(ws.path, "ls-files", "-s") == before


def test_an_index_written_by_anyone_else_means_a_walk(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    ws, base = _phase_one(repo, tmp_path, git, "run-w3")
    walks.clear()
    (ws.path / "staged by hand.txt").write_text("a person's git add\n")
    git(ws.path, "add", "staged by hand.txt")
    (ws.path / "README.md").write_text("changed after\n")

    ws.squash(base, "phase 2")

    assert walks == Counter({"walk": 1})
    status, tracked = _left_out_or_let_in(ws, git)
    assert status == "" and "staged by hand.txt" in tracked


def test_a_watch_that_cannot_name_every_write_means_a_walk(
    repo: Path,
    tmp_path: Path,
    git: GitRunner,
    walks: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watch_module, "MAX_TOUCHED", 5)
    ws, base = _phase_one(repo, tmp_path, git, "run-w4")
    walks.clear()
    for i in range(10):
        (ws.path / f"out{i}.txt").write_text(f"{i}\n")

    ws.squash(base, "phase 2")

    assert walks == Counter({"walk": 1})
    status, tracked = _left_out_or_let_in(ws, git)
    assert status == "" and len([t for t in tracked if t.startswith("out")]) == 10
