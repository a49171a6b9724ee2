"""Review findings on the executor: resume after a kill at awkward points, approvals,
budgets, leases and runs whose rows are in odd states."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from executor_support import (
    LEGACY_300,
    auditor,
    builder,
    git,
    make_repo,
    mul_ops,
    op,
    phase,
    write_plan,
    write_script,
)
from sqlalchemy import select

from autopack.db.orm import Approval, Phase, PhaseAttempt, Run, Tier, utcnow
from autopack.db.session import unit_of_work
from autopack.executor import loop as executor_loop
from autopack.executor.phase import PhaseExecution
from autopack.services import approvals as approval_service
from autopack.settings import Settings
from autopack.workspace.git_lib import LibRepo


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the executor handles it."""


def _one_phase_run(tmp_path: Path, run_id: str, **plan_extra: object) -> tuple[Path, Path]:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml", run_id, [phase("mul", paths=["calc.py", "tests/"])], **plan_extra
    )
    return repo, plan


def _large_deletion_run(
    tmp_path: Path, run_id: str, *answers: dict[str, Any], **plan_extra: object
) -> tuple[Path, Path, Path]:
    """A repository with a 300-line legacy.py, a plan whose phase may change it, and a
    script whose first Builder answer deletes it (a large deletion: it waits for a
    person), then ``answers``."""
    repo = make_repo(tmp_path, {"legacy.py": LEGACY_300})
    plan = write_plan(
        tmp_path / "plan.yaml",
        run_id,
        [phase("mul", paths=["calc.py", "tests/", "legacy.py"])],
        **plan_extra,
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [builder("mul", op("delete", "legacy.py"), *mul_ops()), *answers],
    )
    return repo, plan, script


def _builder_rows(harness, run_id: str) -> list[PhaseAttempt]:  # type: ignore[no-untyped-def]
    with harness.db.factory() as session:
        return list(
            session.scalars(
                select(PhaseAttempt)
                .where(PhaseAttempt.run_id == run_id, PhaseAttempt.role == "builder")
                .order_by(PhaseAttempt.id)
            )
        )


# -- a kill after the attempt is done, before or during the squash ---------------------
@pytest.mark.parametrize("where", ["before_squash", "mid_squash"])
def test_kill_around_the_squash_resumes_without_a_second_builder_call(
    sqlite_settings: Settings,
    tmp_path: Path,
    harness_factory,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    repo, plan = _one_phase_run(tmp_path, f"squash-{where}")
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)

    if where == "before_squash":
        original = PhaseExecution._complete

        def killed_complete(self, session, phase, *, commit):  # type: ignore[no-untyped-def]
            monkeypatch.setattr(PhaseExecution, "_complete", original)
            raise Killed

        monkeypatch.setattr(PhaseExecution, "_complete", killed_complete)
    else:
        original_squash = LibRepo.squash

        def killed_squash(self, tree, base, message):  # type: ignore[no-untyped-def]
            # Everything staged in the index, the branch not moved yet.
            monkeypatch.setattr(LibRepo, "squash", original_squash)
            raise Killed

        monkeypatch.setattr(LibRepo, "squash", killed_squash)

    with pytest.raises(Killed):
        harness.execute(run_id, script)
    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert outcome.phases[0].builder_attempts == 1
    assert len(_builder_rows(harness, run_id)) == 1
    assert git(repo, "log", "--format=%s", f"main..autopack/{run_id}").splitlines() == [
        "mul: Phase mul"
    ]
    assert "return a * b" in git(repo, "show", f"autopack/{run_id}:calc.py")


# -- a person rejects a large deletion the executor parked ---------------------------
def test_rejected_large_deletion_sends_the_phase_back_to_the_builder(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo, plan, script = _large_deletion_run(
        tmp_path, "rej-run", builder("mul", *mul_ops()), auditor("mul")
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    assert harness.execute(run_id, script).awaiting_approval == ["mul"]
    with unit_of_work(harness.db.factory) as session:
        pending = approval_service.list_approvals(session, run_id=run_id)
        approval_service.decide(
            session, pending[0].id, approve=False, by="alice", note="keep legacy.py"
        )

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    with harness.db.factory() as session:
        approvals = session.scalars(select(Approval)).all()
        assert [a.status for a in approvals] == ["rejected"]  # not parked a second time
    rows = _builder_rows(harness, run_id)
    assert [r.payload["stage"] for r in rows] == ["failed", "done"]
    assert "keep legacy.py" in rows[1].payload["hints"][-1]  # the Builder was told why
    assert (Path(outcome.worktree or "") / "legacy.py").exists()


# -- a failed phase retried on resume is not a new phase -----------------------------
def test_resumed_failed_phase_does_not_count_again_against_max_phases(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "maxp-run",
        [phase("mul", paths=["calc.py", "tests/"], budgets={"max_builder_attempts": 1})],
        budgets={"max_phases": 1},
    )
    outside = op("create", "setup.cfg", content="[x]\n")
    script = write_script(
        tmp_path / "s.jsonl",
        [builder("mul", outside), builder("mul", *mul_ops()), auditor("mul")],
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    first = harness.execute(run_id, script)
    assert first.state == "DONE_FAILED_REQUIRES_HUMAN_REVIEW", first.failure_reason

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason


# -- a kill between "tier FAILED" and "run ended" leaves odd rows --------------------
def test_run_with_a_failed_phase_but_not_ended_resumes(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo, plan = _one_phase_run(tmp_path, "odd-run")
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    with unit_of_work(harness.db.factory) as session:  # as a kill in _run_tier leaves it
        run = session.get(Run, run_id)
        assert run is not None
        run.state = "PHASE_EXECUTION"
        for tier in session.scalars(select(Tier).where(Tier.run_id == run_id)):
            tier.state = "FAILED"
        for row in session.scalars(select(Phase).where(Phase.run_id == run_id)):
            row.state = "FAILED"
            row.last_failure = "the Doctor marked it fatal"

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason


# -- time spent waiting for a person is not execution time ---------------------------
def test_time_parked_for_approval_does_not_spend_the_duration_budget(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo, plan, script = _large_deletion_run(
        tmp_path, "dur-run", auditor("mul"), budgets={"max_duration_minutes": 60}
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    assert harness.execute(run_id, script).awaiting_approval == ["mul"]
    with unit_of_work(harness.db.factory) as session:  # the person answers the next day
        run = session.get(Run, run_id)
        assert run is not None and run.started_at is not None
        day = timedelta(days=1)
        run.started_at -= day
        approval = session.scalars(select(Approval)).one()
        approval.requested_at -= day
        approval_service.decide(session, approval.id, approve=True, by="alice")

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason


# -- another executor took the lease over ---------------------------------------------
def test_executor_that_lost_its_lease_stops_without_touching_the_run(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo, plan = _one_phase_run(tmp_path, "lost-run")
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    other = "elsewhere:1:takeover"

    def take_over_when_applied(event: str, **data: object) -> None:
        harness.events.append((event, dict(data)))
        if event == "applied":  # our lease expired meanwhile; another executor took it
            with harness.db.factory.begin() as session:
                run = session.get(Run, run_id)
                assert run is not None
                run.lease_owner = other
                run.lease_expires_at = utcnow() + timedelta(minutes=10)

    harness._record = take_over_when_applied  # type: ignore[method-assign]
    outcome = harness.execute(run_id, script)

    assert outcome.state == "PHASE_EXECUTION"  # the other executor carries on
    events = [name for name, _ in harness.events]
    assert "verify" not in events and "auditor" not in events
    with harness.db.factory() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.lease_owner == other


# -- an unusable Builder answer uses a Builder attempt and is kept -------------------
def test_unparseable_builder_answers_use_builder_attempts_and_are_stored(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "garbage-run",
        [phase("mul", paths=["calc.py", "tests/"], budgets={"max_builder_attempts": 2})],
    )
    garbage = [{**builder("mul"), "content": f"I cannot do that, sorry ({i})."} for i in range(12)]
    script = write_script(tmp_path / "s.jsonl", garbage)
    harness = harness_factory(sqlite_settings)

    outcome = harness.execute(harness.create(plan, repo), script)

    assert outcome.state == "DONE_FAILED_REQUIRES_HUMAN_REVIEW", outcome.failure_reason
    assert outcome.phases[0].builder_attempts == 2
    rows = _builder_rows(harness, "garbage-run")
    assert [r.payload["stage"] for r in rows] == ["failed", "failed"]
    assert "I cannot do that" in rows[0].payload["text"]


def test_max_builder_attempts_allows_that_many_attempts(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "two-run",
        [phase("mul", paths=["calc.py", "tests/"], budgets={"max_builder_attempts": 2})],
    )
    outside = op("create", "setup.cfg", content="[x]\n")
    script = write_script(
        tmp_path / "s.jsonl",
        [builder("mul", outside), builder("mul", *mul_ops()), auditor("mul")],
    )
    harness = harness_factory(sqlite_settings)

    outcome = harness.execute(harness.create(plan, repo), script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert outcome.phases[0].builder_attempts == 2


# -- a person decides while the executor is still parking ----------------------------
def test_a_decision_made_while_the_run_parks_is_not_lost(
    sqlite_settings: Settings, tmp_path: Path, harness_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard leaves a run it sees executing to its executor: one that parks while
    the person decides must continue itself instead of waiting for nobody."""
    repo, plan, script = _large_deletion_run(
        tmp_path, "race-run", builder("mul", *mul_ops()), auditor("mul")
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    original = executor_loop._RunExecution._summary
    decided: list[int] = []

    def summary_then_decide(self: Any) -> None:
        original(self)
        with unit_of_work(harness.db.factory) as session:
            pending = approval_service.list_approvals(session, run_id=run_id)
            for approval in pending:
                if approval.status == "pending":
                    approval_service.decide(session, approval.id, approve=False, by="alice")
                    decided.append(approval.id)

    monkeypatch.setattr(executor_loop._RunExecution, "_summary", summary_then_decide)

    outcome = harness.execute(run_id, script)

    assert decided and outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert (Path(outcome.worktree or "") / "legacy.py").exists()
