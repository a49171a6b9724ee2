"""Issue index and backlog aging, metrics, reports and the dashboard's data routes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from autopack.domain.states import RunState
from autopack.services import issues as issue_service
from autopack.services import runs as run_service


def record(
    client: TestClient, run_id: str, phase_id: str, key: str, severity: str = "minor"
) -> dict[str, Any]:
    response = client.post(
        f"/runs/{run_id}/phases/{phase_id}/record_issue",
        json={"issue_key": key, "severity": severity, "category": "tests"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_run_issue_index_groups_by_key(client: TestClient, make_run: Any) -> None:
    make_run("r", "a", "b", tiers=("T1", "T2"))
    record(client, "r", "a", "flaky")
    record(client, "r", "b", "flaky")
    record(client, "r", "b", "slow", "major")
    index = client.get("/runs/r/issues/index").json()
    assert index["run_id"] == "r"
    flaky = index["issues_by_key"]["flaky"]
    assert (flaky["occurrence_count"], flaky["phase_ids"], flaky["tier_ids"]) == (
        2,
        ["a", "b"],
        ["T1", "T2"],
    )
    assert (flaky["first_seen_phase_id"], flaky["last_seen_phase_id"]) == ("a", "b")
    assert index["issues_by_key"]["slow"]["severity"] == "major"
    assert client.get("/runs/r").json()["minor_issues_count"] == 2


def test_backlog_ages_an_issue_across_runs_until_it_needs_cleanup(
    client: TestClient, make_run: Any
) -> None:
    for run_id in ("run-1", "run-2", "run-3"):
        make_run(run_id, "p")
    record(client, "run-1", "p", "todo-left")
    record(client, "run-1", "p", "todo-left")  # same run again: no older
    entry = client.get("/project/issues/backlog").json()["issues_by_key"]["todo-left"]
    assert (entry["age_in_runs"], entry["status"], entry["occurrence_count"]) == (1, "open", 2)

    record(client, "run-2", "p", "todo-left")
    entry = client.get("/project/issues/backlog").json()["issues_by_key"]["todo-left"]
    assert (entry["age_in_runs"], entry["age_in_tiers"], entry["status"]) == (2, 2, "open")
    assert entry["seen_in_runs"] == ["run-1", "run-2"]
    assert (entry["first_seen_run_id"], entry["last_seen_run_id"]) == ("run-1", "run-2")

    record(client, "run-3", "p", "todo-left")
    entry = client.get("/project/issues/backlog").json()["issues_by_key"]["todo-left"]
    assert (entry["age_in_runs"], entry["status"]) == (3, "needs_cleanup")

    summary = client.get("/reports/issue_backlog_summary").json()
    assert (summary["total_issues"], summary["open_count"], summary["needs_cleanup_count"]) == (
        1,
        0,
        1,
    )
    assert [i["issue_key"] for i in summary["needs_cleanup"]] == ["todo-left"]
    assert summary["top_aging_issues"][0]["age_in_runs"] == 3


def test_major_issues_need_cleanup_after_two_runs(client: TestClient, make_run: Any) -> None:
    make_run("run-1", "p")
    make_run("run-2", "p")
    record(client, "run-1", "p", "sql-injection", "major")
    assert (
        record(client, "run-2", "p", "sql-injection", "major")["project_backlog_entry"]["status"]
        == "needs_cleanup"
    )


def test_an_issue_in_three_tiers_of_one_run_needs_cleanup(
    client: TestClient, make_run: Any
) -> None:
    make_run("r", "a", "b", "c", tiers=("T1", "T2", "T3"))
    for phase_id in ("a", "b"):
        record(client, "r", phase_id, "dup-code")
    entry = record(client, "r", "c", "dup-code")["project_backlog_entry"]
    assert (entry["age_in_runs"], entry["age_in_tiers"], entry["status"]) == (1, 3, "needs_cleanup")


def test_a_closed_issue_seen_again_is_reopened(
    client: TestClient, make_run: Any, in_db: Any
) -> None:
    make_run("run-1", "p")
    make_run("run-2", "p")
    record(client, "run-1", "p", "fixed-once")
    with in_db() as session:
        issue_service.close_issue(session, "fixed-once")
    assert client.get("/reports/issue_backlog_summary").json()["closed_count"] == 1
    entry = record(client, "run-2", "p", "fixed-once")["project_backlog_entry"]
    assert entry["status"] == "open"


def test_run_metrics(client: TestClient, make_run: Any, in_db: Any) -> None:
    make_run("m1", "a", "b")
    make_run("m2", "a")
    client.post(
        "/runs/m1/phases/a/builder_result",
        json={"run_id": "m1", "phase_id": "a", "status": "success", "tokens_used": 1_250_000},
    )
    metrics = client.get("/metrics/runs").json()
    assert metrics["total_runs"] == 2
    by_id = {m["run_id"]: m for m in metrics["runs"]}
    assert by_id["m1"]["token_utilization"] == 0.25
    assert (by_id["m1"]["phase_count"], by_id["m1"]["tier_count"]) == (2, 1)
    assert by_id["m2"]["tokens_used"] == 0
    with in_db() as session:
        run_service.set_run_state(
            session, run_service.get_run(session, "m2"), RunState.PHASE_EXECUTION
        )
    running = client.get("/metrics/runs", params={"status": "PHASE_EXECUTION"}).json()
    assert [m["run_id"] for m in running["runs"]] == ["m2"]
    assert running["runs"][0]["started_at"] is not None


def test_tier_metrics_count_phases_by_state(client: TestClient, make_run: Any) -> None:
    make_run("t", "a", "b", "c", tiers=("T1", "T2"))
    client.post(
        "/runs/t/phases/b/builder_result",
        json={"run_id": "t", "phase_id": "b", "status": "success", "tokens_used": 10},
    )
    tiers = client.get("/metrics/tiers/t").json()
    assert tiers["tier_count"] == 2
    t2 = tiers["tiers"][1]
    assert (t2["tier_id"], t2["phase_count"], t2["phase_states"], t2["tokens_used"]) == (
        "T2",
        2,
        {"COMPLETE": 1, "QUEUED": 1},
        10,
    )


def test_budget_analysis_lists_only_runs_ended_by_a_budget(
    client: TestClient, make_run: Any, in_db: Any
) -> None:
    make_run("broke", "p")
    make_run("fine", "p")
    make_run("cancelled", "p")
    with in_db() as session:
        for run_id, state in (
            ("broke", RunState.DONE_FAILED_TOKEN_CAP_EXCEEDED),
            ("cancelled", RunState.DONE_CANCELLED),
        ):
            run_service.set_run_state(
                session, run_service.get_run(session, run_id), state, reason=f"{run_id} ended"
            )
    analysis = client.get("/reports/budget_analysis").json()
    assert analysis["total_budget_failures"] == 1
    failure = analysis["failures"][0]
    assert (failure["run_id"], failure["state"], failure["failure_reason"]) == (
        "broke",
        "DONE_FAILED_TOKEN_CAP_EXCEEDED",
        "broke ended",
    )
    assert failure["completed_at"] is not None


def test_run_summary(client: TestClient, make_run: Any) -> None:
    make_run("s", "a", "b")
    client.post(
        "/runs/s/phases/a/builder_result",
        json={"run_id": "s", "phase_id": "a", "status": "needs_review", "tokens_used": 50},
    )
    client.post(
        "/runs/s/phases/a/auditor_result",
        json={
            "run_id": "s",
            "phase_id": "a",
            "review_notes": "ok",
            "recommendation": "approve",
            "tokens_used": 20,
        },
    )
    summary = client.get("/reports/run_summary/s").json()
    assert (summary["run_id"], summary["state"]) == ("s", "RUN_CREATED")
    assert summary["budgets"]["tokens_used"] == 70
    assert summary["tiers"][0]["tokens_used"] == 70
    a = summary["phases"][0]
    assert (a["state"], a["builder_attempts"], a["auditor_attempts"]) == ("COMPLETE", 1, 1)
    assert [(x["role"], x["status"]) for x in a["attempts"]] == [
        ("builder", "needs_review"),
        ("auditor", "approve"),
    ]
    assert summary["phases"][1]["attempts"] == []


def test_dashboard_run_status(client: TestClient, make_run: Any) -> None:
    make_run("d", "a", "b", "c", "e", tiers=("T1", "T2"))
    status = client.get("/dashboard/runs/d/status").json()
    assert (
        status["percent_complete"],
        status["current_phase_name"],
        status["current_tier_name"],
    ) == (0.0, "Phase a", "Tier T1")
    for phase_id in ("a", "b"):
        client.post(
            f"/runs/d/phases/{phase_id}/builder_result",
            json={"run_id": "d", "phase_id": phase_id, "status": "success"},
        )
    client.post(
        "/runs/d/phases/c/update_status", json={"state": "EXECUTING", "quality_blocked": True}
    )
    status = client.get("/dashboard/runs/d/status").json()
    assert (status["completed_phases"], status["total_phases"], status["percent_complete"]) == (
        2,
        4,
        50.0,
    )
    assert (status["current_phase_index"], status["current_tier_name"]) == (2, "Tier T2")
    assert status["quality_blocked"] is True
    assert status["quality_warnings"] == ["Phase c is blocked by quality gate"]
    assert (status["total_tiers"], status["tiers_percent_complete"]) == (2, 0.0)


def test_human_notes_are_stored_and_appended_to_a_file_in_home(
    client: TestClient, make_run: Any, settings: Any, problem: Any
) -> None:
    make_run("n", "p")
    first = client.post("/dashboard/human-notes", json={"note": "Prefer pathlib.", "run_id": "n"})
    assert first.status_code == 200, first.text
    second = client.post("/dashboard/human-notes", json={"note": "No new dependencies."})
    assert second.json()["id"] == first.json()["id"] + 1
    notes_file = settings.home / "human_notes.md"
    assert first.json()["notes_file"] == str(notes_file)
    text = notes_file.read_text()
    assert "(Run: n)" in text and "Prefer pathlib." in text and "No new dependencies." in text
    problem(
        client.post("/dashboard/human-notes", json={"note": "x", "run_id": "ghost"}),
        404,
        "not_found",
    )
    problem(client.post("/dashboard/human-notes", json={"note": ""}), 422, "validation_error")
