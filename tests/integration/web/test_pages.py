"""The dashboard's pages through the app (no browser): every page renders, sign-in with
an API key, CSRF protection, and the event stream's replay."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from access_fixtures import user_key
from autopack.api.app import create_app
from autopack.db.session import unit_of_work
from autopack.services import apikeys
from autopack.settings import Settings

PAGES = [
    "/ui/",
    "/ui/approvals",
    "/ui/models",
    "/ui/issues",
    "/ui/decisions",
    "/ui/notes",
    "/ui/health",
]


def _start(run_id: str, *phases: str) -> dict[str, Any]:
    return {
        "run": {"run_id": run_id},
        "tiers": [{"tier_id": "T1", "tier_index": 0, "name": "Core"}],
        "phases": [
            {"phase_id": p, "phase_index": i, "tier_id": "T1", "name": f"Phase {p}"}
            for i, p in enumerate(phases)
        ],
    }


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def test_every_page_renders_and_the_board_shows_runs_in_their_column(client: TestClient) -> None:
    assert client.post("/runs/start", json=_start("r-board", "p1", "p2")).status_code == 201
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, (page, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
    board = client.get("/ui/").text
    queued = board.split('id="column-queued"')[1].split("</section>")[0]
    assert "r-board" in queued and "0 / 2" in queued
    run = client.get("/ui/runs/r-board")
    assert run.status_code == 200 and "Phase p1" in run.text and "Phase p2" in run.text
    delivery = client.get("/ui/runs/r-board/delivery")  # no repository: said, not a 500
    assert delivery.status_code == 200 and "repository" in delivery.text
    phase = client.get("/ui/runs/r-board/phases/p1")
    assert phase.status_code == 200 and "No attempts yet" in phase.text
    assert client.get("/").headers.get("location") is None  # followed to the board
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"


def test_unknown_run_is_an_html_404_and_the_api_keeps_json(client: TestClient) -> None:
    page = client.get("/ui/runs/nope")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "nope" in page.text
    api = client.get("/runs/nope")
    assert api.status_code == 404 and api.headers["content-type"].startswith(
        "application/problem+json"
    )


def test_a_form_without_its_csrf_token_is_refused(client: TestClient) -> None:
    html = client.get("/ui/notes").text
    refused = client.post("/ui/notes", data={"note": "hello", "csrf": "forged"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    accepted = client.post("/ui/notes", data={"note": "hello there", "csrf": csrf_of(html)})
    assert accepted.status_code == 200 and "hello there" in accepted.text
    other = TestClient(client.app)  # another browser: no CSRF cookie
    assert other.post("/ui/notes", data={"note": "x", "csrf": csrf_of(html)}).status_code == 403


def test_with_a_key_the_dashboard_asks_for_it_once(settings: Settings) -> None:
    app = create_app(settings)
    with unit_of_work(app.state.session_factory) as session:
        key, _ = user_key(session, "alice")
        user_key(session, "carol")  # so revoking alice's key closes nothing
    with TestClient(app) as client:
        first = client.get("/ui/approvals", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/ui/login?next=/ui/approvals"
        login = client.get(first.headers["location"])
        assert client.get("/events").status_code == 401  # the stream is protected too
        wrong = client.post("/ui/login", data={"key": "ap_wrong", "csrf": csrf_of(login.text)})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        ok = client.post(
            "/ui/login",
            data={"key": key, "csrf": csrf_of(login.text), "next": "/ui/approvals"},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/ui/approvals"
        cookie = ok.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert key not in cookie  # the cookie holds a signed hash, never the key
        page = client.get("/ui/approvals")
        assert page.status_code == 200 and "user:alice" in page.text
        with unit_of_work(app.state.session_factory) as session:
            apikeys.revoke_api_key(session, key[:8], actor="test")
        # Revoking the key ends the session.
        assert client.get("/ui/approvals", follow_redirects=False).status_code == 303


def test_login_never_redirects_off_site(settings: Settings) -> None:
    app = create_app(settings)
    with unit_of_work(app.state.session_factory) as session:
        key, _ = user_key(session, "bob")
    with TestClient(app) as client:
        login = client.get("/ui/login")
        response = client.post(
            "/ui/login",
            data={"key": key, "csrf": csrf_of(login.text), "next": "//evil.example/"},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/ui/"


def test_events_replay_after_last_event_id(client: TestClient) -> None:
    bus = client.app.state.event_bus  # type: ignore[attr-defined]
    first = bus.publish("progress", "r1", line="one")
    bus.publish("progress", "r2", line="other run")
    bus.publish("progress", "r1", line="two")
    bus.publish("run_finished_marker", "r1")
    seen: list[str] = []
    with client.stream(
        "GET", "/events", params={"run_id": "r1"}, headers={"Last-Event-ID": str(first.id)}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                seen.append(line.split(":", 1)[1].strip())
            if "run_finished_marker" in line:
                break
    assert seen == ["progress", "run_finished_marker"]  # "two" and the marker, not r2's


def test_health_lists_only_runs_an_executor_holds(client: TestClient) -> None:
    from datetime import timedelta

    from autopack.db.orm import Run, utcnow
    from autopack.services import board

    for run_id in ("r-held", "r-expired", "r-idle"):
        assert client.post("/runs/start", json=_start(run_id, "p1")).status_code == 201
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        held = session.get(Run, "r-held")
        expired = session.get(Run, "r-expired")
        assert held is not None and expired is not None
        held.lease_owner, held.lease_expires_at = "host:1:a", utcnow() + timedelta(minutes=5)
        expired.lease_owner, expired.lease_expires_at = "host:2:b", utcnow() - timedelta(minutes=5)
    with unit_of_work(factory) as session:
        assert [c["run_id"] for c in board.run_cards(session, executing_only=True)] == ["r-held"]
    health = client.get("/ui/health").text
    assert "r-held" in health and "r-expired" not in health and "r-idle" not in health


def test_the_backlog_is_paged_oldest_first(client: TestClient) -> None:
    from autopack.db.orm import ProjectIssue
    from autopack.services import board

    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        for k in range(board.BACKLOG_PAGE + 5):
            session.add(ProjectIssue(issue_key=f"issue-{k:04d}", age_in_runs=k))
    first = client.get("/ui/issues").text
    assert f"Issues 1\u2013{board.BACKLOG_PAGE} of {board.BACKLOG_PAGE + 5}" in first
    assert "issue-0204" in first and "issue-0004" not in first  # the oldest first
    rest = client.get(f"/ui/issues?offset={board.BACKLOG_PAGE}").text
    assert "issue-0004" in rest and "issue-0000" in rest and "issue-0204" not in rest
    assert client.get("/ui/issues?offset=-1").status_code == 422
