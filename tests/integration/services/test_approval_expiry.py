"""Approval expiry by policy (services/approvals.expire_overdue), on SQLite and
PostgreSQL, with an injected clock: reject sends the phase back to the Builder, fail_phase
fails it and ends a run no executor holds; the CLI's list and the server's round expire
too."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from autopack.api.app import create_app
from autopack.api.expiry import expire_and_resume
from autopack.db.orm import Approval, DecisionLog, Phase, Run, utcnow
from autopack.db.session import make_engine, make_session_factory, unit_of_work
from autopack.domain.plan import RunSpec
from autopack.domain.states import PhaseState, RunState
from autopack.errors import IllegalTransition, StorageUnavailable
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


# -- a decision and the expiry at the same instant -------------------------------------------


def _lock_waiters(url: str) -> int:
    """Backends of this database waiting for a lock (PostgreSQL)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock'"
                    )
                )
                or 0
            )
    finally:
        engine.dispose()


def _until_done_or_waiting(thread: threading.Thread, url: str) -> None:
    """Return once ``thread`` finished or is blocked on a row lock (no duration is asserted:
    this only waits for one of the two states)."""
    while thread.is_alive() and _lock_waiters(url) == 0:
        thread.join(0.01)


def _decisions(factory: sessionmaker[Session], approval_id: int) -> list[str]:
    with factory() as session:
        rows = session.scalars(select(DecisionLog).order_by(DecisionLog.id))
        return [
            r.decision
            for r in rows
            if r.decision.startswith("approval_") and r.details.get("approval_id") == approval_id
        ]


@pytest.mark.postgres
def test_a_decision_in_progress_wins_over_the_expiry_at_the_same_instant(
    factory: Any, settings: Settings
) -> None:
    if not settings.database_url or not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL: row locks between two connections")
    approval_id = _park(factory, "fail_phase")
    expired: list[list[int]] = []

    def expire() -> None:
        with unit_of_work(factory) as session:
            found = approval_service.expire_overdue(session, START + timedelta(hours=1))
            expired.append([a.id for a in found])

    def apply(session: Session, phase: Phase, approval: Approval) -> dict[str, Any]:
        # The person's transaction has the approval; the expiry check runs now.
        other = threading.Thread(target=expire)
        other.start()
        _until_done_or_waiting(other, str(settings.database_url))
        threads.append(other)
        return {"applied": True}

    threads: list[threading.Thread] = []
    with unit_of_work(factory) as session:
        approval_service.decide(session, approval_id, approve=True, by="user:ana", apply=apply)
    threads[0].join()
    assert expired == [[]]
    assert _decisions(factory, approval_id) == ["approval_approved"]
    with factory() as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None and approval.status == "approved"
        assert get_phase(session, "exp", "p").state == PhaseState.EXECUTING.value


@pytest.mark.postgres
def test_a_decision_at_the_instant_of_expiry_is_told_it_expired(
    factory: Any, settings: Settings
) -> None:
    if not settings.database_url or not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL: row locks between two connections")
    approval_id = _park(factory, "reject")
    outcome: list[BaseException | str] = []

    def decide() -> None:
        try:
            with unit_of_work(factory) as session:
                approval_service.decide(session, approval_id, approve=True, by="user:ana")
            outcome.append("decided")
        except IllegalTransition as exc:
            outcome.append(exc)

    with unit_of_work(factory) as session:
        due = approval_service.expire_overdue(session, START + timedelta(hours=1))
        assert [a.id for a in due] == [approval_id]
        person = threading.Thread(target=decide)
        person.start()
        _until_done_or_waiting(person, str(settings.database_url))
    person.join()
    [told] = outcome
    assert isinstance(told, IllegalTransition)
    assert str(told) == f"approval {approval_id} was already expired by policy:expiry"
    assert _decisions(factory, approval_id) == ["approval_expired"]
    with factory() as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None and approval.status == "expired"


def test_on_sqlite_the_expiry_cannot_act_while_a_decision_is_in_progress(
    factory: Any, settings: Settings
) -> None:
    """SQLite has no row locks: the decision takes the database's write lock before it
    reads the approval, so an expiry round meanwhile (here on a connection that does not
    wait) is refused, and the next round finds nothing pending."""
    if not settings.database_url or not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite: the database's write lock")
    approval_id = _park(factory, "fail_phase")
    engine = make_engine(str(settings.database_url))
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=0"))
    impatient = make_session_factory(engine)
    refused: list[str] = []

    def apply(session: Session, phase: Phase, approval: Approval) -> dict[str, Any]:
        try:
            with unit_of_work(impatient) as other:
                approval_service.expire_overdue(other, START + timedelta(hours=1))
        except StorageUnavailable as exc:
            refused.append(str(exc))
        return {"applied": True}

    with unit_of_work(factory) as session:
        approval_service.decide(session, approval_id, approve=True, by="user:ana", apply=apply)
    with unit_of_work(impatient) as session:
        assert approval_service.expire_overdue(session, START + timedelta(hours=1)) == []
    engine.dispose()
    assert len(refused) == 1 and "database is locked" in refused[0]
    assert _decisions(factory, approval_id) == ["approval_approved"]
