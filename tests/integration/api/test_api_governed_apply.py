"""builder_result patches go through governed apply in the run's worktree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient


def test_patch_is_applied_and_committed_on_the_run_branch(
    ga_client: TestClient, target_repo: Path, git: Any, result_for: Any, calc_patch: str
) -> None:
    response = ga_client.post("/runs/ga/phases/P1/builder_result", json=result_for(calc_patch))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["phase_state"] == "COMPLETE" and body["commit_sha"]
    status = ga_client.get("/runs/ga/integration_status").json()
    assert status["branch"] == "autopack/ga" and status["clean"] is True
    assert [c["sha"] for c in status["commits"]] == [body["commit_sha"]]
    assert "def mul" in git(target_repo, "show", "autopack/ga:calc.py")
    assert (
        "def mul" not in (target_repo / "calc.py").read_text()
    )  # the user's checkout is untouched


def test_rejected_patch_is_a_422_naming_the_edit_and_the_attempt_is_kept(
    ga_client: TestClient, result_for: Any, calc_patch: str
) -> None:
    outside = calc_patch.replace("calc.py", "secrets.py")
    response = ga_client.post("/runs/ga/phases/P1/builder_result", json=result_for(outside))

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "apply_rejected"
    assert "secrets.py" in problem["detail"] or "secrets.py" in str(problem["failures"])
    summary = ga_client.get("/reports/run_summary/ga").json()
    attempt = summary["phases"][0]["attempts"][0]
    assert (attempt["role"], attempt["apply_status"]) == ("builder", "rejected")
    assert summary["phases"][0]["state"] in ("QUEUED", "EXECUTING")


def test_large_deletion_waits_for_approval_then_applies(
    ga_client: TestClient, target_repo: Path, git: Any, result_for: Any
) -> None:
    deletion = '{"op": "delete", "path": "legacy.py"}'
    response = ga_client.post("/runs/ga/phases/P1/builder_result", json=result_for(deletion))

    assert response.status_code == 200, response.text
    assert response.json()["phase_state"] == "AWAITING_APPROVAL"
    assert "legacy.py" in git(target_repo, "ls-tree", "--name-only", "autopack/ga")
    approval = ga_client.get("/approvals", params={"status": "pending"}).json()["approvals"][0]
    decided = ga_client.post(f"/approvals/{approval['id']}/approve", json={})

    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    assert ga_client.get("/runs/ga").json()["phases"][0]["state"] == "COMPLETE"
    assert "legacy.py" not in git(target_repo, "ls-tree", "--name-only", "autopack/ga")
    again = ga_client.post(f"/approvals/{approval['id']}/approve", json={})
    assert again.status_code == 409


def test_integration_status_of_a_run_without_a_worktree_creates_none(
    ga_client: TestClient, target_repo: Path, git: Any
) -> None:
    status = ga_client.get("/runs/ga/integration_status")

    assert status.status_code == 200, status.text
    assert status.json()["has_workspace"] is False
    assert "autopack/ga" not in git(target_repo, "branch", "--list")
