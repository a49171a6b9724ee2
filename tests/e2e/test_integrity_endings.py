"""How runs end when a reviewer is missing or a recovery step fails: a Doctor whose own
call fails, a plan with no Auditor, a safety_critical run. No verdict is stored that no
reviewer gave, and no phase of a finished run is left mid-flight."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from executor_support import (
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

from autopack.db.orm import Approval, PhaseAttempt
from autopack.db.session import unit_of_work
from autopack.services import approvals as approval_service
from autopack.settings import Settings

BROKEN_ADD = op("search_replace", "calc.py", old="return a + b", new="return a - b")


def _pending(harness, run_id: str) -> list[Approval]:  # type: ignore[no-untyped-def]
    with harness.db.factory() as session:
        return list(
            session.scalars(
                select(Approval).where(Approval.run_id == run_id, Approval.status == "pending")
            )
        )


def _approve_all(harness, run_id: str) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(harness.db.factory) as session:
        for approval in approval_service.list_approvals(session, run_id=run_id):
            if approval.status == "pending":
                approval_service.decide(session, approval.id, approve=True, by="reviewer")


def test_a_failing_doctor_call_keeps_its_cause_and_leaves_no_phase_executing(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml", "doctor-down", [phase("fix", paths=["calc.py", "tests/"])]
    )
    # No Doctor line: the Doctor's call fails (the scripted provider has no answer for it).
    script = write_script(tmp_path / "s.jsonl", [builder("fix", BROKEN_ADD)])
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_FAILED_ENVIRONMENT"
    assert outcome.failure_reason is not None
    assert "1 new failure(s)" in outcome.failure_reason
    assert "the Doctor's call failed: scripted: no unused line" in outcome.failure_reason
    assert "role 'doctor'" in outcome.failure_reason
    assert [p.state for p in outcome.phases] == ["FAILED"]
    errors = Path(outcome.artifacts) / "errors"
    reports = [json.loads(p.read_text()) for p in sorted(errors.glob("*.json"))]
    assert any(r.get("component") == "doctor" for r in reports), reports


def test_no_auditor_in_the_plan_means_a_person_reviews(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "no-auditor",
        [phase("mul", paths=["calc.py", "tests/"], max_auditor_attempts=0)],
    )
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops())])
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.awaiting_approval == ["mul"]
    [pending] = _pending(harness, run_id)
    assert pending.kind == "human_review"
    assert "max_auditor_attempts: 0" in pending.reason
    with harness.db.factory() as session:
        [row] = session.scalars(select(PhaseAttempt).where(PhaseAttempt.run_id == run_id))
        assert row.payload["verdict"] is None  # no reviewer, no stored approval
    assert "def mul" not in git(repo, "show", f"autopack/{run_id}:calc.py")

    _approve_all(harness, run_id)
    assert harness.execute(run_id, script).state == "DONE_SUCCESS"
    assert "def mul" in git(repo, "show", f"autopack/{run_id}:calc.py")


def test_a_safety_critical_run_waits_for_a_person_after_the_auditor_approves(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "critical",
        [phase("mul", paths=["calc.py", "tests/"])],
        safety_profile="safety_critical",
    )
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "PHASE_EXECUTION" and outcome.awaiting_approval == ["mul"]
    [pending] = _pending(harness, run_id)
    assert pending.kind == "human_review"
    assert pending.details["auditor_notes"] == "looks right"
    assert "def mul" not in git(repo, "show", f"autopack/{run_id}:calc.py")

    _approve_all(harness, run_id)
    outcome = harness.execute(run_id, script)
    assert outcome.state == "DONE_SUCCESS"
    assert "def mul" in git(repo, "show", f"autopack/{run_id}:calc.py")


def test_a_person_rejecting_a_held_attempt_sends_the_phase_back_to_the_builder(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "critical-reject",
        [phase("mul", paths=["calc.py", "tests/"])],
        safety_profile="safety_critical",
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [builder("mul", *mul_ops()), auditor("mul"), builder("mul", *mul_ops()), auditor("mul")],
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    harness.execute(run_id, script)
    [first] = _pending(harness, run_id)
    with unit_of_work(harness.db.factory) as session:
        approval_service.decide(
            session, first.id, approve=False, by="reviewer", note="name the test test_mul_ints"
        )

    outcome = harness.execute(run_id, script)

    assert outcome.awaiting_approval == ["mul"]  # the second attempt waits for a person too
    assert outcome.phases[0].builder_attempts == 2
    with harness.db.factory() as session:
        rows = list(
            session.scalars(
                select(PhaseAttempt)
                .where(PhaseAttempt.run_id == run_id, PhaseAttempt.role == "builder")
                .order_by(PhaseAttempt.id)
            )
        )
    assert rows[0].payload["stage"] == "failed"
    assert "a person rejected the change" in rows[0].payload["failure"]
    assert any("name the test test_mul_ints" in h for h in rows[1].payload["hints"])
    assert "def mul" not in git(repo, "show", f"autopack/{run_id}:calc.py")
    _approve_all(harness, run_id)
    assert harness.execute(run_id, script).state == "DONE_SUCCESS"


@pytest.mark.parametrize("profile", ["normal", "safety_critical"])
def test_safety_critical_asks_before_smaller_deletions(
    sqlite_settings: Settings, tmp_path: Path, harness_factory, profile: str
) -> None:
    legacy = "".join(f"VALUE_{i} = {i}\n" for i in range(60))  # under 200, over 50 lines
    repo = make_repo(tmp_path, {"legacy.py": legacy})
    plan = write_plan(
        tmp_path / "plan.yaml",
        f"delete-{profile}",
        [phase("drop", paths=["legacy.py"])],
        safety_profile=profile,
    )
    script = write_script(
        tmp_path / "s.jsonl", [builder("drop", op("delete", "legacy.py")), auditor("drop")]
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    if profile == "normal":
        assert outcome.state == "DONE_SUCCESS"
    else:
        assert outcome.awaiting_approval == ["drop"]
        assert [a.kind for a in _pending(harness, run_id)] == ["large_deletion"]
