"""The run's intention anchor end to end: stored with the run, in every agent's prompt,
and each completed phase checked against it (advisory: recorded; blocking: the phase
fails, saying why)."""

from __future__ import annotations

import json
from pathlib import Path

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

from autopack.db.orm import DecisionLog, Run
from autopack.settings import Settings


def drift_decisions(harness, run_id: str) -> list[DecisionLog]:  # type: ignore[no-untyped-def]
    with harness.db.factory() as session:
        rows = session.scalars(
            select(DecisionLog).where(
                DecisionLog.run_id == run_id, DecisionLog.decision == "intention_drift"
            )
        ).all()
        session.expunge_all()
        return list(rows)


def test_the_anchor_reaches_every_prompt_and_an_on_topic_phase_passes(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "anchored",
        [phase("mul", paths=["calc.py", "tests/"], deliverables=["calc.py::mul"])],
        goal="Teach the calculator to multiply",
        protected_paths=["pyproject.toml"],
    )
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    with harness.db.factory() as session:
        run = session.get(Run, run_id)
        assert run is not None
        anchor = run.intention
    assert anchor.startswith("Goal: Teach the calculator to multiply")
    assert "Never change: pyproject.toml" in anchor and "calc.py::mul" in anchor
    artifacts = sqlite_settings.runs_dir / run_id
    assert anchor in (artifacts / "intention.md").read_text()

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    calls = [json.loads(x) for x in (artifacts / "trajectory.jsonl").read_text().splitlines()]
    assert [c["role"] for c in calls] == ["builder", "auditor"]
    assert all(anchor in c["messages"][1]["content"] for c in calls)
    (decision,) = drift_decisions(harness, run_id)
    assert decision.details["method"] == "lexical" and decision.details["mode"] == "advisory"
    assert decision.details["score"] >= 0.2 and decision.details["drifted"] is False
    assert "in line with the run's intention" in decision.rationale


def test_blocking_drift_fails_an_off_topic_phase_and_says_why(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "drifting",
        [phase("mul", paths=["calc.py", "tests/", "notes/"], max_builder_attempts=1)],
        goal="Teach the calculator to multiply",
        drift="blocking",
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder(
                "mul",
                op("create", "notes/invoice_email.md", content="# Invoice email wording\n"),
            ),
            auditor("mul", notes="reworked invoice email templates for customers"),
        ],
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state.startswith("DONE_FAILED"), outcome.state
    (result,) = outcome.phases
    assert result.state == "FAILED"
    assert "drifted from the run's intention" in (result.last_failure or "")
    assert "drift: blocking" in (result.last_failure or "")
    (decision,) = drift_decisions(harness, run_id)
    assert decision.details["blocking"] is True
    assert decision.details["score"] < decision.details["threshold"] == 0.2
    # Nothing of the off-topic change is on the run's branch.
    assert git(repo, "log", "--format=%s", "main..autopack/drifting").strip() == ""
