"""Review findings on the execution and approval routes."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autopack.api.app import create_app
from autopack.db.orm import Run, utcnow
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
def ga_client(settings: Settings, repo: Path) -> Any:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        spec = {
            "run_id": "ga",
            "repo": str(repo),
            "phases": [
                {"phase_id": "P1", "name": "mul", "scope": {"paths": ["calc.py", "legacy.py"]}}
            ],
        }
        assert client.post("/runs", json=spec).status_code == 201
        yield client


def _result(patch: str, status: str = "success") -> dict[str, object]:
    return {"run_id": "ga", "phase_id": "P1", "status": status, "patch_content": patch}


def test_cancel_of_a_run_whose_executor_died_cancels_it_now(
    client: TestClient, make_run: Any, in_db: Any
) -> None:
    make_run("dead", "p")
    with in_db() as session:  # its executor was killed; the lease ran out long ago
        run = session.get(Run, "dead")
        run.state = "PHASE_EXECUTION"
        run.lease_owner = "otherhost:4242:abcd"
        run.lease_expires_at = utcnow() - timedelta(hours=1)

    response = client.post("/runs/dead/cancel")

    assert response.status_code == 202, response.text
    assert response.json()["state"] == "DONE_CANCELLED"
    assert client.get("/runs/dead/status").json()["state"] == "DONE_CANCELLED"


def test_result_for_a_finished_phase_is_refused_before_anything_is_committed(
    ga_client: TestClient, repo: Path, problem: Any
) -> None:
    first = ga_client.post("/runs/ga/phases/P1/builder_result", json=_result(PATCH))
    assert first.json()["phase_state"] == "COMPLETE"
    head = _git(repo, "rev-parse", "autopack/ga")
    late = PATCH.replace("mul", "div").replace("a * b", "a / b")

    response = ga_client.post("/runs/ga/phases/P1/builder_result", json=_result(late, "failed"))

    problem(response, 409, "illegal_transition")
    assert _git(repo, "rev-parse", "autopack/ga") == head  # nothing landed on the branch


def test_result_while_an_approval_is_pending_does_not_bypass_it(
    ga_client: TestClient, repo: Path, problem: Any
) -> None:
    deletion = '{"op": "delete", "path": "legacy.py"}'
    parked = ga_client.post("/runs/ga/phases/P1/builder_result", json=_result(deletion))
    assert parked.json()["phase_state"] == "AWAITING_APPROVAL"

    response = ga_client.post("/runs/ga/phases/P1/builder_result", json=_result(PATCH))

    problem(response, 409, "illegal_transition")
    assert "def mul" not in _git(repo, "show", "autopack/ga:calc.py")
    approval = ga_client.get("/approvals", params={"status": "pending"}).json()["approvals"][0]
    decided = ga_client.post(f"/approvals/{approval['id']}/reject", json={"note": "no"})
    assert decided.status_code == 200, decided.text
    assert ga_client.get("/runs/ga").json()["phases"][0]["state"] == "EXECUTING"
