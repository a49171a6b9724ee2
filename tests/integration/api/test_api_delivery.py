"""The delivery routes over real git: GET /runs/{id}/diff, POST /runs/{id}/merge and
POST /runs/{id}/push, with their refusals as problem+json, and in OpenAPI."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autopack.domain.states import RunState
from autopack.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # delivery_fixtures
from delivery_fixtures import Runs, commit_file, git, make_user_repo

Problem = Callable[..., dict[str, Any]]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_user_repo(tmp_path)


@pytest.fixture
def runs(client: TestClient, settings: Settings, repo: Path) -> Runs:
    return Runs(client.app.state.session_factory, settings, repo)  # type: ignore[attr-defined]


def test_diff_shows_commits_and_files(client: TestClient, runs: Runs, problem: Problem) -> None:
    runs.finished()
    body = client.get("/runs/r1/diff").json()
    assert [c["phase_id"] for c in body["commits"]] == ["p1", "p2"]
    assert [(f["path"], f["status"]) for f in body["files"]] == [
        ("app.py", "modified"),
        ("lib/new.py", "added"),
    ]
    assert body["default_target"] == "main" and body["merged_into_target"] is False
    problem(client.get("/runs/nope/diff"), 404, "not_found")


def test_merge_then_merge_again(client: TestClient, runs: Runs, repo: Path) -> None:
    ws = runs.finished()
    first = client.post("/runs/r1/merge")
    assert first.status_code == 200, first.text
    head = git(repo, "rev-parse", ws.branch_name)
    assert first.json()["result"] == "fast_forward" and first.json()["sha"] == head
    assert git(repo, "rev-parse", "main") == head
    again = client.post("/runs/r1/merge", json={"mode": "auto"})
    assert again.json()["result"] == "already_merged"
    [decision] = runs.decisions("r1")
    assert decision.actor == "local" and decision.details["target"] == "main"
    assert client.get("/runs/r1/diff").json()["merged_into_target"] is True


def test_a_conflict_is_a_409_naming_the_files(
    client: TestClient, runs: Runs, repo: Path, problem: Problem
) -> None:
    runs.finished()
    moved = commit_file(repo, "app.py", "VALUE = 5\n", "mine")
    body = problem(client.post("/runs/r1/merge", json={"into": "main"}), 409, "conflict")
    assert body["files"] == ["app.py"] and "app.py" in body["detail"]
    assert git(repo, "rev-parse", "main") == moved
    ff = problem(client.post("/runs/r1/merge", json={"mode": "ff"}), 409, "conflict")
    assert "cannot fast-forward" in ff["detail"]


def test_merge_commit_on_request(client: TestClient, runs: Runs, repo: Path) -> None:
    runs.finished()
    response = client.post("/runs/r1/merge", json={"mode": "merge"})
    assert response.json()["result"] == "merge_commit"
    assert len(git(repo, "rev-list", "--parents", "-n", "1", "main").split()) == 3


def test_bad_merge_requests(client: TestClient, runs: Runs, problem: Problem) -> None:
    runs.finished()
    problem(client.post("/runs/r1/merge", json={"mode": "rebase"}), 422, "validation_error")
    problem(client.post("/runs/r1/merge", json={"actor": "me"}), 422, "validation_error")
    missing = problem(client.post("/runs/r1/merge", json={"into": "gone"}), 422, "validation_error")
    assert "does not exist" in missing["detail"]
    problem(client.post("/runs/nope/merge"), 404, "not_found")


def test_a_failed_run_is_not_merged(client: TestClient, runs: Runs, problem: Problem) -> None:
    runs.finished(state=RunState.DONE_FAILED_POLICY_VIOLATION)
    body = problem(client.post("/runs/r1/merge"), 409, "conflict")
    assert "DONE_FAILED_POLICY_VIOLATION" in body["detail"]


def test_push_to_a_bare_remote_and_a_missing_one(
    client: TestClient, runs: Runs, repo: Path, tmp_path: Path, problem: Problem
) -> None:
    ws = runs.finished()
    missing = problem(client.post("/runs/r1/push"), 422, "validation_error")
    assert "no remote 'origin'" in missing["detail"]
    remote = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "shared", str(remote))
    pushed = client.post("/runs/r1/push", json={"remote": "shared"})
    assert pushed.status_code == 200, pushed.text
    assert git(remote, "rev-parse", ws.branch_name) == git(repo, "rev-parse", ws.branch_name)
    assert pushed.json()["summary"] == "[new branch]"


def test_the_routes_are_in_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/runs/{run_id}/merge"]["post"]["responses"]) >= {"200", "404", "409"}
    assert "/runs/{run_id}/diff" in paths and "/runs/{run_id}/push" in paths
