"""Runs: create from a RunSpec or the original RunStartRequest, list, read, status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autopack.domain.states import RunState
from autopack.services import runs as run_service

SPEC: dict[str, Any] = {
    "run_id": "spec-run",
    "name": "Add CSV export",
    "goal": "Users can export reports as CSV",
    "safety_profile": "safety_critical",
    "budgets": {"token_cap": 200_000, "max_phases": 5, "ci_run_cap": 4},
    "tiers": [
        {"tier_id": "Auth & Security", "name": "Auth"},
        {"tier_id": "Core", "name": "Core", "description": "the feature"},
    ],
    "phases": [
        {
            "phase_id": "F1.1",
            "tier_id": "Core",
            "name": "Exporter",
            "complexity": "high",
            "scope": {
                "paths": ["src/export/"],
                "deliverables": {"code": ["src/export/csv.py"], "tests": ["tests/test_csv.py"]},
                "read_only_context": ["docs/formats.md"],
            },
            "budgets": {"max_builder_attempts": 2},
        },
        {"phase_id": "F0.9", "tier_id": "Auth & Security", "name": "Permission check"},
    ],
}


def test_create_run_from_a_run_spec(client: TestClient) -> None:
    response = client.post("/runs", json=SPEC)
    assert response.status_code == 201, response.text
    run = response.json()
    assert (run["run_id"], run["name"], run["goal"]) == (
        "spec-run",
        "Add CSV export",
        "Users can export reports as CSV",
    )
    assert run["safety_profile"] == "safety_critical"
    assert (run["token_cap"], run["max_phases"], run["ci_run_cap"]) == (200_000, 5, 4)
    assert run["max_minor_issues_total"] == 6
    # Tiers in index order (list order here), each with its phases.
    assert [
        (t["tier_id"], t["tier_index"], [p["phase_id"] for p in t["phases"]]) for t in run["tiers"]
    ] == [("Auth & Security", 0, ["F0.9"]), ("Core", 1, ["F1.1"])]
    exporter = next(p for p in run["phases"] if p["phase_id"] == "F1.1")
    assert exporter["tier_id"] == "Core" and exporter["complexity"] == "high"
    assert exporter["scope"]["deliverables"] == ["src/export/csv.py", "tests/test_csv.py"]
    assert exporter["scope"]["read_only_context"] == [{"path": "docs/formats.md", "reason": ""}]
    # What was created is what GET returns.
    again = client.get("/runs/spec-run").json()
    assert again["tiers"] == run["tiers"]
    assert sorted(again["phases"], key=lambda p: p["id"]) == sorted(
        run["phases"], key=lambda p: p["id"]
    )


def test_post_answers_exactly_what_a_later_get_reads(client: TestClient) -> None:
    """POST /runs answers from the objects it created, without reading them back; they
    must be in the order and hold the values that a read from the database gives."""
    spec = {
        "run_id": "ordered",
        "tiers": [
            {"tier_id": "late", "name": "Late", "tier_index": 2},
            {"tier_id": "early", "name": "Early", "tier_index": 0},
        ],
        "phases": [
            {"phase_id": "c", "tier_id": "late", "name": "C", "phase_index": 5},
            {"phase_id": "a", "tier_id": "early", "name": "A", "phase_index": 3},
            {"phase_id": "b", "tier_id": "late", "name": "B", "phase_index": 1},
            {"phase_id": "d", "tier_id": "early", "name": "D", "phase_index": 4},
        ],
    }
    created = client.post("/runs", json=spec)
    assert created.status_code == 201, created.text
    again = client.get("/runs/ordered")
    assert again.json() == created.json()
    run = created.json()
    assert [t["tier_id"] for t in run["tiers"]] == ["early", "late"]
    assert [p["phase_id"] for p in run["phases"]] == ["b", "a", "d", "c"]
    assert [[p["phase_id"] for p in t["phases"]] for t in run["tiers"]] == [["a", "d"], ["b", "c"]]


def test_the_smallest_run_spec_is_enough(client: TestClient) -> None:
    response = client.post(
        "/runs", json={"run_id": "tiny", "phases": [{"phase_id": "p", "name": "Do it"}]}
    )
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["name"] == "tiny"
    assert [t["tier_id"] for t in run["tiers"]] == ["T1"]
    assert run["phases"][0]["state"] == "QUEUED"


def test_runs_are_listed_newest_first_and_paginated(client: TestClient, make_run: Any) -> None:
    for run_id in ("r-a", "r-b", "r-c"):
        make_run(run_id, "p1")
    page = client.get("/runs", params={"limit": 2}).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert [r["run_id"] for r in page["runs"]] == ["r-c", "r-b"]
    rest = client.get("/runs", params={"limit": 2, "offset": 2}).json()
    assert [r["run_id"] for r in rest["runs"]] == ["r-a"]
    assert rest["runs"][0]["phase_count"] == 1
    assert client.get("/runs", params={"offset": 10}).json()["runs"] == []


def test_runs_are_filtered_by_state(
    client: TestClient, make_run: Any, in_db: Any, problem: Any
) -> None:
    make_run("keep", "p1")
    make_run("stop", "p1")
    with in_db() as session:
        run_service.set_run_state(
            session,
            run_service.get_run(session, "stop"),
            RunState.DONE_CANCELLED,
            reason="not needed",
        )
    cancelled = client.get("/runs", params={"state": "DONE_CANCELLED"}).json()
    assert cancelled["total"] == 1
    assert [(r["run_id"], r["failure_reason"]) for r in cancelled["runs"]] == [
        ("stop", "not needed")
    ]
    assert [r["run_id"] for r in client.get("/runs?state=RUN_CREATED").json()["runs"]] == ["keep"]
    body = problem(client.get("/runs", params={"state": "READY"}), 422, "validation_error")
    assert body["errors"][0]["field"] == "query.state"


def test_pagination_bounds_are_checked(client: TestClient, problem: Any) -> None:
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"offset": 2**63}):
        problem(client.get("/runs", params=params), 422, "validation_error")


def test_get_run_has_tiers_with_phases_and_a_top_level_phase_list(
    client: TestClient, make_run: Any
) -> None:
    make_run("shape", "a", "b", "c", tiers=("T1", "T2"))
    run = client.get("/runs/shape").json()
    assert [(t["tier_id"], [p["phase_id"] for p in t["phases"]]) for t in run["tiers"]] == [
        ("T1", ["a"]),
        ("T2", ["b", "c"]),
    ]
    assert [(p["phase_id"], p["tier_id"], p["phase_index"]) for p in run["phases"]] == [
        ("a", "T1", 0),
        ("b", "T2", 1),
        ("c", "T2", 2),
    ]


def test_run_status_follows_the_phases(client: TestClient, make_run: Any) -> None:
    make_run("st", "a", "b")
    status = client.get("/runs/st/status").json()
    assert status["state"] == "RUN_CREATED"
    assert status["phase_counts"] == {"QUEUED": 2}
    assert (status["total_phases"], status["current_phase_id"]) == (2, "a")
    assert status["executing"] is False and status["cancel_requested"] is False
    client.post(
        "/runs/st/phases/a/builder_result",
        json={"run_id": "st", "phase_id": "a", "status": "success", "tokens_used": 7},
    )
    status = client.get("/runs/st/status").json()
    assert status["phase_counts"] == {"COMPLETE": 1, "QUEUED": 1}
    assert status["current_phase_id"] == "b"
    assert status["tokens_used"] == 7


def test_duplicate_run_ids_are_a_conflict(client: TestClient, make_run: Any, problem: Any) -> None:
    make_run("dup", "p")
    body = problem(client.post("/runs", json={"run_id": "dup"}), 409, "duplicate")
    assert "'dup' already exists" in body["detail"]
    assert body["run_id"] == "dup"
    problem(client.post("/runs/start", json={"run": {"run_id": "dup"}}), 409, "duplicate")


def test_unknown_tier_reference_names_the_field(client: TestClient, problem: Any) -> None:
    spec = {
        "run_id": "bad",
        "tiers": [{"tier_id": "T1", "name": "t"}],
        "phases": [
            {"phase_id": "p", "name": "n", "tier_id": "T1"},
            {"phase_id": "q", "name": "n", "tier_id": "Nope"},
        ],
    }
    body = problem(client.post("/runs", json=spec), 422, "invalid_plan")
    assert body["field"] == "phases[1].tier_id"
    assert "'Nope'" in body["detail"]
    start = {
        "run": {"run_id": "bad"},
        "tiers": [{"tier_id": "T1", "tier_index": 0, "name": "t"}],
        "phases": [{"phase_id": "p", "phase_index": 0, "tier_id": "T2", "name": "n"}],
    }
    body = problem(client.post("/runs/start", json=start), 422, "invalid_plan")
    assert body["field"] == "phases[0].tier_id"
    assert client.get("/runs/bad").status_code == 404  # nothing was half-created


def test_run_start_values_the_plan_refuses_are_422_naming_the_field(
    client: TestClient, problem: Any
) -> None:
    # Regression: each of these was a 500 (a pydantic error escaping spec_from_run_start).
    cases = [
        ({"run_id": "has space"}, "run.run_id"),
        ({"run_id": "ok", "token_cap": 0}, "run.token_cap"),
        ({"run_id": "ok", "safety_profile": "reckless"}, "run.safety_profile"),
    ]
    for run, field in cases:
        body = problem(client.post("/runs/start", json={"run": run}), 422, "invalid_plan")
        assert body["field"] == field, body
        assert body["errors"][0]["field"] == field
    body = problem(
        client.post(
            "/runs/start",
            json={
                "run": {"run_id": "ok"},
                "tiers": [{"tier_id": "T1", "tier_index": 0, "name": "t"}],
                "phases": [
                    {
                        "phase_id": "p",
                        "phase_index": 0,
                        "tier_id": "T1",
                        "name": "n",
                        "complexity": "extreme",
                    }
                ],
            },
        ),
        422,
        "invalid_plan",
    )
    assert body["field"] == "phases[0].complexity"


def test_more_phases_than_the_budget_allows_is_refused(client: TestClient, problem: Any) -> None:
    spec = {
        "run_id": "big",
        "budgets": {"max_phases": 1},
        "phases": [{"phase_id": "a", "name": "a"}, {"phase_id": "b", "name": "b"}],
    }
    body = problem(client.post("/runs", json=spec), 422, "invalid_plan")
    assert body["field"] == "budgets.max_phases"


def test_unknown_run_is_404_with_a_hint(client: TestClient, problem: Any) -> None:
    for path in (
        "/runs/nope",
        "/runs/nope/status",
        "/runs/nope/issues/index",
        "/metrics/tiers/nope",
        "/reports/run_summary/nope",
        "/dashboard/runs/nope/status",
    ):
        body = problem(client.get(path), 404, "not_found")
        assert "'nope' not found" in body["detail"], path


def test_given_indexes_order_tiers_and_phases_the_same_in_every_answer(client: TestClient) -> None:
    # Regression: the create answer listed them in request order, later reads by index.
    spec = {
        "run_id": "ordered",
        "tiers": [
            {"tier_id": "late", "name": "l", "tier_index": 5},
            {"tier_id": "early", "name": "e", "tier_index": 1},
        ],
        "phases": [
            {"phase_id": "b", "name": "x", "tier_id": "late", "phase_index": 0},
            {"phase_id": "a", "name": "x", "tier_id": "early", "phase_index": 2},
            {"phase_id": "c", "name": "x", "tier_id": "early", "phase_index": 1},
        ],
    }
    created = client.post("/runs", json=spec).json()
    read = client.get("/runs/ordered").json()
    for run in (created, read):
        assert [(t["tier_id"], [p["phase_id"] for p in t["phases"]]) for t in run["tiers"]] == [
            ("early", ["c", "a"]),
            ("late", ["b"]),
        ]
        assert [p["phase_id"] for p in run["phases"]] == ["b", "c", "a"]
    assert client.get("/runs/ordered/status").json()["current_phase_id"] == "c"


def test_creating_a_run_hops_to_the_thread_pool_only_for_blocking_work(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rate limit is in memory, so it is checked on the event loop; the hops left are
    the key check, the session's start and end, the route and its response."""
    import anyio.to_thread

    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        called = getattr(func, "func", func)  # FastAPI hands over partials
        hops.append(getattr(called, "__qualname__", repr(called)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    response = client.post("/runs", json=SPEC)
    assert response.status_code == 201, response.text
    assert not any(h.startswith("limit_run_creation") for h in hops), hops
    assert len(hops) <= 5, hops
