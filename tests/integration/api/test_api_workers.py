"""Where runs execute: GET /workers, /health's summary, and runs queued for workers
(POST /runs/{id}/execute and a decided approval) on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from autopack.api.routes import execution as execution_routes
from autopack.db.orm import Run
from autopack.domain.states import PhaseState, RunState
from autopack.services import approvals as approval_service
from autopack.services import workers as worker_service
from autopack.services.phases import get_phase, set_phase_state
from autopack.settings import Settings


def _jobs(client: TestClient, run_id: str) -> list[tuple[str, str | None, str | None]]:
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        rows = session.execute(
            text(
                "SELECT status, lock, queueing_lock FROM procrastinate_jobs "
                "WHERE args->>'run_id' = :run_id ORDER BY id"
            ),
            {"run_id": run_id},
        )
        return [(str(r[0]), r[1], r[2]) for r in rows]


def test_workers_route_and_health_summary(
    client: TestClient, in_db: Callable[[], Any], settings: Settings
) -> None:
    assert client.get("/workers").json() == []
    with in_db() as session:
        worker_service.register_worker(
            session, "h1:7:aa", host="h1", pid=7, version="0.1.0", concurrency=2
        )
        worker_service.heartbeat(session, "h1:7:aa", current_runs=["r1"])
    (worker,) = client.get("/workers").json()
    assert worker["id"] == "h1:7:aa" and worker["status"] == "alive"
    assert worker["current_runs"] == ["r1"]
    summary = client.get("/health").json()["workers"]
    expected = "local" if settings.is_embedded_database else "queue"
    assert summary == {"execution": expected, "alive": 1, "stale": 0, "busy_runs": 1}
    assert "WorkerRead" in client.get("/openapi.json").text


def _arrange_run(in_db: Callable[[], Any], run_id: str, repo: Path, *, park: bool) -> int | None:
    with in_db() as session:
        run = session.get(Run, run_id)
        run.repo_path = str(repo)
        run.state = RunState.PHASE_EXECUTION.value
        if not park:
            return None
        phase = get_phase(session, run_id, "p1")
        set_phase_state(session, phase, PhaseState.EXECUTING)
        approval = approval_service.request_approval(
            session, phase, kind="human_review", reason="a person reviews", details={}
        )
        return int(approval.id)


@pytest.mark.postgres
def test_execute_queues_a_job_once_on_postgres(
    client: TestClient,
    in_db: Callable[[], Any],
    make_run: Callable[..., dict[str, Any]],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if settings.is_embedded_database:
        pytest.skip("SQLite executes on the local pool (tests/e2e/test_run_interfaces.py)")
    # Provider preflight is tested in test_execute_preflight.py; this test is about the queue.
    monkeypatch.setattr(execution_routes, "require_usable_providers", lambda _settings: None)
    make_run("q1", "p1")
    _arrange_run(in_db, "q1", tmp_path, park=False)
    first = client.post("/runs/q1/execute")
    assert first.status_code == 202, first.text
    assert (first.json()["where"], first.json()["accepted"]) == ("queue", True)
    again = client.post("/runs/q1/execute")
    assert again.status_code == 202
    assert again.json()["accepted"] is False and "already queued" in again.json()["message"]
    assert _jobs(client, "q1") == [("todo", "q1", "q1")]


@pytest.mark.postgres
def test_a_decided_approval_queues_the_parked_run_again(
    client: TestClient,
    in_db: Callable[[], Any],
    make_run: Callable[..., dict[str, Any]],
    settings: Settings,
    tmp_path: Path,
) -> None:
    if settings.is_embedded_database:
        pytest.skip("SQLite continues on the local pool (tests/e2e/test_executor_runs.py)")
    make_run("parked", "p1")
    approval_id = _arrange_run(in_db, "parked", tmp_path, park=True)
    assert _jobs(client, "parked") == []  # parked: no job holds a worker
    response = client.post(f"/approvals/{approval_id}/reject", json={"note": "redo it"})
    assert response.status_code == 200, response.text
    assert _jobs(client, "parked") == [("todo", "parked", "parked")]
