"""The original's routes keep their shapes, not their loopholes: update_status does not
vouch for work nor overrule an executor, and run creation refuses repositories and paths
that would take a run outside its repository, and fields it does not know."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autopack.db.orm import Run, utcnow
from autopack.domain.states import AttemptRole
from autopack.services.phases import record_attempt

STATUS = "/runs/ga/phases/P1/update_status"


def _state(client: TestClient) -> str:
    state: str = client.get("/runs/ga").json()["phases"][0]["state"]
    return state


def test_complete_needs_an_applied_result_and_an_approving_auditor(
    ga_client: TestClient, result_for: Callable[..., Any], calc_patch: str, problem: Any
) -> None:
    client = ga_client
    client.post(STATUS, json={"state": "EXECUTING"})
    body = problem(client.post(STATUS, json={"state": "COMPLETE"}), 409, "illegal_transition")
    assert "no accepted results" in body["detail"] and "COMPLETE" not in body["allowed"]
    assert _state(client) == "EXECUTING"

    # Applied, but nobody reviewed it yet.
    applied = client.post(
        "/runs/ga/phases/P1/builder_result", json=result_for(calc_patch, "needs_review")
    )
    assert applied.status_code == 200 and applied.json()["apply"]["applied"], applied.text
    assert _state(client) == "GATE"
    problem(client.post(STATUS, json={"state": "COMPLETE"}), 409, "illegal_transition")
    assert _state(client) == "GATE"


def test_an_approval_recorded_after_the_applied_result_is_accepted(
    ga_client: TestClient, result_for: Callable[..., Any], calc_patch: str
) -> None:
    client = ga_client
    client.post("/runs/ga/phases/P1/builder_result", json=result_for(calc_patch, "needs_review"))
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    record_attempt(
        factory, "ga", "P1", role=AttemptRole.AUDITOR, status="approve", payload={"notes": "ok"}
    )
    response = client.post(STATUS, json={"state": "COMPLETE"})
    assert response.status_code == 200, response.text
    assert _state(client) == "COMPLETE"


def test_a_success_claim_without_an_applied_patch_is_not_accepted(
    ga_client: TestClient, problem: Any
) -> None:
    client = ga_client
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    client.post(STATUS, json={"state": "EXECUTING"})
    # A Builder that says "success" but sent nothing, and an Auditor that approves it.
    record_attempt(factory, "ga", "P1", role=AttemptRole.BUILDER, status="success", payload={})
    record_attempt(factory, "ga", "P1", role=AttemptRole.AUDITOR, status="approve", payload={})
    problem(client.post(STATUS, json={"state": "COMPLETE"}), 409, "illegal_transition")


def test_an_executor_attempt_counts_only_when_it_reached_done(
    ga_client: TestClient, problem: Any
) -> None:
    client = ga_client
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    client.post(STATUS, json={"state": "EXECUTING"})
    record_attempt(
        factory,
        "ga",
        "P1",
        role=AttemptRole.BUILDER,
        status="verified",
        payload={"stage": "verified"},
    )
    problem(client.post(STATUS, json={"state": "COMPLETE"}), 409, "illegal_transition")
    record_attempt(
        factory, "ga", "P1", role=AttemptRole.BUILDER, status="done", payload={"stage": "done"}
    )
    assert client.post(STATUS, json={"state": "COMPLETE"}).status_code == 200


def test_a_run_held_by_an_executor_is_409_naming_it(
    ga_client: TestClient, in_db: Any, problem: Any
) -> None:
    with in_db() as session:
        run = session.get(Run, "ga")
        run.lease_owner = "worker-7:4242"
        run.lease_expires_at = utcnow() + timedelta(minutes=2)
    body = problem(
        client_post := ga_client.post(STATUS, json={"state": "SKIPPED"}), 409, "lease_held"
    )
    assert body["owner"] == "worker-7:4242" and "worker-7:4242" in body["detail"]
    assert client_post.status_code == 409 and _state(ga_client) == "QUEUED"
    # An expired lease is a dead executor's: the phase may be changed.
    with in_db() as session:
        session.get(Run, "ga").lease_expires_at = utcnow() - timedelta(seconds=1)
    assert ga_client.post(STATUS, json={"state": "SKIPPED"}).status_code == 200


def test_update_status_neither_parks_nor_releases_a_phase_for_approval(
    ga_client: TestClient, problem: Any
) -> None:
    body = problem(
        ga_client.post(STATUS, json={"state": "AWAITING_APPROVAL"}), 409, "illegal_transition"
    )
    assert "/approvals" in body["detail"]


# -- run creation ------------------------------------------------------------------------
def _spec(repo: Path | str | None = None, **scope: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "run_id": "v",
        "phases": [{"phase_id": "P1", "name": "one", "scope": scope}],
    }
    if repo is not None:
        spec["repo"] = str(repo)
    return spec


def test_a_repository_that_is_missing_relative_or_not_git_is_422(
    client: TestClient, tmp_path: Path, problem: Any
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for repo, words in (
        (tmp_path / "missing", "does not exist"),
        (plain, "not the top of a git repository"),
        ("relative/repo", "relative"),
    ):
        body = problem(client.post("/runs", json=_spec(repo)), 422, "invalid_plan")
        assert body["field"] == "repo" and words in body["detail"], body
    assert client.get("/runs").json()["total"] == 0


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        ({"paths": ["src/", "/etc/"]}, "phases[0].scope.paths[1]"),
        ({"paths": ["../outside/"]}, "phases[0].scope.paths[0]"),
        ({"deliverables": ["src/../../x.py::f"]}, "phases[0].scope.deliverables[0]"),
        (
            {"read_only_context": ["C:\\Windows\\win.ini"]},
            "phases[0].scope.read_only_context[0].path",
        ),
        ({"protected_paths": ["..\\secrets"]}, "phases[0].scope.protected_paths[0]"),
    ],
)
def test_paths_that_leave_the_repository_are_422_naming_the_field(
    client: TestClient, target_repo: Path, problem: Any, scope: dict[str, Any], field: str
) -> None:
    body = problem(client.post("/runs", json=_spec(target_repo, **scope)), 422, "invalid_plan")
    assert body["field"] == field, body
    assert client.get("/runs").json()["total"] == 0


def test_run_level_protected_paths_are_checked_too(client: TestClient, problem: Any) -> None:
    spec = {**_spec(), "protected_paths": ["/home/me/.ssh/"]}
    body = problem(client.post("/runs", json=spec), 422, "invalid_plan")
    assert body["field"] == "protected_paths[0]"


def test_paths_inside_the_repository_are_accepted(client: TestClient, target_repo: Path) -> None:
    spec = _spec(target_repo, paths=["src/", "a..b.py"], deliverables=["src/x.py::f"])
    assert client.post("/runs", json=spec).status_code == 201


def test_unknown_fields_are_422_naming_them_in_both_shapes(
    client: TestClient, problem: Any
) -> None:
    spec = _spec()
    spec["phases"][0]["scope"]["pathz"] = ["x/"]
    body = problem(client.post("/runs", json=spec), 422, "validation_error")
    assert "phases[0].scope.pathz" in [e["field"] for e in body["errors"]], body
    for where, start in (
        ("run.repo", {"run": {"run_id": "s", "repo": "/tmp"}}),
        (
            "tiers[0].colour",
            {
                "run": {"run_id": "s"},
                "tiers": [{"tier_id": "T1", "tier_index": 0, "name": "t", "colour": "red"}],
            },
        ),
        (
            "phases[0].scope",
            {
                "run": {"run_id": "s"},
                "phases": [
                    {"phase_id": "p", "phase_index": 0, "tier_id": "T1", "name": "p", "scope": {}}
                ],
            },
        ),
        ("force", {"run": {"run_id": "s"}, "force": True}),
    ):
        body = problem(client.post("/runs/start", json=start), 422, "validation_error")
        assert where in [e["field"] for e in body["errors"]], (where, body)
    assert client.get("/runs").json()["total"] == 0
