"""Approval expiry by policy (services/approvals.expire_overdue), on SQLite and
PostgreSQL, with an injected clock: reject sends the phase back to the Builder, fail_phase
fails it and ends a run no executor holds; the CLI's list and the server's round expire
too."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from autopack.api.app import create_app
from autopack.api.expiry import expire_and_resume
from autopack.db.orm import Approval, DecisionLog, Phase, Run, utcnow
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.domain.states import PhaseState, RunState
from autopack.services import approvals as approval_service
from autopack.services import runs as run_service
from autopack.services.phases import get_phase, set_phase_state
from autopack.settings import Settings

SPEC = RunSpec.model_validate({"run_id": "exp", "phases": [{"phase_id": "p", "name": "P"}]})
START = datetime(2026, 1, 5, 9, 0, tzinfo=utcnow().tzinfo)


@pytest.fixture
def factory(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    with unit_of_work(session_factory) as session:
        run = run_service.create_run(session, SPEC, runs_dir=settings.runs_dir)
        run_service.set_run_state(session, run, RunState.PHASE_EXECUTION)
        run.tiers[0].state = "IN_PROGRESS"
        set_phase_state(session, run.phases[0], PhaseState.EXECUTING)
    return session_factory


def _park(factory: sessionmaker[Session], on_expiry: Any, minutes: int | None = 30) -> int:
    with unit_of_work(factory) as session:
        approval = approval_service.request_approval(
            session,
            get_phase(session, "exp", "p"),
            kind="governance",
            reason="the Builder asks to change protected config/app.toml",
            details={"attempt_id": None, "then_state": "EXECUTING"},
            expire_after_minutes=minutes,
            on_expiry=on_expiry,
            now=START,
        )
        return approval.id


def test_nothing_expires_before_its_time_or_without_a_policy(factory: Any) -> None:
    due = _park(factory, "reject")
    with unit_of_work(factory) as session:
        assert approval_service.expire_overdue(session, START + timedelta(minutes=29)) == []
        approval = session.get(Approval, due)
        assert approval is not None and approval.status == "pending"
        assert approval.expires_at == START + timedelta(minutes=30)
        approval.status = "approved"  # out of the way for the next one
        phase = get_phase(session, "exp", "p")
        set_phase_state(session, phase, PhaseState.EXECUTING)
    _park(factory, "reject", minutes=None)
    with unit_of_work(factory) as session:
        assert approval_service.expire_overdue(session, START + timedelta(days=365)) == []


def test_reject_on_expiry_sends_the_phase_back_to_the_builder_saying_why(factory: Any) -> None:
    approval_id = _park(factory, "reject")
    now = START + timedelta(minutes=30)
    with unit_of_work(factory) as session:
        [expired] = approval_service.expire_overdue(session, now)
        assert approval_service.runs_to_resume(session, [expired], now) == ["exp"]
    with factory() as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None
        assert (approval.status, approval.decided_by, approval.decided_at) == (
            "expired",
            "policy:expiry",
            now,
        )
        assert "nobody decided within 30 minutes" in approval.decision_note
        assert "counts as a rejection" in approval.decision_note
        phase = session.scalars(select(Phase)).one()
        assert phase.state == "EXECUTING"
        assert phase.hints[-1] == approval.decision_note
        log = session.scalars(select(DecisionLog).where(DecisionLog.actor == "policy:expiry")).one()
        assert (log.decision, log.details["on_expiry"]) == ("approval_expired", "reject")
        run = session.get(Run, "exp")
        assert run is not None and run.state == "PHASE_EXECUTION"


def test_fail_phase_on_expiry_fails_the_phase_and_ends_a_parked_run(factory: Any) -> None:
    _park(factory, "fail_phase")
    now = START + timedelta(hours=1)
    with unit_of_work(factory) as session:
        expired = approval_service.expire_overdue(session, now)
        assert approval_service.runs_to_resume(session, expired, now) == []
    with factory() as session:
        phase = session.scalars(select(Phase)).one()
        assert phase.state == "FAILED"
        assert "expired" in (phase.last_failure or "")
        assert "fails the phase" in (phase.last_failure or "")
        run = session.get(Run, "exp")
        assert run is not None and run.state == "DONE_FAILED_REQUIRES_HUMAN_REVIEW"
        assert (run.failure_reason or "").startswith("phase p failed: the approval")


def test_fail_phase_leaves_a_run_an_executor_holds_to_that_executor(factory: Any) -> None:
    _park(factory, "fail_phase")
    now = START + timedelta(hours=1)
    with unit_of_work(factory) as session:
        run = session.get(Run, "exp")
        assert run is not None
        run.lease_owner, run.lease_expires_at = "host:1:x", now + timedelta(minutes=2)
    with unit_of_work(factory) as session:
        approval_service.expire_overdue(session, now, run_id="exp")
    with factory() as session:
        assert session.scalars(select(Phase.state)).one() == "FAILED"
        assert session.scalars(select(Run.state)).one() == "PHASE_EXECUTION"


def test_autopack_approvals_list_expires_what_is_overdue(
    factory: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autopack.cli.app import app as cli_app
    from autopack.settings import get_settings

    # Due a minute ago by the wall clock the command uses.
    with unit_of_work(factory) as session:
        approval_service.request_approval(
            session,
            get_phase(session, "exp", "p"),
            kind="large_deletion",
            reason="net deletion of 300 lines",
            details={},
            expire_after_minutes=1,
            now=utcnow() - timedelta(minutes=2),
        )
    monkeypatch.setenv("AUTOPACK_HOME", str(settings.home))
    monkeypatch.setenv("AUTOPACK_DATABASE_URL", settings.effective_database_url)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli_app, ["approvals", "list", "--json"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [a["status"] for a in data["approvals"]] == ["expired"]
    assert data["expired_now"] == [data["approvals"][0]["id"]]
    assert data["approvals"][0]["decided_by"] == "policy:expiry"


def test_the_servers_round_expires_and_continues_the_run(
    factory: Any, settings: Settings, tmp_path: Any
) -> None:
    _park(factory, "reject")
    with unit_of_work(factory) as session:
        run = session.get(Run, "exp")
        assert run is not None
        run.repo_path = str(tmp_path)
    submitted: list[str] = []

    def submit(run_id: str) -> bool:
        submitted.append(run_id)
        return True

    # The server's own pool (on PostgreSQL `auto` would queue the run for workers).
    local = settings.model_copy(update={"execution": "local"})
    with TestClient(create_app(local)) as client:
        app: Any = client.app
        app.state.executor_pool.submit = submit
        assert expire_and_resume(app, START + timedelta(minutes=5)) == []
        assert submitted == []
        assert expire_and_resume(app, START + timedelta(minutes=31)) == ["exp"]
    assert submitted == ["exp"]
    with factory() as session:
        assert session.scalars(select(Approval.status)).one() == "expired"
