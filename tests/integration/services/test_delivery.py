"""Delivering a run's branch with real git: its diff, merges (fast-forward, merge commit,
conflicts, dirty checkouts), idempotence, pushes to a local bare remote."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from autopack.db.session import unit_of_work
from autopack.domain.states import RunState
from autopack.errors import ConflictError, NotFoundError, ValidationError
from autopack.services import delivery
from autopack.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # delivery_fixtures
from delivery_fixtures import Runs, commit_file, git, make_user_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_user_repo(tmp_path)


@pytest.fixture
def runs(session_factory: sessionmaker[Session], settings: Settings, repo: Path) -> Runs:
    return Runs(session_factory, settings, repo)


def test_branch_diff_lists_commits_by_phase_and_each_file(runs: Runs, repo: Path) -> None:
    ws = runs.finished()
    base = git(repo, "rev-parse", "main")
    with runs.factory() as session:
        diff = delivery.branch_diff(session, "r1")
    assert (diff.base_sha, diff.head_sha) == (base, git(repo, "rev-parse", ws.branch_name))
    assert [(c.phase_id, c.subject) for c in diff.commits] == [
        ("p1", "p1: Phase p1"),
        ("p2", "p2: Phase p2"),
    ]
    assert [(f.path, f.status, f.added, f.removed) for f in diff.files] == [
        ("app.py", "modified", 1, 1),
        ("lib/new.py", "added", 2, 0),
    ]
    assert "-VALUE = 1\n+VALUE = 2" in diff.files[0].patch
    assert (diff.files_changed, diff.insertions, diff.deletions) == (2, 3, 1)
    assert (diff.default_target, diff.merged_into_target) == ("main", False)


def test_branch_diff_of_an_unknown_run_or_a_run_without_branch(runs: Runs) -> None:
    with runs.factory() as session, pytest.raises(NotFoundError):
        delivery.branch_diff(session, "nope")


def test_fast_forward_moves_main_and_its_clean_checkout(runs: Runs, repo: Path) -> None:
    ws = runs.finished()
    result = runs.merge()
    head = git(repo, "rev-parse", ws.branch_name)
    assert (result.result, result.target, result.sha) == ("fast_forward", "main", head)
    assert git(repo, "rev-parse", "main") == head
    assert result.checkout == str(repo)
    assert (repo / "lib/new.py").is_file() and git(repo, "status", "--porcelain") == ""
    [decision] = runs.decisions("r1")
    assert (decision.decision, decision.actor) == ("merged", "cli:tester")
    assert decision.details["sha"] == head and decision.details["result"] == "fast_forward"


def test_merge_commit_when_main_moved_and_ff_only_refused(runs: Runs, repo: Path) -> None:
    ws = runs.finished()
    moved = commit_file(repo, "docs.md", "# docs\n", "user work")
    with pytest.raises(ConflictError, match="cannot fast-forward"):
        runs.merge(mode="ff")
    assert git(repo, "rev-parse", "main") == moved
    result = runs.merge()
    assert result.result == "merge_commit"
    parents = git(repo, "rev-list", "--parents", "-n", "1", "main").split()[1:]
    assert parents == [moved, git(repo, "rev-parse", ws.branch_name)]
    assert (repo / "docs.md").is_file() and (repo / "lib/new.py").is_file()
    assert git(repo, "log", "-1", "--format=%s", "main") == f"Merge {ws.branch_name} into main"


def test_no_ff_makes_a_merge_commit_even_when_ff_is_possible(runs: Runs, repo: Path) -> None:
    ws = runs.finished()
    base = git(repo, "rev-parse", "main")
    result = runs.merge(mode="merge")
    assert result.result == "merge_commit"
    parents = git(repo, "rev-list", "--parents", "-n", "1", "main").split()[1:]
    assert parents == [base, git(repo, "rev-parse", ws.branch_name)]


def test_conflict_is_refused_naming_the_files_and_nothing_changes(runs: Runs, repo: Path) -> None:
    runs.finished()
    moved = commit_file(repo, "app.py", "VALUE = 99\n", "user changed it too")
    with pytest.raises(ConflictError) as caught:
        runs.merge()
    assert caught.value.context["files"] == ["app.py"]
    assert "app.py" in caught.value.message
    assert git(repo, "rev-parse", "main") == moved
    assert (repo / "app.py").read_text() == "VALUE = 99\n"
    assert git(repo, "status", "--porcelain") == ""
    assert runs.decisions("r1") == []


def test_a_dirty_checkout_of_the_target_is_never_touched(runs: Runs, repo: Path) -> None:
    runs.finished()
    base = git(repo, "rev-parse", "main")
    (repo / "notes.txt").write_text("my unsaved edit\n", encoding="utf-8")
    with pytest.raises(ConflictError, match="uncommitted changes") as caught:
        runs.merge()
    assert caught.value.context["files"] == ["notes.txt"]
    assert git(repo, "rev-parse", "main") == base
    assert (repo / "notes.txt").read_text() == "my unsaved edit\n"
    assert not (repo / "lib/new.py").exists()


def test_an_untracked_file_the_merge_would_overwrite_is_kept(runs: Runs, repo: Path) -> None:
    runs.finished()
    base = git(repo, "rev-parse", "main")
    (repo / "lib").mkdir()
    (repo / "lib/new.py").write_text("mine\n", encoding="utf-8")
    with pytest.raises(ConflictError, match="nothing was changed"):
        runs.merge()
    assert git(repo, "rev-parse", "main") == base
    assert (repo / "lib/new.py").read_text() == "mine\n"


def test_merge_into_a_branch_not_checked_out_leaves_dirty_work_alone(
    runs: Runs, repo: Path
) -> None:
    ws = runs.finished()
    git(repo, "branch", "release")
    (repo / "notes.txt").write_text("my unsaved edit\n", encoding="utf-8")
    result = runs.merge(into="release")
    assert (result.result, result.checkout) == ("fast_forward", None)
    assert git(repo, "rev-parse", "release") == git(repo, "rev-parse", ws.branch_name)
    assert git(repo, "status", "--porcelain") == "M notes.txt"
    assert not (repo / "lib/new.py").exists()


def test_merging_again_says_already_merged(runs: Runs, repo: Path) -> None:
    runs.finished()
    first = runs.merge()
    again = runs.merge()
    assert (again.result, again.sha) == ("already_merged", first.sha)
    assert "already contains" in again.message
    assert [d.decision for d in runs.decisions("r1")] == ["merged"]


@pytest.mark.parametrize(
    "state", [RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW, RunState.PHASE_EXECUTION]
)
def test_only_a_successful_run_is_merged(runs: Runs, repo: Path, state: RunState) -> None:
    runs.finished(state=state)
    base = git(repo, "rev-parse", "main")
    with pytest.raises(ConflictError, match="only a run that ended DONE_SUCCESS"):
        runs.merge()
    assert git(repo, "rev-parse", "main") == base


def test_bad_targets_are_refused(runs: Runs) -> None:
    runs.finished()
    with pytest.raises(ValidationError, match="does not exist"):
        runs.merge(into="nowhere")
    with pytest.raises(ValidationError, match="not a valid branch name"):
        runs.merge(into="bad..name")
    with pytest.raises(ValidationError, match="into itself"):
        runs.merge(into="autopack/r1")


def test_a_run_from_a_tag_needs_a_target(runs: Runs, repo: Path) -> None:
    git(repo, "tag", "v1")
    runs.finished(base_ref="v1")
    with pytest.raises(ValidationError, match="--into"):
        runs.merge()
    assert runs.merge(into="main").result == "fast_forward"


def test_push_to_a_bare_remote_and_again(runs: Runs, repo: Path, tmp_path: Path) -> None:
    ws = runs.finished()
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    with unit_of_work(runs.factory) as session:
        pushed = delivery.push_run(session, "r1", actor="cli:tester")
    head = git(repo, "rev-parse", ws.branch_name)
    assert git(remote, "rev-parse", ws.branch_name) == head
    assert (pushed.remote, pushed.sha, pushed.summary) == ("origin", head, "[new branch]")
    with unit_of_work(runs.factory) as session:
        again = delivery.push_run(session, "r1", remote="origin", actor="cli:tester")
    assert again.summary == "[up to date]"
    assert [d.decision for d in runs.decisions("r1")] == ["pushed", "pushed"]


def test_push_refuses_a_missing_remote_and_a_diverged_one(
    runs: Runs, repo: Path, tmp_path: Path
) -> None:
    runs.finished()
    with unit_of_work(runs.factory) as session, pytest.raises(ValidationError) as caught:
        delivery.push_run(session, "r1", actor="cli:tester")
    assert "no remote 'origin'" in caught.value.message and "none" in caught.value.message
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "backup", "https://user:secret@example.invalid/x.git")
    git(repo, "remote", "add", "upstream", str(remote))
    git(repo, "checkout", "-q", "-b", "other")
    commit_file(repo, "other.txt", "elsewhere\n", "someone else's push")
    git(repo, "push", "-q", "upstream", "other:refs/heads/autopack/r1")
    with unit_of_work(runs.factory) as session, pytest.raises(ValidationError) as caught:
        delivery.push_run(session, "r1", remote="elsewhere", actor="cli:tester")
    assert "backup, upstream" in caught.value.message
    with unit_of_work(runs.factory) as session, pytest.raises(ConflictError, match="never force"):
        delivery.push_run(session, "r1", remote="upstream", actor="cli:tester")
    assert runs.decisions("r1") == []
