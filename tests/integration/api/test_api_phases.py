"""Phases: status updates through the state machine, Builder and Auditor results, issues."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def result(status: str, **extra: Any) -> dict[str, Any]:
    return {"run_id": "r", "phase_id": "p", "status": status, **extra}


def verdict(recommendation: str, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": "r",
        "phase_id": "p",
        "review_notes": "looked at it",
        "recommendation": recommendation,
        **extra,
    }


@pytest.fixture
def run(client: TestClient, make_run: Any) -> dict[str, Any]:
    return make_run("r", "p", "q")


def phase(client: TestClient, phase_id: str = "p") -> dict[str, Any]:
    phases = client.get("/runs/r").json()["phases"]
    found: dict[str, Any] = next(p for p in phases if p["phase_id"] == phase_id)
    return found


def test_update_status_moves_the_phase_and_its_counters(client: TestClient, run: Any) -> None:
    response = client.post(
        "/runs/r/phases/p/update_status",
        json={
            "state": "EXECUTING",
            "builder_attempts": 2,
            "tokens_used": 500,
            "quality_level": "needs_review",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Phase p updated to state EXECUTING"
    assert (
        body["phase"]["state"],
        body["phase"]["builder_attempts"],
        body["phase"]["tokens_used"],
    ) == ("EXECUTING", 2, 500)
    # Tokens count on the tier and the run too.
    assert client.get("/runs/r").json()["tokens_used"] == 500
    assert client.get("/metrics/tiers/r").json()["tiers"][0]["tokens_used"] == 500
    assert (
        "Phase p needs human review"
        in client.get("/dashboard/runs/r/status").json()["quality_warnings"]
    )


def test_an_illegal_transition_is_409_listing_the_allowed_states(
    client: TestClient, run: Any, problem: Any
) -> None:
    client.post("/runs/r/phases/p/update_status", json={"state": "EXECUTING"})
    body = problem(
        client.post("/runs/r/phases/p/update_status", json={"state": "QUEUED"}),
        409,
        "illegal_transition",
    )
    assert body["current"] == "EXECUTING" and body["requested"] == "QUEUED"
    assert body["allowed"] == [
        "GATE",
        "CI_RUNNING",
        "AWAITING_APPROVAL",
        "COMPLETE",
        "FAILED",
        "SKIPPED",
    ]
    assert "allowed next states" in body["detail"]
    assert phase(client)["state"] == "EXECUTING"  # nothing was written


def test_a_terminal_phase_does_not_move(client: TestClient, run: Any, problem: Any) -> None:
    client.post("/runs/r/phases/p/update_status", json={"state": "SKIPPED"})
    body = problem(
        client.post("/runs/r/phases/p/update_status", json={"state": "EXECUTING"}),
        409,
        "illegal_transition",
    )
    assert body["allowed"] == []
    assert "terminal state SKIPPED" in body["detail"]


def test_an_unknown_state_is_422_naming_the_field(
    client: TestClient, run: Any, problem: Any
) -> None:
    body = problem(
        client.post("/runs/r/phases/p/update_status", json={"state": "READY"}),
        422,
        "validation_error",
    )
    assert body["errors"][0]["field"] == "state"
    assert "EXECUTING" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("status", "state"),
    [("success", "COMPLETE"), ("needs_review", "GATE"), ("failed", "EXECUTING")],
)
def test_builder_status_decides_the_phase_state(
    client: TestClient, run: Any, status: str, state: str
) -> None:
    response = client.post("/runs/r/phases/p/builder_result", json=result(status))
    assert response.status_code == 200, response.text
    assert response.json()["phase_state"] == state
    assert phase(client)["state"] == state


def test_failures_fail_the_phase_when_builder_attempts_run_out(
    client: TestClient, problem: Any
) -> None:
    spec = {
        "run_id": "r",
        "phases": [{"phase_id": "p", "name": "p", "budgets": {"max_builder_attempts": 2}}],
    }
    assert client.post("/runs", json=spec).status_code == 201
    first = client.post("/runs/r/phases/p/builder_result", json=result("failed", notes="tests red"))
    assert first.json()["phase_state"] == "EXECUTING"
    second = client.post(
        "/runs/r/phases/p/builder_result", json=result("failed", notes="still red")
    )
    assert second.json()["phase_state"] == "FAILED"
    failed = phase(client)
    assert failed["builder_attempts"] == 2
    assert failed["last_failure"] == "builder reported failure: still red"
    # A late success for a failed phase is stored but cannot revive it (only a retry
    # can): 409 naming the stored attempt.
    body = problem(
        client.post("/runs/r/phases/p/builder_result", json=result("success")),
        409,
        "illegal_transition",
    )
    assert body["current"] == "FAILED" and body["requested"] == "COMPLETE"
    assert body["attempt_id"] == 3
    attempts = client.get("/reports/run_summary/r").json()["phases"][0]["attempts"]
    assert [a["attempt_number"] for a in attempts] == [1, 2, 3]


def test_result_ids_must_match_the_url(client: TestClient, run: Any, problem: Any) -> None:
    body = problem(
        client.post("/runs/r/phases/p/builder_result", json={**result("success"), "phase_id": "q"}),
        422,
        "validation_error",
    )
    assert body["field"] == "run_id/phase_id"
    assert phase(client, "q")["builder_attempts"] == 0


def test_results_for_unknown_runs_and_phases_are_404(
    client: TestClient, run: Any, problem: Any
) -> None:
    body = problem(
        client.post("/runs/x/phases/p/builder_result", json={**result("success"), "run_id": "x"}),
        404,
        "not_found",
    )
    assert "run 'x' not found" in body["detail"]
    body = problem(
        client.post(
            "/runs/r/phases/zz/builder_result", json={**result("success"), "phase_id": "zz"}
        ),
        404,
        "not_found",
    )
    assert "phase 'zz' not found in run 'r'" in body["detail"]
    assert "GET /runs/r" in body["detail"]


def test_builder_suggested_issues_are_recorded(client: TestClient, run: Any) -> None:
    client.post(
        "/runs/r/phases/p/builder_result",
        json=result(
            "needs_review",
            suggested_issues=[
                {"issue_key": "flaky-test", "severity": "major", "category": "tests"}
            ],
        ),
    )
    p = phase(client)
    assert (p["major_issues_count"], p["issue_state"]) == (1, "has_major_issues")
    run_view = client.get("/runs/r").json()
    assert run_view["major_issues_count"] == 1
    assert run_view["debt_status"] == "has_major_issues"
    assert run_view["tiers"][0]["cleanliness"] == "not_clean"


def test_auditor_request_then_approve(client: TestClient, run: Any) -> None:
    asked = client.post(
        "/runs/r/phases/p/auditor_request", json={"run_id": "r", "phase_id": "p", "tier_id": "T1"}
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["phase_state"] == "GATE"
    done = client.post("/runs/r/phases/p/auditor_result", json=verdict("approve"))
    assert done.status_code == 200, done.text
    assert done.json()["phase_state"] == "COMPLETE"
    assert phase(client)["auditor_attempts"] == 1


def test_auditor_revise_sends_the_phase_back_to_the_builder(client: TestClient, run: Any) -> None:
    client.post("/runs/r/phases/p/builder_result", json=result("needs_review"))
    done = client.post("/runs/r/phases/p/auditor_result", json=verdict("revise"))
    assert done.json()["phase_state"] == "EXECUTING"


def test_auditor_escalate_fails_the_phase_with_its_notes(client: TestClient, run: Any) -> None:
    client.post(
        "/runs/r/phases/p/auditor_request", json={"run_id": "r", "phase_id": "p", "tier_id": "T1"}
    )
    done = client.post(
        "/runs/r/phases/p/auditor_result",
        json=verdict(
            "escalate",
            review_notes="unsafe migration",
            tokens_used=900,
            issues_found=[{"issue_key": "drops-table", "severity": "major"}],
        ),
    )
    assert done.json()["phase_state"] == "FAILED"
    failed = phase(client)
    assert failed["last_failure"] == "auditor escalated: unsafe migration"
    assert failed["tokens_used"] == 900
    issue = client.get("/runs/r/issues/index").json()["issues_by_key"]["drops-table"]
    assert issue["severity"] == "major"


def test_auditor_verdicts_outside_the_vocabulary_are_refused(
    client: TestClient, run: Any, problem: Any
) -> None:
    body = problem(
        client.post("/runs/r/phases/p/auditor_result", json=verdict("ship")),
        422,
        "validation_error",
    )
    assert body["errors"][0]["field"] == "recommendation"


def test_record_issue_from_a_json_body(client: TestClient, run: Any) -> None:
    response = client.post(
        "/runs/r/phases/p/record_issue",
        json={
            "issue_key": "no-docstring",
            "severity": "minor",
            "source": "lint",
            "category": "style",
            "evidence_refs": ["a.py:1"],
            "description": "missing",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Issue no-docstring recorded"
    assert body["phase_file"]["evidence_refs"] == ["a.py:1"]
    assert body["phase_file"]["minor_issue_count"] == 1
    assert body["run_index_entry"]["phase_ids"] == ["p"]
    assert body["project_backlog_entry"]["age_in_runs"] == 1


def test_record_issue_from_the_original_query_parameters(client: TestClient, run: Any) -> None:
    response = client.post(
        "/runs/r/phases/q/record_issue",
        params={
            "issue_key": "slow-query",
            "severity": "major",
            "source": "auditor",
            "category": "perf",
            "evidence_refs": ["db.py:9", "db.py:12"],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["phase_file"]["source"] == "auditor"
    assert body["phase_file"]["evidence_refs"] == ["db.py:9", "db.py:12"]
    assert body["phase_file"]["major_issue_count"] == 1
    # Recording the same key again de-duplicates it.
    again = client.post(
        "/runs/r/phases/q/record_issue", params={"issue_key": "slow-query", "severity": "major"}
    ).json()
    assert again["phase_file"]["occurrence_count"] == 2
    assert again["run_index_entry"]["occurrence_count"] == 2
    assert again["phase_file"]["major_issue_count"] == 1


def test_record_issue_needs_a_key_and_a_severity(
    client: TestClient, run: Any, problem: Any
) -> None:
    body = problem(client.post("/runs/r/phases/p/record_issue"), 422, "validation_error")
    assert body["field"] == "issue_key"
    body = problem(
        client.post("/runs/r/phases/p/record_issue", params={"issue_key": "k"}),
        422,
        "validation_error",
    )
    assert body["field"] == "severity"
    problem(
        client.post(
            "/runs/r/phases/p/record_issue", params={"issue_key": "k", "severity": "critical"}
        ),
        422,
        "validation_error",
    )
    problem(
        client.post(
            "/runs/r/phases/zz/record_issue", params={"issue_key": "k", "severity": "minor"}
        ),
        404,
        "not_found",
    )
