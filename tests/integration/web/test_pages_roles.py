"""The dashboard checks roles like the API: a viewer signed in sees no form it cannot
use, a forged post (with a valid CSRF token) is refused with a 403 page and changes
nothing; an operator decides, and the decision names the user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from access_fixtures import user_key
from autopack.api.app import create_app
from autopack.db.orm import Approval, DecisionLog, HumanNote
from autopack.db.session import unit_of_work
from autopack.domain.access import Role
from autopack.services import users
from autopack.services.approvals import request_approval
from autopack.services.phases import get_phase
from autopack.settings import Settings


@dataclass
class Dashboard:
    client: TestClient
    keys: dict[str, str]
    approval_id: int


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


@pytest.fixture
def dashboard(settings: Settings) -> Iterator[Dashboard]:
    app = create_app(settings)
    factory = app.state.session_factory
    with TestClient(app, raise_server_exceptions=False) as client:
        with unit_of_work(factory) as session:
            keys = {r.value: user_key(session, r.value, r)[0] for r in Role}
        start = {
            "run": {"run_id": "web-r"},
            "tiers": [{"tier_id": "T1", "tier_index": 0, "name": "Core"}],
            "phases": [{"phase_id": "P1", "phase_index": 0, "tier_id": "T1", "name": "One"}],
        }
        created = client.post("/runs/start", json=start, headers={"X-API-Key": keys["admin"]})
        assert created.status_code == 201, created.text
        with unit_of_work(factory) as session:
            phase = get_phase(session, "web-r", "P1")
            approval = request_approval(
                session, phase, kind="human_review", reason="look at it", details={}
            )
            approval_id = approval.id
        yield Dashboard(client, keys, approval_id)


def _sign_in(client: TestClient, key: str) -> None:
    login = client.get("/ui/login")
    signed = client.post(
        "/ui/login", data={"key": key, "csrf": _csrf(login.text)}, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text


def test_a_viewer_sees_no_decision_form_and_a_forged_post_is_refused(
    dashboard: Dashboard,
) -> None:
    client = dashboard.client
    _sign_in(client, dashboard.keys["viewer"])
    page = client.get("/ui/approvals")
    assert page.status_code == 200
    assert "user:viewer" in page.text and "(viewer)" in page.text
    assert "look at it" in page.text  # a viewer reads what waits
    assert "Approve</button>" not in page.text and "Reject</button>" not in page.text
    assert "deciding needs an operator" in page.text
    for path in ("/ui/", "/ui/notes", "/ui/models", "/ui/runs/web-r"):
        shown = client.get(path).text
        assert 'method="post" action="/ui/' not in shown.replace('action="/ui/logout"', ""), (
            f"{path} shows a viewer a form it cannot use"
        )

    # The viewer copies the form by hand: the CSRF token is valid, the role is not.
    forged = client.post(
        f"/ui/approvals/{dashboard.approval_id}/approve",
        data={"csrf": _csrf(page.text), "note": "sneaky"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert "Not allowed" in forged.text and "needs operator" in forged.text
    note = client.post(
        "/ui/notes", data={"csrf": _csrf(page.text), "note": "x"}, follow_redirects=False
    )
    assert note.status_code == 403
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        approval = session.get(Approval, dashboard.approval_id)
        assert approval is not None and approval.status == "pending"
        assert session.scalars(select(HumanNote)).all() == []


def test_an_operator_decides_and_the_decision_names_the_user(dashboard: Dashboard) -> None:
    client = dashboard.client
    _sign_in(client, dashboard.keys["operator"])
    page = client.get("/ui/approvals")
    assert "Approve</button>" in page.text
    decided = client.post(
        f"/ui/approvals/{dashboard.approval_id}/reject",
        data={"csrf": _csrf(page.text), "note": "not like this"},
        follow_redirects=False,
    )
    assert decided.status_code == 303, decided.text
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        approval = session.get(Approval, dashboard.approval_id)
        assert approval is not None and approval.decided_by == "user:operator"
        logged = session.scalars(
            select(DecisionLog).where(DecisionLog.decision == "approval_rejected")
        ).one()
        assert logged.actor == "user:operator"
    decisions = client.get("/ui/decisions").text
    assert "user:operator" in decisions
    # Decisions about no run (users added by the fixture) show no link to a run.
    assert "(no run)" in decisions and 'href="/ui/runs/None"' not in decisions


def test_disabling_a_user_ends_their_dashboard_session_at_once(dashboard: Dashboard) -> None:
    client = dashboard.client
    _sign_in(client, dashboard.keys["operator"])
    assert client.get("/ui/approvals", follow_redirects=False).status_code == 200
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        users.disable_user(session, "operator", actor="user:admin")
    gone = client.get("/ui/approvals", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/ui/login")
    refused = client.get("/runs", headers={"X-API-Key": dashboard.keys["operator"]})
    assert refused.status_code == 401
