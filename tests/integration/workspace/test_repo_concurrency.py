"""Many runs on one repository at once: worktrees, commits, savepoints and clean-ups in
parallel all succeed, each run sees only its own branch; held git locks are waited out;
a workspace whose ref guard refuses moves no ref."""

from __future__ import annotations

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autopack.errors import LeaseLost, WorkspaceError
from autopack.workspace.git import GitWorkspace
from autopack.workspace.git_cli import run_git


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "base.txt").write_text("base\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    return repo


def _one_run(repo: Path, worktrees: Path, run_id: str) -> tuple[str, list[str]]:
    """What a run does to git: worktree, savepoint, commits, a rollback, more commits."""
    ws = GitWorkspace.create(repo, run_id, worktrees)
    ws.savepoint()
    (ws.path / f"{run_id}.txt").write_text(f"{run_id} 1\n")
    ws.commit(f"{run_id}: first")
    ws.savepoint()
    (ws.path / "scratch.txt").write_text("thrown away\n")
    ws.commit(f"{run_id}: discarded")
    ws.reset_to("2")
    (ws.path / f"{run_id}.txt").write_text(f"{run_id} 2\n")
    ws.commit(f"{run_id}: second")
    files = sorted(_git(ws.path, "ls-files").split())
    return _git(repo, "log", "--format=%s", f"main..{ws.branch_name}"), files


def test_many_runs_on_one_repository_at_once_match_a_run_alone(repo: Path, tmp_path: Path) -> None:
    alone = _one_run(repo, tmp_path / "alone", "alone")
    ids = [f"run-{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        done = pool.map(lambda r: _one_run(repo, tmp_path / "wt", r), ids)
        results = dict(zip(ids, done, strict=True))
    for run_id, (log, files) in results.items():
        assert log == alone[0].replace("alone", run_id)
        assert files == sorted(["base.txt", f"{run_id}.txt"])  # only its own files
    listed = _git(repo, "worktree", "list", "--porcelain").count("worktree ")
    assert listed == 1 + 1 + len(ids)
    _git(repo, "fsck", "--no-progress")
    # Clean-ups in parallel too (worktree remove + prune + ref and tag deletion).
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda r: GitWorkspace(tmp_path / "wt" / r, run_id=r).cleanup(delete_branch=True),
                ids,
            )
        )
    assert _git(repo, "branch", "--list", "autopack/run-*") == ""
    assert _git(repo, "tag", "--list", "autopack/run-*") == ""
    assert _git(repo, "for-each-ref", "refs/autopack/run-*") == ""


def test_a_held_git_lock_is_waited_out(repo: Path) -> None:
    lock = repo / ".git" / "index.lock"
    lock.write_text("")
    threading.Timer(0.3, lock.unlink).start()
    (repo / "new.txt").write_text("x\n")
    started = time.monotonic()
    run_git(repo, "add", "new.txt")
    assert time.monotonic() - started >= 0.2
    assert "new.txt" in _git(repo, "diff", "--cached", "--name-only")


def test_a_lock_held_for_good_is_reported(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("autopack.workspace.git_cli.LOCK_RETRY_DELAYS", (0.01, 0.01))
    (repo / ".git" / "index.lock").write_text("")
    (repo / "new.txt").write_text("x\n")
    with pytest.raises(WorkspaceError, match=r"index\.lock"):
        run_git(repo, "add", "new.txt")


def test_a_refusing_ref_guard_moves_no_ref(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace.create(repo, "guarded", tmp_path / "wt")
    before = _git(repo, "for-each-ref")

    def lost() -> None:
        raise LeaseLost("lease lost", run_id="guarded", token=1)

    ws.ref_guard = lost
    (ws.path / "x.txt").write_text("x\n")
    with pytest.raises(LeaseLost):
        ws.commit("stale")
    with pytest.raises(LeaseLost):
        ws.savepoint()
    assert _git(repo, "for-each-ref") == before
    ws.ref_guard = None
    assert ws.commit("fresh") is not None
