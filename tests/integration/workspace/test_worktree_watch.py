"""The watched worktree: a clean check right after a squash needs no walk, and nothing
written in between (by anyone) goes unseen.

Walks are counted (libgit2's status walk for the clean check and for ``add -A``);
what git says is read back with the git command line.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autopack.memory.repomap import is_source_file
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
    """Full status walks of a worktree, by who asked (the clean check, ``add -A``)."""
    counts = Counter[str]()
    real_changed, real_add = LibRepo.changed_paths, LibRepo._add_everything

    def changed(self: LibRepo) -> dict[str, int]:
        counts["clean check"] += 1
        return real_changed(self)

    def add_everything(self: LibRepo, index: Any) -> bool:
        counts["add -A"] += 1
        return real_add(self, index)

    monkeypatch.setattr(LibRepo, "changed_paths", changed)
    monkeypatch.setattr(LibRepo, "_add_everything", add_everything)
    return counts


def _squashed(repo: Path, tmp_path: Path, run_id: str) -> GitWorkspace:
    """A watched run worktree right after a phase's squash (a new file committed whole)."""
    ws = GitWorkspace.create(repo, run_id, tmp_path / "wt")
    assert ws.track_worktree()
    (ws.path / "out").mkdir()
    (ws.path / "out" / "f.txt").write_text("phase output\n")
    assert ws.commit("phase 1") is not None
    return ws


def test_the_clean_check_after_a_squash_needs_no_walk(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    ws = _squashed(repo, tmp_path, "run-w")
    assert walks == {"add -A": 1}
    assert ws.is_clean() and ws.is_clean()
    name = ws.savepoint()
    assert walks == {"add -A": 1}  # no walk of its own
    saved = ws.get_savepoint(name)
    assert saved is not None and saved.commit == saved.head == ws.head()
    assert git(ws.path, "status", "--porcelain") == ""
    ws.close()
    assert ws.is_clean()
    assert walks == {"add -A": 1, "clean check": 1}  # closed: every check walks again


def test_without_the_watch_every_clean_check_walks(
    repo: Path, tmp_path: Path, walks: Counter[str]
) -> None:
    ws = GitWorkspace.create(repo, "run-n", tmp_path / "wt")
    (ws.path / "f.txt").write_text("f\n")
    ws.commit("phase 1")
    assert ws.is_clean() and ws.is_clean()
    assert walks == {"add -A": 1, "clean check": 2}


def _drop_file(ws: GitWorkspace) -> str:
    (ws.path / "stray.txt").write_text("a person's note\n")
    return "stray.txt"


def _drop_file_in_a_new_directory(ws: GitWorkspace) -> str:
    (ws.path / "new" / "deeper").mkdir(parents=True)
    (ws.path / "new" / "deeper" / "n.txt").write_text("n\n")
    return "new/deeper/n.txt"


def _drop_file_in_the_phases_new_directory(ws: GitWorkspace) -> str:
    # out/ was made by the phase itself, before the squash: it is watched too.
    (ws.path / "out" / "g.txt").write_text("g\n")
    return "out/g.txt"


def _change_a_tracked_file_keeping_its_size(ws: GitWorkspace) -> str:
    path = ws.path / "README.md"
    stat = path.stat()
    path.write_text("# Dumo\n")  # same size as "# Demo\n"
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same time
    return "README.md"


def _delete_a_tracked_file(ws: GitWorkspace) -> str:
    (ws.path / "src" / "app.py").unlink()
    return "src/app.py"


def _make_a_file_executable(ws: GitWorkspace) -> str:
    (ws.path / "out" / "f.txt").chmod(0o755)
    return "out/f.txt"


@pytest.mark.parametrize(
    "tamper",
    [
        _drop_file,
        _drop_file_in_a_new_directory,
        _drop_file_in_the_phases_new_directory,
        _change_a_tracked_file_keeping_its_size,
        _delete_a_tracked_file,
        _make_a_file_executable,
    ],
)
def test_a_change_made_after_the_squash_is_in_the_next_savepoint(
    repo: Path,
    tmp_path: Path,
    git: GitRunner,
    walks: Counter[str],
    tamper: Callable[[GitWorkspace], str],
) -> None:
    """Whoever writes between a squash and the next savepoint, the savepoint walks and
    keeps the change (a snapshot), and going back to it restores the change."""
    ws = _squashed(repo, tmp_path, "run-t")
    path = tamper(ws)
    # Asked first (git's own status may rewrite the index, which alone would be seen).
    assert not ws.is_clean()
    name = ws.savepoint()
    assert walks["clean check"] >= 1
    expected = git(ws.path, "status", "--porcelain", "--untracked-files=all")
    assert path in expected
    saved = ws.get_savepoint(name)
    assert saved is not None and saved.commit != saved.head  # a snapshot of the change
    # An attempt writes, then the phase goes back to its savepoint: the change is back.
    (ws.path / "attempt.txt").write_text("the attempt's\n")
    ws.reset_to(name)
    assert git(ws.path, "status", "--porcelain", "--untracked-files=all") == expected
    # And the squash that follows commits it.
    assert ws.commit("phase 2") is not None
    assert path in git(ws.path, "show", "--name-only", "--format=", "HEAD").split()


def test_an_index_changed_by_git_alone_is_seen(
    repo: Path, tmp_path: Path, git: GitRunner, walks: Counter[str]
) -> None:
    """``git rm --cached`` writes no file in the worktree, only the index."""
    ws = _squashed(repo, tmp_path, "run-x")
    git(ws.path, "rm", "-q", "--cached", "README.md")
    assert not ws.is_clean()
    assert walks["clean check"] == 1


def test_a_moved_head_is_seen(repo: Path, tmp_path: Path, walks: Counter[str]) -> None:
    """After a soft reset the files are what they were, but not HEAD's any more."""
    ws = _squashed(repo, tmp_path, "run-h")
    base = ws.base_commit()
    assert base is not None
    ws.reset_soft(base)
    assert not ws.is_clean()
    assert walks["clean check"] == 1


def test_the_worktree_files_are_what_git_lists(repo: Path, tmp_path: Path, git: GitRunner) -> None:
    ws = _squashed(repo, tmp_path, "run-f")

    def listed() -> set[str]:
        out = git(ws.path, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        return {p for p in out.split("\0") if p}

    assert ws.worktree_files() == listed()
    assert ws.worktree_files(is_source_file) == {"src/app.py"}
    # Changed since the last listing: a deletion, an addition, a file become a directory.
    (ws.path / "src" / "app.py").unlink()
    (ws.path / "out" / "f.txt").unlink()
    (ws.path / "out" / "f.txt").mkdir()
    (ws.path / "out" / "f.txt" / "inner.py").write_text("x = 1\n")
    (ws.path / "docs").mkdir()
    (ws.path / "docs" / "a.md").write_text("a\n")
    assert ws.worktree_files() is None  # dirty: not known without asking git
    ws.commit("phase 2")
    files = ws.worktree_files()
    assert files == listed()
    assert files is not None and "out/f.txt/inner.py" in files and "src/app.py" not in files
    # The source files, listed on from the first listing of them.
    assert ws.worktree_files(is_source_file) == {"out/f.txt/inner.py"}


def test_a_tree_with_too_many_directories_is_not_watched(
    repo: Path, tmp_path: Path, walks: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_module, "MAX_WATCHED_DIRS", 1)
    ws = GitWorkspace.create(repo, "run-m", tmp_path / "wt")
    assert not ws.track_worktree()  # two directories: the worktree and src/
    ws.commit("nothing")
    assert ws.is_clean()
    assert walks["clean check"] == 1


def test_a_watch_follows_directories_made_and_moved(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    watch = WorktreeWatch.start(tmp_path)
    assert watch is not None
    assert not watch.undisturbed()  # never settled: vouches for nothing
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)  # the caller's own writes
    watch.settle()
    assert watch.undisturbed()
    (tmp_path / "a" / "b" / "c" / "f.txt").write_text("f\n")  # in a directory made late
    assert not watch.undisturbed()
    watch.settle()
    (tmp_path / "a").rename(tmp_path / "moved")
    assert not watch.undisturbed()
    watch.settle()  # rebuilt from a scan: the moved tree is watched under its new name
    assert watch.undisturbed()
    (tmp_path / "moved" / "b" / "c" / "g.txt").write_text("g\n")
    assert not watch.undisturbed()
    watch.settle()
    (tmp_path / "moved" / "b" / "c" / "g.txt").read_text()  # reading writes nothing
    assert watch.undisturbed()
    watch.close()
    assert not watch.undisturbed()


def test_a_watch_that_lost_events_starts_again_from_a_scan(tmp_path: Path) -> None:
    """More events than the kernel queues (an overflow): nothing is vouched for until the
    next settle, which watches the tree afresh."""
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    (tmp_path / "sub").mkdir()
    watch = WorktreeWatch.start(tmp_path)
    assert watch is not None
    watch.settle()
    with (
        (tmp_path / "sub" / "a").open("wb", buffering=0) as a,
        (tmp_path / "sub" / "b").open("wb", buffering=0) as b,
    ):
        for _ in range(limit // 2 + 10):  # alternating writes: never merged into one event
            a.write(b"x")
            b.write(b"x")
    many = tmp_path / "many"
    (many / "deep").mkdir(parents=True)  # made while the queue was full: no event names it
    assert not watch.undisturbed()
    watch.settle()
    assert watch.undisturbed()
    (many / "deep" / "late.txt").write_text("late\n")
    assert not watch.undisturbed()
    watch.close()
