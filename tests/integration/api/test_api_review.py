"""Review findings on the execution and approval routes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from autopack.db.orm import Run, utcnow


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
    ga_client: TestClient,
    target_repo: Path,
    problem: Any,
    git: Any,
    result_for: Any,
    calc_patch: str,
) -> None:
    first = ga_client.post("/runs/ga/phases/P1/builder_result", json=result_for(calc_patch))
    assert first.json()["phase_state"] == "COMPLETE"
    head = git(target_repo, "rev-parse", "autopack/ga")
    late = calc_patch.replace("mul", "div").replace("a * b", "a / b")

    response = ga_client.post("/runs/ga/phases/P1/builder_result", json=result_for(late, "failed"))

    problem(response, 409, "illegal_transition")
    assert git(target_repo, "rev-parse", "autopack/ga") == head  # nothing landed on the branch


def test_result_while_an_approval_is_pending_does_not_bypass_it(
    ga_client: TestClient,
    target_repo: Path,
    problem: Any,
    git: Any,
    result_for: Any,
    calc_patch: str,
) -> None:
    deletion = '{"op": "delete", "path": "legacy.py"}'
    parked = ga_client.post("/runs/ga/phases/P1/builder_result", json=result_for(deletion))
    assert parked.json()["phase_state"] == "AWAITING_APPROVAL"

    response = ga_client.post("/runs/ga/phases/P1/builder_result", json=result_for(calc_patch))

    problem(response, 409, "illegal_transition")
    assert "def mul" not in git(target_repo, "show", "autopack/ga:calc.py")
    approval = ga_client.get("/approvals", params={"status": "pending"}).json()["approvals"][0]
    decided = ga_client.post(f"/approvals/{approval['id']}/reject", json={"note": "no"})
    assert decided.status_code == 200, decided.text
    assert ga_client.get("/runs/ga").json()["phases"][0]["state"] == "EXECUTING"
