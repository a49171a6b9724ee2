"""Governance requests and approval expiry, end to end: scripted Builders on real git
repositories, the executor, the API and the policy in the repository's .autopack.yaml."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from executor_support import (
    auditor,
    builder,
    doctor,
    make_repo,
    mul_ops,
    op,
    phase,
    write_plan,
    write_script,
)
from fastapi.testclient import TestClient
from sqlalchemy import select

from autopack.api.app import create_app
from autopack.db.orm import Approval, DecisionLog, GovernanceRequest, Phase, PhaseAttempt
from autopack.db.orm import utcnow as orm_utcnow
from autopack.settings import Settings

PROJECT_YAML = """\
protected_paths:
  - config/
  - tests/golden/
governance:
  critical: [migrations/]
"""
LIMITS = "max = 10\n"
GOLDEN = "12\n"
SQL = "CREATE TABLE t (id INTEGER);\n"
PATHS = ["calc.py", "tests/", "config/", "migrations/"]


def governed_repo(root: Path) -> Path:
    return make_repo(
        root,
        {
            ".autopack.yaml": PROJECT_YAML,
            "config/limits.toml": LIMITS,
            "tests/golden/expected.txt": GOLDEN,
            "migrations/0001.sql": SQL,
        },
    )


def ask(*paths: str, reason: str = "the phase needs it") -> str:
    return json.dumps({"op": "request_access", "paths": list(paths), "reason": reason})


def builder_rows(harness: Any) -> list[PhaseAttempt]:
    with harness.db.factory() as session:
        return list(
            session.scalars(
                select(PhaseAttempt).where(PhaseAttempt.role == "builder").order_by(PhaseAttempt.id)
            ).all()
        )


def requests(harness: Any) -> list[GovernanceRequest]:
    with harness.db.factory() as session:
        return list(session.scalars(select(GovernanceRequest).order_by(GovernanceRequest.id)))


def api_client(settings: Settings, harness: Any, script: Path) -> TestClient:
    """The API on the harness's database, executing runs with the same scripted answers
    (a person decides there and the run continues on its pool)."""
    api_settings = settings.model_copy(update={"llm_provider": "scripted", "llm_script": script})
    return TestClient(create_app(api_settings, database=harness.db))


def test_a_builder_that_skips_asking_or_asks_for_a_critical_path_is_refused_and_tests_pass(
    sqlite_settings: Settings, tmp_path: Path, harness_factory: Callable[..., Any]
) -> None:
    repo = governed_repo(tmp_path)
    plan = write_plan(tmp_path / "plan.yaml", "gov-abuse", [phase("mul", paths=PATHS)])
    script = write_script(
        tmp_path / "s.jsonl",
        [
            # 1: asks for a path the project marks critical.
            builder(
                "mul",
                ask("migrations/0001.sql", reason="add a column"),
                *mul_ops(),
                op("append", "migrations/0001.sql", content="ALTER TABLE t ADD x;\n"),
            ),
            # 2: edits a protected file without asking.
            builder("mul", *mul_ops(), op("replace_file", "config/limits.toml", content="max=1\n")),
            # Two failed applies in a row: the Doctor is asked.
            doctor("mul", "leave migrations alone; ask for the golden file"),
            # 3: asks for a golden test file: low risk, approved by the policy.
            builder(
                "mul",
                ask("tests/golden/expected.txt", reason="mul's expected output"),
                *mul_ops(),
                op("replace_file", "tests/golden/expected.txt", content="12\n7\n"),
            ),
            auditor("mul"),
        ],
    )
    harness = harness_factory(sqlite_settings)
    outcome = harness.execute(harness.create(plan, repo), script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    worktree = Path(outcome.worktree or "")
    assert (worktree / "config/limits.toml").read_text() == LIMITS
    assert (worktree / "migrations/0001.sql").read_text() == SQL
    assert (worktree / "tests/golden/expected.txt").read_text() == "12\n7\n"

    attempts = builder_rows(harness)
    assert [a.apply_status for a in attempts] == [None, "rejected", "applied"]
    assert "governance refused" in attempts[0].payload["failure"]
    assert "the project marks it critical" in attempts[0].payload["failure"]
    # The Builder's next attempt is told why.
    assert any("the project marks it critical" in h for h in attempts[1].payload["hints"])
    assert "config/limits.toml" in attempts[1].payload["failure"]
    assert "is protected" in attempts[1].payload["failure"]

    rows = requests(harness)
    assert [(r.paths, r.risk, r.decision, r.decided_by) for r in rows] == [
        (["migrations/0001.sql"], "critical", "refused", "policy:governance"),
        (["tests/golden/expected.txt"], "low", "approved", "policy:governance"),
    ]
    assert rows[0].attempt_id == attempts[0].id and rows[1].attempt_id == attempts[2].id
    with harness.db.factory() as session:
        decisions = session.scalars(
            select(DecisionLog.decision).where(DecisionLog.actor == "policy:governance")
        ).all()
        assert decisions == ["governance_refused", "governance_approved"]
        assert session.scalars(select(Approval)).all() == []


def test_a_request_for_another_protected_file_waits_for_a_person_and_the_run_finishes(
    sqlite_settings: Settings, tmp_path: Path, harness_factory: Callable[..., Any]
) -> None:
    repo = governed_repo(tmp_path)
    plan = write_plan(tmp_path / "plan.yaml", "gov-person", [phase("mul", paths=PATHS)])
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder(
                "mul",
                ask("config/limits.toml", reason="mul needs a higher limit"),
                *mul_ops(),
                op("replace_file", "config/limits.toml", content="max = 100\n"),
            ),
            auditor("mul"),
        ],
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    outcome = harness.execute(run_id, script)

    assert outcome.state == "PHASE_EXECUTION"
    assert outcome.awaiting_approval == ["mul"]
    worktree = Path(outcome.worktree or "")
    assert (worktree / "config/limits.toml").read_text() == LIMITS  # nothing applied yet

    with api_client(sqlite_settings, harness, script) as client:
        pending = client.get("/approvals", params={"status": "pending"}).json()["approvals"]
        assert [(a["kind"], a["details"]["paths"]) for a in pending] == [
            ("governance", ["config/limits.toml"])
        ]
        assert "mul needs a higher limit" in pending[0]["reason"]
        shown = client.get(f"/runs/{run_id}/governance").json()["requests"]
        assert [(r["risk"], r["decision"]) for r in shown] == [("person", "pending")]
        page = client.get("/ui/approvals")
        assert "config/limits.toml" in page.text
        response = client.post(f"/approvals/{pending[0]['id']}/approve", json={"note": "ok"})
        assert response.status_code == 200, response.text
        client.app.state.executor_pool.wait(run_id, timeout=120)  # type: ignore[attr-defined]
        status = client.get(f"/runs/{run_id}/status").json()
        shown = client.get(f"/runs/{run_id}/governance").json()["requests"]
        phase_page = client.get(f"/ui/runs/{run_id}/phases/mul")

    assert status["state"] == "DONE_SUCCESS", status["failure_reason"]
    assert (worktree / "config/limits.toml").read_text() == "max = 100\n"
    assert [(r["decision"], r["decided_by"]) for r in shown] == [("approved", "local")]
    assert phase_page.status_code == 200
    assert "config/limits.toml" in phase_page.text and "approved" in phase_page.text
    [row] = requests(harness)
    assert (row.risk, row.decision, row.decided_by) == ("person", "approved", "local")
    assert len(builder_rows(harness)) == 1  # the same attempt, applied after the approval


def test_a_rejected_request_sends_the_builder_back_told_why(
    sqlite_settings: Settings, tmp_path: Path, harness_factory: Callable[..., Any]
) -> None:
    repo = governed_repo(tmp_path)
    plan = write_plan(tmp_path / "plan.yaml", "gov-reject", [phase("mul", paths=PATHS)])
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder(
                "mul",
                ask("config/limits.toml"),
                *mul_ops(),
                op("replace_file", "config/limits.toml", content="max = 100\n"),
            ),
            builder("mul", *mul_ops()),
            auditor("mul"),
        ],
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    assert harness.execute(run_id, script).awaiting_approval == ["mul"]
    with api_client(sqlite_settings, harness, script) as client:
        [pending] = client.get("/approvals", params={"status": "pending"}).json()["approvals"]
        response = client.post(
            f"/approvals/{pending['id']}/reject", json={"note": "keep the limit at 10"}
        )
        assert response.status_code == 200, response.text
        client.app.state.executor_pool.wait(run_id, timeout=120)  # type: ignore[attr-defined]
        status = client.get(f"/runs/{run_id}/status").json()

    assert status["state"] == "DONE_SUCCESS", status["failure_reason"]
    first, second = builder_rows(harness)
    assert "keep the limit at 10" in first.payload["failure"]
    assert any("keep the limit at 10" in h for h in second.payload["hints"])
    [row] = requests(harness)
    assert (row.decision, row.decided_by) == ("rejected", "local")


def _expiring_run(
    tmp_path: Path, harness: Any, run_id: str, on_expiry: str, second: list[dict[str, Any]]
) -> tuple[str, Path]:
    repo = governed_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        run_id,
        [phase("mul", paths=PATHS)],
        approvals={"expire_after_minutes": 30, "on_expiry": on_expiry},
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder(
                "mul",
                ask("config/limits.toml"),
                *mul_ops(),
                op("replace_file", "config/limits.toml", content="max = 100\n"),
            ),
            *second,
        ],
    )
    return harness.create(plan, repo), script


def later(minutes: int) -> Callable[[], datetime]:
    return lambda: orm_utcnow() + timedelta(minutes=minutes)


def test_an_expired_approval_counts_as_a_rejection_and_the_builder_is_told(
    sqlite_settings: Settings, tmp_path: Path, harness_factory: Callable[..., Any]
) -> None:
    harness = harness_factory(sqlite_settings)
    run_id, script = _expiring_run(
        tmp_path, harness, "exp-reject", "reject", [builder("mul", *mul_ops()), auditor("mul")]
    )
    assert harness.execute(run_id, script).awaiting_approval == ["mul"]
    # Not yet due: still waiting.
    assert harness.execute(run_id, script, clock=later(10)).awaiting_approval == ["mul"]

    outcome = harness.execute(run_id, script, clock=later(31))

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert (Path(outcome.worktree or "") / "config/limits.toml").read_text() == LIMITS
    with harness.db.factory() as session:
        approval = session.scalars(select(Approval)).one()
        assert (approval.status, approval.decided_by) == ("expired", "policy:expiry")
        assert "nobody decided within 30 minutes" in approval.decision_note
        log = session.scalars(select(DecisionLog).where(DecisionLog.actor == "policy:expiry")).one()
        assert log.decision == "approval_expired"
    attempts = builder_rows(harness)
    assert "expired" in attempts[0].payload["failure"]
    assert any("counts as a rejection" in h for h in attempts[1].payload["hints"])
    assert [(r.decision, r.decided_by) for r in requests(harness)] == [("expired", "policy:expiry")]


def test_an_expired_approval_fails_the_phase_when_the_plan_says_so(
    sqlite_settings: Settings, tmp_path: Path, harness_factory: Callable[..., Any]
) -> None:
    harness = harness_factory(sqlite_settings)
    run_id, script = _expiring_run(tmp_path, harness, "exp-fail", "fail_phase", [])
    assert harness.execute(run_id, script).awaiting_approval == ["mul"]

    outcome = harness.execute(run_id, script, clock=later(45))

    assert outcome.state == "DONE_FAILED_REQUIRES_HUMAN_REVIEW"
    assert "expired" in (outcome.failure_reason or "")
    assert "fails the phase" in (outcome.failure_reason or "")
    with harness.db.factory() as session:
        mul = session.scalars(select(Phase)).one()
        assert mul.state == "FAILED" and "expired" in (mul.last_failure or "")
        assert session.scalars(select(Approval.status)).one() == "expired"


def test_a_governance_approval_does_not_lift_the_deletion_guard(
    sqlite_settings: Settings, tmp_path: Path, harness_factory: Callable[..., Any]
) -> None:
    """A Builder that asks for a protected file and, in the same answer, deletes a large
    file: a person's yes to the request grants that file, not the deletion, which still
    waits for its own approval."""
    legacy = "".join(f"def old_{i}() -> int:\n    return {i}\n\n\n" for i in range(80))
    repo = make_repo(
        tmp_path,
        {".autopack.yaml": PROJECT_YAML, "config/limits.toml": LIMITS, "legacy.py": legacy},
    )
    plan = write_plan(
        tmp_path / "plan.yaml", "gov-delete", [phase("mul", paths=[*PATHS, "legacy.py"])]
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder(
                "mul",
                ask("config/limits.toml", reason="mul needs a higher limit"),
                *mul_ops(),
                op("replace_file", "config/limits.toml", content="max = 100\n"),
                op("delete", "legacy.py"),
            ),
            auditor("mul"),
        ],
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    outcome = harness.execute(run_id, script)
    assert outcome.awaiting_approval == ["mul"]
    worktree = Path(outcome.worktree or "")

    with api_client(sqlite_settings, harness, script) as client:
        for _ in range(3):  # approve what governance asks, and only that
            pending = client.get("/approvals", params={"status": "pending"}).json()["approvals"]
            asked = [a for a in pending if a["kind"] == "governance"]
            if not asked:
                break
            response = client.post(f"/approvals/{asked[0]['id']}/approve", json={"note": "ok"})
            assert response.status_code == 200, response.text
            client.app.state.executor_pool.wait(run_id, timeout=120)  # type: ignore[attr-defined]
        pending = client.get("/approvals", params={"status": "pending"}).json()["approvals"]
        status = client.get(f"/runs/{run_id}/status").json()

    assert [a["kind"] for a in pending] == ["large_deletion"]
    assert status["state"] != "DONE_SUCCESS"
    assert (worktree / "legacy.py").read_text() == legacy
