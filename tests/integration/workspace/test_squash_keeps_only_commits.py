"""The squash commits what the attempts committed, and knows without a walk whether the
worktree is still that tree.

A phase's commit is HEAD's tree: the Builder's edits (committed by path) and hardening
fixes, which is what the Auditor read. What else is in the worktree (what the project's
tests wrote, a file a person dropped in) stays there uncommitted. The squash writes
neither the worktree nor the index, so the worktree is clean afterwards exactly when it
was before; while the index held the worktree whole (a walk found or made it so) and only
this workspace's own path commits wrote the index since, the paths the worktree's watch
saw written are all that can differ, and the squash works out from just those (as
``git add -A`` would take them) whether anything does. Each test makes the kind of change
a phase (or its tests, or a person) makes, squashes, and checks the commit against what
was committed, ``is_clean`` against ``git status``, and whether a walk was needed.
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
    """Status walks, and squashes that worked from the watch's paths ("written paths")
    or could not ("refused")."""
    counts = Counter[str]()
    real_status, real_touched = LibRepo.changed_paths, LibRepo.touched_tree

    def changed_paths(self: LibRepo) -> dict[str, int]:
        counts["walk"] += 1
        return real_status(self)

    def touched_tree(self: LibRepo, paths: set[str]) -> Any:
        tree = real_touched(self, paths)
        counts["written paths" if tree is not None else "refused"] += 1
        return tree

    monkeypatch.setattr(LibRepo, "changed_paths", changed_paths)
    monkeypatch.setattr(LibRepo, "touched_tree", touched_tree)
    return counts


def _phase_one(repo: Path, tmp_path: Path, run_id: str) -> tuple[GitWorkspace, str]:
    """A watched worktree after its first phase (committed whole, which walks: nothing
    is known yet), with a .gitignore; returns it and the base for the next squash."""
    ws = GitWorkspace.create(repo, run_id, tmp_path / "wt")
    assert ws.track_worktree()
    (ws.path / ".gitignore").write_text("*.log\nbuild/\n__pycache__/\n")
    (ws.path / "docs").mkdir()
    (ws.path / "docs" / "guide.md").write_text("guide\n")
    (ws.path / "tool.sh").write_text("echo hi\n")
    base = ws.head()
    ws.commit("attempt 1")
    assert ws.squash(base, "phase 1") is not None
    return ws, ws.head()


def _status(ws: GitWorkspace, git: GitRunner) -> list[str]:
    """What `git status` sees in the worktree."""
    return sorted(git(ws.path, "status", "--porcelain", "--untracked-files=all").splitlines())


def _tree(ws: GitWorkspace, git: GitRunner, rev: str = "HEAD") -> str:
    return git(ws.path, "rev-parse", f"{rev}^{{tree}}").strip()


def _apply(ws: GitWorkspace, files: dict[str, str | None]) -> None:
    """What an apply does: write (``None``: delete) files and commit them by path."""
    for rel, text in files.items():
        path = ws.path / rel
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    ws.commit("attempt", paths=list(files))


def test_what_the_tests_wrote_stays_out_of_the_phases_commit(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    ws, base = _phase_one(repo, tmp_path, "run-w1")
    _apply(ws, {"src/app.py": "def main():\n    return 2\n", "src/new.py": "x = 1\n"})
    reviewed = _tree(ws, git)
    walks.clear()
    # What a test suite (or a person) leaves: nested new directories, a deletion, a
    # rename, a mode change, a symlink, ignored output, a file made and removed again,
    # names a pathspec would read as a pattern.
    nested = ws.path / "pkg" / "sub" / "deep"
    nested.mkdir(parents=True)
    (nested / "mod.py").write_text("y = 2\n")
    (nested / "__pycache__").mkdir()  # ignored, inside a new directory
    (nested / "__pycache__" / "mod.pyc").write_bytes(b"\0")
    (ws.path / "README.md").unlink()
    (ws.path / "docs" / "guide.md").rename(ws.path / "docs" / "manual.md")
    os.chmod(ws.path / "tool.sh", 0o755)
    (ws.path / "link").symlink_to("tool.sh")
    (ws.path / "run.log").write_text("ignored\n")
    (ws.path / "build").mkdir()
    (ws.path / "build" / "out.bin").write_bytes(b"\0ignored")
    (ws.path / "scratch.txt").write_text("gone soon\n")
    (ws.path / "scratch.txt").unlink()
    (ws.path / "data[1].txt").write_text("a name a pathspec would read as a pattern\n")

    sha = ws.squash(base, "phase 2")

    assert sha is not None and git(ws.path, "rev-parse", "HEAD^").strip() == base
    assert _tree(ws, git) == reviewed  # the attempt's commit, nothing else
    changed = git(ws.path, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == ["src/app.py", "src/new.py"]
    assert walks == Counter({"written paths": 1})  # no walk to learn it is not clean
    assert not ws.is_clean() and walks["walk"] == 1
    assert _status(ws, git) == [
        " D README.md",
        " D docs/guide.md",
        " M tool.sh",
        "?? data[1].txt",
        "?? docs/manual.md",
        "?? link",
        "?? pkg/sub/deep/mod.py",
    ]


def test_tests_that_wrote_only_ignored_files_leave_it_known_clean(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    ws, base = _phase_one(repo, tmp_path, "run-w2")
    walks.clear()
    for phase in (2, 3):
        gone = {"README.md": None} if phase == 2 else {}
        _apply(ws, {"src/app.py": f"def main():\n    return {phase}\n", **gone})
        (ws.path / "src" / "__pycache__").mkdir(exist_ok=True)
        (ws.path / "src" / "__pycache__" / "app.pyc").write_bytes(bytes([phase]))
        (ws.path / f"test{phase}.log").write_text("ignored\n")
        (ws.path / "build").mkdir(exist_ok=True)
        (ws.path / "build" / f"{phase}.o").write_bytes(b"\0")
        (ws.path / "tmp.txt").write_text("made and removed by the tests\n")
        (ws.path / "tmp.txt").unlink()
        (ws.path / "src" / "app.py").touch()  # read and rewritten as it was

        assert ws.squash(base, f"phase {phase}") is not None
        base = ws.head()
        assert ws.is_clean()  # the next phase's savepoint: no walk

    assert walks == Counter({"written paths": 2})
    assert _status(ws, git) == []
    assert "README.md" not in git(ws.path, "ls-files").split()


def test_a_directory_the_tests_deleted_is_seen(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    ws, base = _phase_one(repo, tmp_path, "run-w3")
    _apply(ws, {"src/app.py": None})  # the attempt deleted a file...
    reviewed = _tree(ws, git)
    walks.clear()
    for path in sorted((ws.path / "docs").iterdir()):  # ... the tests a directory
        path.unlink()
    (ws.path / "docs").rmdir()

    ws.squash(base, "phase 2")

    assert _tree(ws, git) == reviewed and "docs/guide.md" in git(ws.path, "ls-files")
    assert walks["written paths"] == 1 and not ws.is_clean()
    assert _status(ws, git) == [" D docs/guide.md"]


@pytest.mark.parametrize(
    "change",
    ["gitignore", "file_to_dir", "dir_to_file", "worktree_itself"],
)
def test_what_only_a_walk_gets_right_is_walked(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str], change: str
) -> None:
    ws, base = _phase_one(repo, tmp_path, f"run-{change.replace('_', '-')}")
    (ws.path / "kept.log").write_text("ignored until the .gitignore changes\n")
    assert ws.squash(base, "phase 1 again") is None and ws.is_clean()
    reviewed = _tree(ws, git)
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

    ws.squash(base, "phase 2")

    assert _tree(ws, git) == reviewed
    assert walks == Counter({"refused": 1})
    assert ws.is_clean() == (_status(ws, git) == []) and walks["walk"] == 1
    if change == "gitignore":
        assert "?? kept.log" in _status(ws, git)


def test_a_nested_repository_is_left_to_the_walk(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    # `git add -A` adds a nested repository as a gitlink (or refuses one with no commit):
    # taking its path as a directory of files would be wrong either way.
    ws, _ = _phase_one(repo, tmp_path, "run-nested")
    nested = ws.path / "vendored"
    nested.mkdir()
    git(nested, "init", "-q")
    (nested / "lib.txt").write_text("theirs\n")
    before = git(ws.path, "ls-files", "-s")

    assert ws.lib.touched_tree({"vendored", "vendored/lib.txt"}) is None
    # A file written inside a nested repository made before this phase: not ours either.
    assert ws.lib.touched_tree({"vendored/lib.txt"}) is None
    assert git(ws.path, "ls-files", "-s") == before


def test_fifos_are_left_out_as_git_leaves_them(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    # Hashing a FIFO would wait for a writer forever; git never tracks one.
    ws, base = _phase_one(repo, tmp_path, "run-fifo")
    walks.clear()
    os.mkfifo(ws.path / "pipe")
    (ws.path / "pipes").mkdir()
    os.mkfifo(ws.path / "pipes" / "fifo")

    ws.squash(base, "phase 2")

    assert walks == Counter({"written paths": 1})
    assert ws.is_clean() and _status(ws, git) == [] and walks["walk"] == 0
    (ws.path / "pipes" / "real.txt").write_text("a file beside the FIFO is a change\n")
    ws.squash(ws.head(), "phase 3")
    assert not ws.is_clean() and _status(ws, git) == ["?? pipes/real.txt"]


def test_a_file_that_cannot_be_read_is_left_to_the_walk(
    repo: Path, tmp_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pygit2

    ws, _ = _phase_one(repo, tmp_path, "run-fail")
    (ws.path / "a.txt").write_text("taken first\n")
    (ws.path / "b.txt").write_text("vanishes as it is read\n")
    before = git(ws.path, "ls-files", "-s")
    real_add = pygit2.Index.add

    def add(self: pygit2.Index, path: Any) -> None:
        if path == "b.txt":
            raise pygit2.GitError("could not open 'b.txt'")
        real_add(self, path)

    monkeypatch.setattr(pygit2.Index, "add", add)

    assert ws.lib.touched_tree({"a.txt", "b.txt"}) is None
    ws.lib.repo.index.write()  # what a later write of the index would write
    assert git(ws.path, "ls-files", "-s") == before


def test_the_squash_never_changes_the_index(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    ws, base = _phase_one(repo, tmp_path, "run-index")
    (ws.path / "new.txt").write_text("untracked\n")
    (ws.path / "README.md").write_text("changed\n")
    index = (ws.path / ".git").read_text().split(": ", 1)[1].strip()
    before = (Path(index) / "index").read_bytes()

    ws.squash(base, "phase 2")

    assert (Path(index) / "index").read_bytes() == before
    assert _status(ws, git) == [" M README.md", "?? new.txt"]


def test_an_index_written_by_anyone_else_means_a_walk(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    ws, base = _phase_one(repo, tmp_path, "run-w4")
    reviewed = _tree(ws, git)
    walks.clear()
    (ws.path / "by-hand.txt").write_text("a person's git add\n")
    git(ws.path, "add", "by-hand.txt")

    ws.squash(base, "phase 2")

    assert _tree(ws, git) == reviewed  # staged is not reviewed: not in the commit
    assert walks == Counter() and not ws.is_clean() and walks["walk"] == 1
    assert _status(ws, git) == ["A  by-hand.txt"]


def test_a_watch_that_cannot_name_every_write_means_a_walk(
    repo: Path,
    tmp_path: Path,
    git: GitRunner,
    walks: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watch_module, "MAX_TOUCHED", 5)
    ws, base = _phase_one(repo, tmp_path, "run-w5")
    walks.clear()
    for i in range(10):
        (ws.path / f"out{i}.log").write_text(f"{i}\n")  # ignored, but more than it names

    ws.squash(base, "phase 2")

    assert walks == Counter()
    assert ws.is_clean() and walks["walk"] == 1
