"""Services on SQLite and PostgreSQL: run creation and its artifacts, the run, tier and
phase state machines with their escapes, leases, cancellation, attempts and notes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from autopack.db.orm import utcnow
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.domain.states import AttemptRole, PhaseState, RunState, TierState
from autopack.errors import DuplicateError, IllegalTransition, LeaseHeld, NotFoundError
from autopack.services import notes
from autopack.services import phases as phase_service
from autopack.services import runs as run_service
from autopack.settings import Settings

SPEC = RunSpec.model_validate(
    {
        "run_id": "svc",
        "goal": "Ship it",
        "tiers": [{"tier_id": "T1", "name": "One"}, {"tier_id": "Auth & Security", "name": "Two"}],
        "phases": [
            {"phase_id": "a", "name": "A", "tier_id": "T1"},
            {
                "phase_id": "F2.3",
                "name": "B",
                "tier_id": "Auth & Security",
                "scope": {"deliverables": {"code": ["x.py"]}},
            },
        ],
    }
)


@pytest.fixture
def factory(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    with unit_of_work(session_factory) as session:
        run_service.create_run(session, SPEC, runs_dir=settings.runs_dir)
    return session_factory


def test_create_run_stores_the_spec_and_lays_out_artifacts(
    factory: Any, settings: Settings
) -> None:
    with factory() as session:
        run = run_service.get_run(session, "svc")
        assert (run.state, run.goal, run.max_minor_issues_total) == ("RUN_CREATED", "Ship it", 6)
        assert [t.tier_id for t in run.tiers] == ["T1", "Auth & Security"]
        assert [p.tier.tier_id for p in run.phases] == ["T1", "Auth & Security"]
        assert run_service.run_spec(run) == SPEC
    root = settings.runs_dir / "svc"
    assert {p.name for p in root.iterdir()} >= {"run_summary.md", "tiers", "phases", "issues"}
    assert "Ship it" in (root / "run_summary.md").read_text()
    assert (root / "phases" / "phase_01_F2.3.md").is_file()
    assert (root / "tiers" / "tier_01_Auth_Security.md").is_file()


def test_create_run_refuses_an_existing_id_and_leaves_it_alone(
    factory: Any, settings: Settings
) -> None:
    with pytest.raises(DuplicateError), unit_of_work(factory) as session:
        run_service.create_run(
            session, SPEC.model_copy(update={"goal": "other"}), runs_dir=settings.runs_dir
        )
    with factory() as session:
        assert run_service.get_run(session, "svc").goal == "Ship it"


def test_run_state_machine_stamps_times_and_reasons(factory: Any) -> None:
    with unit_of_work(factory) as session:
        run = run_service.get_run(session, "svc")
        run_service.set_run_state(session, run, RunState.PHASE_EXECUTION)
        assert run.started_at is not None and run.completed_at is None
        run.lease_owner = "worker-1"
        run_service.set_run_state(
            session, run, RunState.DONE_FAILED_BUDGET_EXHAUSTED, reason="token cap reached"
        )
        assert run.completed_at is not None
        assert run.failure_reason == "token cap reached"
        assert run.lease_owner is None
        with pytest.raises(IllegalTransition) as caught:
            run_service.set_run_state(session, run, RunState.PHASE_EXECUTION)
        assert caught.value.allowed == []
        assert "except through resume" in caught.value.message
        run_service.set_run_state(session, run, RunState.PHASE_EXECUTION, via="resume")
        assert (run.state, run.completed_at, run.failure_reason) == ("PHASE_EXECUTION", None, None)


def test_illegal_run_transition_lists_the_allowed_states(factory: Any) -> None:
    with unit_of_work(factory) as session:
        run = run_service.get_run(session, "svc")
        with pytest.raises(IllegalTransition) as caught:
            run_service.set_run_state(session, run, RunState.GATE)
        assert "PHASE_EXECUTION" in caught.value.allowed
        assert caught.value.context["run_id"] == "svc"
    with factory() as session:
        assert run_service.get_run(session, "svc").state == "RUN_CREATED"


def test_a_failed_phase_and_tier_are_retried(factory: Any) -> None:
    with unit_of_work(factory) as session:
        phase = phase_service.get_phase(session, "svc", "a")
        phase_service.set_phase_state(session, phase, PhaseState.FAILED, reason="red tests")
        assert phase.last_failure == "red tests" and phase.completed_at is not None
        with pytest.raises(IllegalTransition):
            phase_service.set_phase_state(session, phase, PhaseState.QUEUED)
        phase_service.set_phase_state(session, phase, PhaseState.QUEUED, via="retry")
        assert phase.state == "QUEUED"
        tier = phase.tier
        run_service.set_tier_state(session, tier, TierState.IN_PROGRESS)
        assert tier.started_at is not None
        run_service.set_tier_state(session, tier, TierState.FAILED)
        run_service.set_tier_state(session, tier, TierState.IN_PROGRESS, via="retry")
        assert tier.state == "IN_PROGRESS"


def test_a_queued_phase_receiving_a_verdict_passes_through_executing(factory: Any) -> None:
    with unit_of_work(factory) as session:
        phase = phase_service.get_phase(session, "svc", "a")
        phase_service.set_phase_state(session, phase, PhaseState.GATE)
        assert phase.state == "GATE" and phase.started_at is not None


def test_one_executor_holds_a_run_lease_until_it_expires(factory: Any) -> None:
    now = utcnow()
    with unit_of_work(factory) as session:
        run_service.acquire_lease(session, "svc", "host-a", seconds=60, now=now)
    with pytest.raises(LeaseHeld) as caught, unit_of_work(factory) as session:
        run_service.acquire_lease(
            session, "svc", "host-b", seconds=60, now=now + timedelta(seconds=30)
        )
    assert "host-a" in caught.value.message and "30s" in caught.value.message
    with unit_of_work(factory) as session:  # the owner renews
        run_service.acquire_lease(
            session, "svc", "host-a", seconds=60, now=now + timedelta(seconds=50)
        )
    with unit_of_work(factory) as session:  # expired: taken over
        run = run_service.acquire_lease(
            session, "svc", "host-b", seconds=60, now=now + timedelta(seconds=200)
        )
        assert run.lease_owner == "host-b"
    with unit_of_work(factory) as session:
        run_service.release_lease(session, "svc", "host-a")  # not the owner: no effect
        assert session.get(run_service.Run, "svc").lease_owner == "host-b"  # type: ignore[union-attr]
        run_service.release_lease(session, "svc", "host-b")
        assert session.get(run_service.Run, "svc").lease_owner is None  # type: ignore[union-attr]
    with pytest.raises(NotFoundError), unit_of_work(factory) as session:
        run_service.acquire_lease(session, "ghost", "host-a", seconds=60)


def test_cancel_ends_an_idle_run_and_flags_an_executing_one(
    factory: Any, settings: Settings
) -> None:
    with unit_of_work(factory) as session:
        run_service.create_run(
            session, SPEC.model_copy(update={"run_id": "busy"}), runs_dir=settings.runs_dir
        )
        run_service.acquire_lease(session, "busy", "worker", seconds=60)
    with unit_of_work(factory) as session:
        idle = run_service.request_cancel(session, "svc", actor="test")
        assert (idle.state, idle.failure_reason) == ("DONE_CANCELLED", "cancelled by request")
        busy = run_service.request_cancel(session, "busy", actor="test")
        assert (busy.state, busy.cancel_requested) == ("RUN_CREATED", True)
    with pytest.raises(IllegalTransition), unit_of_work(factory) as session:
        run_service.request_cancel(session, "svc", actor="test")


def test_attempts_are_numbered_per_role(factory: Any) -> None:
    ids = [
        phase_service.record_attempt(factory, "svc", "a", role=role, status="x", payload={"n": i})
        for i, role in enumerate(
            [AttemptRole.BUILDER, AttemptRole.AUDITOR, AttemptRole.BUILDER, AttemptRole.DOCTOR]
        )
    ]
    assert ids == sorted(ids)
    with factory() as session:
        phase = phase_service.get_phase(session, "svc", "a")
        assert [(a["role"], a["attempt_number"]) for a in phase_service.attempts_view(phase)] == [
            ("builder", 1),
            ("auditor", 1),
            ("builder", 2),
            ("doctor", 1),
        ]
        assert [a.payload for a in phase.attempts] == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]


def test_a_run_reads_its_own_and_the_project_wide_notes(factory: Any, tmp_path: Path) -> None:
    notes_file = tmp_path / "notes.md"
    with unit_of_work(factory) as session:
        notes.add_note(session, "for everyone", run_id=None, notes_file=notes_file, actor="test")
        notes.add_note(session, "for svc", run_id="svc", notes_file=notes_file, actor="test")
    with factory() as session:
        assert [n.note for n in notes.notes_for_run(session, "svc")] == ["for everyone", "for svc"]
        assert [n.note for n in notes.notes_for_run(session, "other")] == ["for everyone"]
    assert notes_file.read_text().count("---") == 2
