"""builder_result patches go through governed apply in the run's worktree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from autopack.api.app import create_app
from autopack.settings import Settings

PATCH = """--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,5 @@
 def add(a, b):
     return a + b
+
+def mul(a, b):
+    return a * b
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "target"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "legacy.py").write_text("".join(f"X{i} = {i}\n" for i in range(250)))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return repo


@pytest.fixture
def client(settings: Settings, repo: Path) -> TestClient:
    client = TestClient(create_app(settings))
    spec = {
        "run_id": "ga",
        "repo": str(repo),
        "phases": [{"phase_id": "P1", "name": "mul", "scope": {"paths": ["calc.py", "legacy.py"]}}],
    }
    assert client.post("/runs", json=spec).status_code == 201
    return client


def _result(patch: str, status: str = "success") -> dict[str, object]:
    return {
        "run_id": "ga",
        "phase_id": "P1",
        "status": status,
        "patch_content": patch,
        "notes": "add mul",
    }


def test_patch_is_applied_and_committed_on_the_run_branch(client: TestClient, repo: Path) -> None:
    response = client.post("/runs/ga/phases/P1/builder_result", json=_result(PATCH))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["phase_state"] == "COMPLETE" and body["commit_sha"]
    status = client.get("/runs/ga/integration_status").json()
    assert status["branch"] == "autopack/ga" and status["clean"] is True
    assert [c["sha"] for c in status["commits"]] == [body["commit_sha"]]
    assert "def mul" in _git(repo, "show", "autopack/ga:calc.py")
    assert "def mul" not in (repo / "calc.py").read_text()  # the user's checkout is untouched


def test_rejected_patch_is_a_422_naming_the_edit_and_the_attempt_is_kept(
    client: TestClient,
) -> None:
    outside = PATCH.replace("calc.py", "secrets.py")
    response = client.post("/runs/ga/phases/P1/builder_result", json=_result(outside))

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "apply_rejected"
    assert "secrets.py" in problem["detail"] or "secrets.py" in str(problem["failures"])
    summary = client.get("/reports/run_summary/ga").json()
    attempt = summary["phases"][0]["attempts"][0]
    assert (attempt["role"], attempt["apply_status"]) == ("builder", "rejected")
    assert summary["phases"][0]["state"] in ("QUEUED", "EXECUTING")


def test_large_deletion_waits_for_approval_then_applies(client: TestClient, repo: Path) -> None:
    deletion = '{"op": "delete", "path": "legacy.py"}'
    response = client.post("/runs/ga/phases/P1/builder_result", json=_result(deletion))

    assert response.status_code == 200, response.text
    assert response.json()["phase_state"] == "AWAITING_APPROVAL"
    assert "legacy.py" in _git(repo, "ls-tree", "--name-only", "autopack/ga")
    approval = client.get("/approvals", params={"status": "pending"}).json()["approvals"][0]
    decided = client.post(f"/approvals/{approval['id']}/approve", json={"decided_by": "bob"})

    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    assert client.get("/runs/ga").json()["phases"][0]["state"] == "COMPLETE"
    assert "legacy.py" not in _git(repo, "ls-tree", "--name-only", "autopack/ga")
    again = client.post(f"/approvals/{approval['id']}/approve", json={})
    assert again.status_code == 409
