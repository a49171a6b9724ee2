"""GET /runs/{id}/governance: a run's governance requests, with what the policy and
people decided (a pending row shows its approval's outcome as soon as it is decided)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from autopack.db.orm import utcnow
from autopack.domain.governance import AccessRequest, Risk
from autopack.services import governance as governance_service
from autopack.services.phases import get_phase
from autopack.workspace.governance import Classification


def test_unknown_run_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/runs/nope/governance")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_requests_and_decisions_are_listed(
    client: TestClient, in_db: Callable[[], Any], make_run: Callable[..., Any]
) -> None:
    make_run("gov", "p")
    assert client.get("/runs/gov/governance").json() == {"run_id": "gov", "requests": []}
    request = AccessRequest(paths=("docs/a.md", "config/x.toml"), reason="document x")
    classes = [
        Classification("docs/a.md", Risk.LOW, "docs/", "low risk"),
        Classification("config/x.toml", Risk.PERSON, "config/", "a person decides"),
    ]
    with in_db() as session:
        phase = get_phase(session, "gov", "p")
        phase.state = "EXECUTING"
        rows = governance_service.record_request(session, phase, 7, request, classes, now=utcnow())
        approval = governance_service.ask_person(
            session,
            phase,
            7,
            [r for r in rows if r.risk == "person"],
            expire_after_minutes=None,
            on_expiry="reject",
            now=utcnow(),
        )
        approval_id = approval.id
    shown = client.get("/runs/gov/governance").json()["requests"]
    assert [(r["paths"], r["risk"], r["decision"], r["decided_by"]) for r in shown] == [
        (["docs/a.md"], "low", "approved", "policy:governance"),
        (["config/x.toml"], "person", "pending", None),
    ]
    assert shown[1]["approval_id"] == approval_id and shown[1]["reason"] == "document x"
    decided = client.post(f"/approvals/{approval_id}/reject", json={"note": "no"})
    assert decided.status_code == 200, decided.text
    shown = client.get("/runs/gov/governance").json()["requests"]
    assert (shown[1]["decision"], shown[1]["decided_by"]) == ("rejected", "local")
