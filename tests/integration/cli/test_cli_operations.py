"""Operator commands end to end: cancel, runs delete, gc, init, check, and failing before
spending (provider and plan problems stop `autopack run` before anything exists)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from autopack.db.database import open_database
from autopack.db.orm import Run, utcnow
from autopack.db.session import unit_of_work
from autopack.domain.states import RunState
from autopack.services.runs import acquire_lease
from autopack.settings import get_settings
from cli_runner import invoke_cli

Result = tuple[int, str, str]
PLAN = """\
run_id: {run_id}
phases:
  - {{phase_id: p1, name: Add a file, description: Add a.txt, scope: {{paths: [a.txt]}}}}
"""


@pytest.fixture
def autopack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run `autopack ARGS` in-process through the console script's main()."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        code, out, err = invoke_cli(monkeypatch, capsys, *args)
        return code, out, err

    return run


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "README.md").write_text("hello\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def make_run(autopack: Callable[..., Result], tmp_path: Path, repo: Path, run_id: str) -> None:
    plan = tmp_path / f"{run_id}.yaml"
    plan.write_text(PLAN.format(run_id=run_id))
    code, _, err = autopack("runs", "create", str(plan), "--repo", str(repo))
    assert code == 0, err


def leave_branch(repo: Path, home: Path, run_id: str) -> Path:
    """What an executed run leaves: a worktree on autopack/<id> with a commit, its base
    ref and a savepoint, plus a savepoint tag as an older Autopack made them."""
    worktree = home / "worktrees" / run_id
    git(repo, "worktree", "add", "-q", "-b", f"autopack/{run_id}", str(worktree))
    (worktree / "a.txt").write_text(f"work of {run_id}\n")
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", "p1: Add a file")
    git(repo, "tag", f"autopack/{run_id}/save/1", f"autopack/{run_id}")
    git(repo, "update-ref", f"refs/autopack/{run_id}/base", "main")
    git(repo, "update-ref", f"refs/autopack/{run_id}/save/2", f"autopack/{run_id}")
    return worktree


def set_run(run_id: str, *, state: RunState, days_ago: float = 30, worktree: Path | None) -> None:
    db = open_database(get_settings())
    with unit_of_work(db.factory) as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.state = state.value
        run.completed_at = utcnow() - timedelta(days=days_ago)
        run.worktree_path = str(worktree) if worktree else None
        run.branch = f"autopack/{run_id}"
    db.dispose()


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").split()


def test_cancel_ends_an_idle_run_and_flags_one_executing_elsewhere(
    autopack: Callable[..., Result], tmp_path: Path, repo: Path
) -> None:
    make_run(autopack, tmp_path, repo, "idle")
    code, out, _ = autopack("cancel", "idle")
    assert (code, "DONE_CANCELLED" in out) == (0, True)
    code, _, err = autopack("cancel", "idle")
    assert code == 1 and "already ended" in err

    make_run(autopack, tmp_path, repo, "busy")
    db = open_database(get_settings())
    with unit_of_work(db.factory) as session:
        acquire_lease(session, "busy", "worker-on-another-host", seconds=300)
    code, out, _ = autopack("cancel", "busy")
    assert code == 0 and "next step" in out
    with db.factory() as session:
        run = session.get(Run, "busy")
        assert run is not None and run.cancel_requested and not RunState(run.state).is_terminal
    code, _, err = autopack("runs", "delete", "busy")
    assert code == 1 and "autopack cancel busy" in " ".join(err.split())
    db.dispose()

    assert autopack("cancel", "nope")[0] == 2


def test_runs_delete_keeps_unmerged_success_unless_forced(
    autopack: Callable[..., Result], tmp_path: Path, repo: Path, _isolated_home: Path
) -> None:
    make_run(autopack, tmp_path, repo, "good")
    worktree = leave_branch(repo, _isolated_home, "good")
    set_run("good", state=RunState.DONE_SUCCESS, worktree=worktree)

    code, _, err = autopack("runs", "delete", "good")
    assert code == 1 and "not merged" in err and "--force" in err
    assert "autopack/good" in branches(repo) and worktree.exists()

    git(repo, "merge", "-q", "--ff-only", "autopack/good")
    code, out, _ = autopack("runs", "delete", "good")
    assert code == 0, out
    assert f"removed worktree {worktree}" in out and "freed" in out
    assert "autopack/good" not in branches(repo) and not worktree.exists()
    assert git(repo, "tag", "--list", "autopack/*").strip() == ""
    assert git(repo, "for-each-ref", "refs/autopack/").strip() == ""
    assert not (_isolated_home / ".autonomous_runs" / "good").exists()
    assert autopack("status", "good")[0] == 2

    make_run(autopack, tmp_path, repo, "good2")
    worktree = leave_branch(repo, _isolated_home, "good2")
    set_run("good2", state=RunState.DONE_SUCCESS, worktree=worktree)
    assert autopack("runs", "delete", "good2", "--force")[0] == 0
    assert "autopack/good2" not in branches(repo)


def test_gc_dry_run_lists_what_gc_removes_and_spares_unmerged_success(
    autopack: Callable[..., Result], tmp_path: Path, repo: Path, _isolated_home: Path
) -> None:
    for run_id, state in (
        ("old-fail", RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW),
        ("old-win", RunState.DONE_SUCCESS),
    ):
        make_run(autopack, tmp_path, repo, run_id)
        worktree = leave_branch(repo, _isolated_home, run_id)
        set_run(run_id, state=state, worktree=worktree)
    make_run(autopack, tmp_path, repo, "recent")
    set_run("recent", state=RunState.DONE_CANCELLED, days_ago=1, worktree=None)
    leftover = _isolated_home / ".autonomous_runs" / "deleted-long-ago"
    leftover.mkdir(parents=True)
    (leftover / "run_summary.md").write_text("x" * 5000)

    code, dry, _ = autopack("gc", "--older-than", "7", "--dry-run")
    assert code == 0
    assert "would remove branch autopack/old-fail" in dry
    assert f"would remove worktree {_isolated_home / 'worktrees' / 'old-win'}" in dry
    assert "kept branch autopack/old-win" in dry
    assert "deleted-long-ago" in dry and "recent" not in dry
    assert "autopack/old-fail" in branches(repo) and leftover.exists()

    code, out, _ = autopack("gc", "--older-than", "7")
    assert code == 0
    assert out.replace("removed", "would remove").splitlines()[:-1] == dry.splitlines()[:-1]
    assert set(branches(repo)) == {"main", "autopack/old-win"}
    assert not leftover.exists() and not (_isolated_home / "worktrees" / "old-fail").exists()
    assert "freed" in out.splitlines()[-1]

    code, out, _ = autopack("gc", "--older-than", "7", "--force")
    assert code == 0 and "autopack/old-win" in out and branches(repo) == ["main"]


def test_init_is_idempotent_and_check_reports_problems_with_fixes(
    autopack: Callable[..., Result], tmp_path: Path, _isolated_home: Path
) -> None:
    code, out, _ = autopack("check")
    assert code == 2 and "autopack init" in out and "ANTHROPIC_API_KEY" in out

    script = tmp_path / "script.jsonl"
    script.write_text("")
    env = {"AUTOPACK_LLM_PROVIDER": "scripted", "AUTOPACK_LLM_SCRIPT": str(script)}
    code, out, _ = autopack("init", env=env)
    assert code == 0, out
    config = _isolated_home / "config.env"
    assert "# AUTOPACK_PORT=8000" in config.read_text()
    assert (_isolated_home / "autopack.db").exists()
    config.write_text(config.read_text() + "\nAUTOPACK_PORT=9123\n")
    code, out, _ = autopack("init", env=env)
    assert code == 0 and "kept as it is" in out
    assert "AUTOPACK_PORT=9123" in config.read_text()
    get_settings.cache_clear()
    assert get_settings().port == 9123
    assert autopack("check", env=env)[0] == 0


def test_provider_problems_stop_a_run_before_anything_exists(
    autopack: Callable[..., Result], tmp_path: Path, repo: Path, _isolated_home: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(run_id="r1"))
    code, _, err = autopack("run", str(plan), "--repo", str(repo), "--provider", "bogus")
    assert code == 2 and "'bogus'" in err and "anthropic" in err and "scripted" in err

    env = {"AUTOPACK_LLM_BASE_URL": "http://127.0.0.1:9/v1", "AUTOPACK_LLM_MODEL": "m"}
    code, _, err = autopack("run", str(plan), "--repo", str(repo), env=env)
    assert code == 2
    assert err.count("http://127.0.0.1:9/v1") == 1 and "Traceback" not in err
    assert "refused" in err.lower()
    assert branches(repo) == ["main"]
    assert not (_isolated_home / "worktrees").exists()
    assert not (_isolated_home / ".autonomous_runs" / "r1").exists()


def test_a_plan_with_no_phases_is_an_error(
    autopack: Callable[..., Result], tmp_path: Path, repo: Path
) -> None:
    plan = tmp_path / "empty.yaml"
    plan.write_text("run_id: empty\nphases: []\n")
    code, _, err = autopack("plan", str(plan), "--repo", str(repo))
    assert code == 0 and "warning [no_phases]" in err and "refuses this plan (no_phases)" in err
    assert autopack("plan", str(plan), "--repo", str(repo), "--strict")[0] == 2
    script = tmp_path / "script.jsonl"
    script.write_text("")
    env = {"AUTOPACK_LLM_PROVIDER": "scripted", "AUTOPACK_LLM_SCRIPT": str(script)}
    code, _, err = autopack("run", str(plan), "--repo", str(repo), env=env)
    assert code == 2 and "no_phases" in err
    assert branches(repo) == ["main"]
