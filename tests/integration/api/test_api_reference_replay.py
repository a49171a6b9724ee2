"""Replay the original API's payloads: the RunStartRequest and the BuilderResult whose
submission once answered 500 and lost the Builder's work. Now the attempt is stored first,
whatever happens after, and shows in the run summary."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from autopack.db.orm import PhaseAttempt
from autopack.errors import ApplyRejected
from autopack.settings import Settings

RUN = "fileorg-phase2-beta"
PHASE = "fileorg-p2-test-fixes"
RESULT_URL = f"/runs/{RUN}/phases/{PHASE}/builder_result"


def test_run_start_then_builder_result_are_stored_and_summarized(
    client: TestClient, reference: dict[str, Any], settings: Settings, in_db: Any
) -> None:
    started = client.post("/runs/start", json=reference["run_start"])
    assert started.status_code == 201, started.text
    run = started.json()
    assert run["id"] == run["run_id"] == RUN
    assert run["state"] == "RUN_CREATED"
    assert [(t["tier_id"], [p["phase_id"] for p in t["phases"]]) for t in run["tiers"]] == [
        ("T1", [PHASE, "fileorg-p2-docker"]),
        ("Auth & Security", ["F2.3"]),
    ]
    assert [p["phase_id"] for p in run["phases"]] == [PHASE, "fileorg-p2-docker", "F2.3"]
    assert run["phases"][2]["complexity"] == "high"
    assert run["phases"][1]["builder_mode"] is None
    assert run["max_minor_issues_total"] == 9

    result = client.post(RESULT_URL, json=reference["builder_result"])
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["phase_state"] == "COMPLETE"
    assert body["attempt_id"] >= 1

    summary = client.get(f"/reports/run_summary/{RUN}")
    assert summary.status_code == 200
    data = summary.json()
    phase = next(p for p in data["phases"] if p["phase_id"] == PHASE)
    assert phase["state"] == "COMPLETE"
    assert phase["builder_attempts"] == 1
    assert phase["tokens_used"] == 4210
    assert [(a["id"], a["role"], a["status"], a["tokens_used"]) for a in phase["attempts"]] == [
        (body["attempt_id"], "builder", "success", 4210)
    ]
    assert data["budgets"]["tokens_used"] == 4210
    assert data["issues"] == {
        "minor_count": 1,
        "major_count": 0,
        "max_minor_total": 9,
        "distinct_issues": 1,
    }

    # The whole payload is kept, not a digest of it.
    with in_db() as session:
        attempt = session.scalars(select(PhaseAttempt)).one()
        assert attempt.payload == {**reference["builder_result"]}

    # Artifacts are in the data dir, never in the working directory.
    root = settings.runs_dir / RUN
    assert (root / "run_summary.md").is_file()
    assert sorted(p.name for p in (root / "phases").iterdir()) == [
        "phase_00_fileorg-p2-test-fixes.md",
        "phase_01_fileorg-p2-docker.md",
        "phase_02_F2.3.md",
    ]
    assert len(list((root / "tiers").iterdir())) == 2


def test_the_auditor_payloads_replay(client: TestClient, reference: dict[str, Any]) -> None:
    assert client.post("/runs/start", json=reference["run_start"]).status_code == 201
    request = {
        "phase_id": "F2.3",
        "run_id": RUN,
        "tier_id": "Auth & Security",
        "builder_result": None,
        "failure_context": "",
        "review_focus": "security",
        "auditor_profile": None,
    }
    asked = client.post(f"/runs/{RUN}/phases/F2.3/auditor_request", json=request)
    assert asked.status_code == 200, asked.text
    assert asked.json()["phase_state"] == "GATE"
    assert asked.json()["review_focus"] == "security"

    verdict = client.post(
        f"/runs/{RUN}/phases/F2.3/auditor_result", json=reference["auditor_result"]
    )
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["phase_state"] == "COMPLETE"
    assert verdict.json()["recommendation"] == "approve"
    assert verdict.json()["patches_applied"] == 0
    index = client.get(f"/runs/{RUN}/issues/index").json()["issues_by_key"]
    assert index["jwks-cache-ttl"]["tier_ids"] == ["Auth & Security"]
    phase = next(
        p
        for p in client.get(f"/reports/run_summary/{RUN}").json()["phases"]
        if p["phase_id"] == "F2.3"
    )
    assert [a["role"] for a in phase["attempts"]] == ["auditor"]
    assert phase["auditor_attempts"] == 1


def test_a_rejected_patch_is_a_422_and_the_attempt_is_kept(
    client: TestClient, reference: dict[str, Any], problem: Any, in_db: Any
) -> None:
    def reject(session: Any, phase: Any, patch: str, message: str) -> dict[str, Any]:
        raise ApplyRejected(
            "the patch touches a protected path", failures=[{"path": ".env", "reason": "protected"}]
        )

    client.app.state.apply_hook = reject  # type: ignore[attr-defined]
    assert client.post("/runs/start", json=reference["run_start"]).status_code == 201
    body = problem(client.post(RESULT_URL, json=reference["builder_result"]), 422, "apply_rejected")
    assert body["failures"] == [{"path": ".env", "reason": "protected"}]
    assert body["attempt_id"] >= 1
    with in_db() as session:
        attempt = session.get(PhaseAttempt, body["attempt_id"])
        assert attempt is not None
        assert attempt.apply_status == "rejected"
        assert attempt.payload["patch_content"] == reference["builder_result"]["patch_content"]
    phase = client.get(f"/runs/{RUN}").json()["phases"][0]
    assert phase["state"] == "QUEUED"  # nothing changed but the stored attempt


def test_an_unexpected_failure_after_storing_loses_nothing(
    client: TestClient, reference: dict[str, Any], problem: Any, in_db: Any
) -> None:
    """The original incident: a crash while applying. Now a 500 that names the request,
    and the Builder's result is in the database."""

    def crash(session: Any, phase: Any, patch: str, message: str) -> dict[str, Any]:
        raise RuntimeError("git exploded")

    client.app.state.apply_hook = crash  # type: ignore[attr-defined]
    assert client.post("/runs/start", json=reference["run_start"]).status_code == 201
    body = problem(client.post(RESULT_URL, json=reference["builder_result"]), 500, "internal_error")
    assert "git exploded" not in body["detail"]  # no internals leak out
    with in_db() as session:
        attempts = session.scalars(select(PhaseAttempt)).all()
        assert [(a.role, a.status) for a in attempts] == [("builder", "success")]


def test_an_applied_patch_records_its_commit(client: TestClient, reference: dict[str, Any]) -> None:
    def apply(session: Any, phase: Any, patch: str, message: str) -> dict[str, Any]:
        assert message.startswith(f"[Builder] {PHASE}: Fixed save_report")
        return {
            "applied": True,
            "no_op": False,
            "requires_approval": False,
            "commit_sha": "abc1234",
        }

    client.app.state.apply_hook = apply  # type: ignore[attr-defined]
    assert client.post("/runs/start", json=reference["run_start"]).status_code == 201
    response = client.post(RESULT_URL, json=reference["builder_result"])
    assert response.status_code == 200, response.text
    assert response.json()["commit_sha"] == "abc1234"
    assert response.json()["apply"]["applied"] is True
    phase = client.get(f"/runs/{RUN}").json()["phases"][0]
    assert phase["commit_sha"] == "abc1234"
    attempts = client.get(f"/reports/run_summary/{RUN}").json()["phases"][0]["attempts"]
    assert attempts[0]["apply_status"] == "applied"


def test_a_large_deletion_waits_for_approval(client: TestClient, reference: dict[str, Any]) -> None:
    def apply(session: Any, phase: Any, patch: str, message: str) -> dict[str, Any]:
        return {"applied": False, "no_op": False, "requires_approval": True, "commit_sha": None}

    client.app.state.apply_hook = apply  # type: ignore[attr-defined]
    assert client.post("/runs/start", json=reference["run_start"]).status_code == 201
    response = client.post(RESULT_URL, json=reference["builder_result"])
    assert response.status_code == 200, response.text
    assert response.json()["phase_state"] == "AWAITING_APPROVAL"
    status = client.get(f"/dashboard/runs/{RUN}/status").json()
    assert f"Phase {PHASE} is waiting for approval" in status["quality_warnings"]
