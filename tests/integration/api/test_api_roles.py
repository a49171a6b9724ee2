"""Roles on every route: the access table covers every route the app serves, and each
route, called for real by a viewer, an operator, an admin and a caller with no key, is
used or refused exactly as the table says. The table in docs/operations.md ("Roles") is
the one the code enforces."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from access_fixtures import user_key
from autopack.api.access import (
    OWN_AUTH,
    PUBLIC,
    ROUTE_ACCESS,
    needed_for,
    registered_routes,
    render_markdown,
)
from autopack.api.app import create_app
from autopack.api.deps import require_role
from autopack.db.orm import DecisionLog
from autopack.db.session import unit_of_work
from autopack.domain.access import Role, allows
from autopack.settings import Settings

CALLERS: tuple[str | None, ...] = ("viewer", "operator", "admin", None)
OPERATIONS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
_counter = itertools.count()


@dataclass
class World:
    client: TestClient
    keys: dict[str, str]
    spare_key_id: int
    csrf: str


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        factory = app.state.session_factory
        with unit_of_work(factory) as session:
            keys = {role.value: user_key(session, role.value, role)[0] for role in Role}
            _, spare = user_key(session, "spare", Role.VIEWER)
            spare_id = spare.id
        admin = {"X-API-Key": keys["admin"]}
        run = {
            "run": {"run_id": "r1"},
            "tiers": [{"tier_id": "T1", "tier_index": 0, "name": "T1"}],
            "phases": [{"phase_id": "p1", "phase_index": 0, "tier_id": "T1", "name": "P1"}],
        }
        assert client.post("/runs/start", json=run, headers=admin).status_code == 201
        login = client.get("/ui/login")
        found = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert found, login.text
        yield World(client, keys, spare_id, found.group(1))


def _path(template: str, world: World) -> str:
    values = {
        "run_id": "r1",
        "phase_id": "p1",
        "approval_id": "1",
        "key_id": str(world.spare_key_id),
        "name": "spare",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def _json_body(path: str) -> dict[str, Any]:
    if path == "/users":
        return {"name": f"new-{next(_counter)}", "role": "viewer"}
    return {}


def _form(path: str, world: World) -> dict[str, str]:
    form = {"csrf": world.csrf}
    if path == "/ui/login":
        form["key"] = world.keys["admin"]  # signing in is open to anyone holding a key
    if path == "/ui/notes":
        form["note"] = "a note"
    return form


def _call(world: World, method: str, template: str, caller: str | None) -> Any:
    client = world.client
    headers = {"X-API-Key": world.keys[caller]} if caller else {}
    path = _path(template, world)
    if template == "/ui/static":
        path = "/ui/static/app.css"
    elif template == "/docs/static":
        path = "/docs/static/swagger-ui.css"
    if template == "/events":
        with client.stream("GET", path, headers=headers) as response:
            if response.status_code == 200:
                client.app.state.event_bus.publish("progress", "r1", line="x")  # type: ignore[attr-defined]
                next(response.iter_lines())
            return response
    if method == "GET" or method == "*":
        return client.get(path, headers=headers, follow_redirects=False)
    if template.startswith("/ui/"):
        return client.post(
            path, data=_form(template, world), headers=headers, follow_redirects=False
        )
    return client.request(method, path, json=_json_body(template), headers=headers)


def _outcome(response: Any) -> str:
    """allowed, forbidden (the role check's 403) or login (no valid key: 401, or a page's
    redirect to the login form)."""
    status = response.status_code
    # Sign-out's own redirect goes to /ui/login too, without ?next=.
    if status == 303 and response.headers.get("location", "").startswith("/ui/login?next="):
        return "login"
    if status == 401:
        return "login"
    if status == 403:
        return "forbidden"
    return "allowed"


def _expected(needed: Role | str, caller: str | None) -> str:
    if needed in (PUBLIC, OWN_AUTH):
        return "allowed"
    if caller is None:
        return "login"
    assert isinstance(needed, Role)
    return "allowed" if allows(Role(caller), needed) else "forbidden"


def test_every_route_has_an_entry_and_every_entry_a_route(settings: Settings) -> None:
    served = set(registered_routes(create_app(settings)))
    missing = sorted(served - set(ROUTE_ACCESS))
    assert not missing, f"routes without a role in api/access.py ROUTE_ACCESS: {missing}"
    stale = sorted(set(ROUTE_ACCESS) - served)
    assert not stale, f"ROUTE_ACCESS names routes the app does not serve: {stale}"


def test_each_route_is_used_or_refused_by_each_role_as_the_table_says(world: World) -> None:
    """The route x role table, called for real: a route a role may use is never refused
    (401/403); one it may not is refused with the role check's 403 (problem code
    ``forbidden``, or the dashboard's "Not allowed" page), never run."""
    mismatches: list[str] = []
    calls = 0
    for (method, template), needed in ROUTE_ACCESS.items():
        for caller in CALLERS:
            response = _call(world, method, template, caller)
            calls += 1
            got, want = _outcome(response), _expected(needed, caller)
            if got != want:
                mismatches.append(
                    f"{method} {template} as {caller or 'no key'}: {want} expected, got "
                    f"{response.status_code} {response.text[:160]!r}"
                )
            elif got == "forbidden":
                is_page = template.startswith("/ui/")
                assert (
                    ("Not allowed" in response.text)
                    if is_page
                    else (response.json()["code"] == "forbidden")
                ), response.text
    assert not mismatches, "\n".join(mismatches)
    assert calls == 4 * len(ROUTE_ACCESS)


def test_a_route_missing_from_the_table_is_refused_to_everyone(world: World) -> None:
    assert needed_for("GET", "/nowhere") is None
    app = world.client.app
    assert isinstance(app, FastAPI)

    @app.get("/unlisted", dependencies=[Depends(require_role)])
    def unlisted() -> dict[str, str]:
        return {"ok": "yes"}

    refused = world.client.get("/unlisted", headers={"X-API-Key": world.keys["admin"]})
    assert refused.status_code == 403 and "no entry in the access table" in refused.text


def test_a_viewer_cannot_change_anything_and_nothing_is_recorded(world: World) -> None:
    viewer = {"X-API-Key": world.keys["viewer"]}
    refused = world.client.post("/runs/r1/cancel", headers=viewer)
    body = refused.json()
    assert refused.status_code == 403 and body["code"] == "forbidden"
    assert "user:viewer" in body["detail"] and "operator" in body["detail"]
    state = world.client.get("/runs/r1/status", headers=viewer).json()
    assert state["cancel_requested"] is False
    factory = world.client.app.state.session_factory  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        assert session.scalars(select(DecisionLog).where(DecisionLog.run_id == "r1")).all() == []


def test_me_tells_each_caller_who_it_is(world: World) -> None:
    for role in ("viewer", "operator", "admin"):
        me = world.client.get("/me", headers={"X-API-Key": world.keys[role]}).json()
        assert me == {"identity": f"user:{role}", "role": role, "user": role}


def test_the_docs_role_table_is_the_enforced_one() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    begin, end = "<!-- roles-table:begin -->\n", "<!-- roles-table:end -->"
    assert begin in text and end in text, "docs/operations.md lacks the Roles table markers"
    shown = text.split(begin, 1)[1].split(end, 1)[0]
    assert shown == render_markdown(), (
        "docs/operations.md's Roles table differs from api/access.py; regenerate it with "
        "`python -c 'from autopack.api.access import render_markdown; "
        'print(render_markdown(), end="")\'`'
    )


def test_the_table_follows_the_policy() -> None:
    """Viewers read; whatever changes something needs an operator; keys and users need an
    admin. (The table test above checks enforcement against the table; this pins the
    table to the policy, so a relaxed entry is caught too.)"""
    for (method, path), needed in ROUTE_ACCESS.items():
        if needed == OWN_AUTH:
            # Each checks its own credential, then the role of the user it names.
            assert path in {"/telegram/webhook", "/approvals/{approval_id}/link"}, path
        elif needed == PUBLIC:
            assert path in {
                "/health",
                "/openapi.json",
                "/docs",
                "/docs/static",
                "/",
                "/ui/static",
            } or (path in {"/ui/login", "/ui/logout"}), f"{method} {path} is public"
        elif path.startswith(("/apikeys", "/users")):
            assert needed is Role.ADMIN, f"{method} {path} manages keys or users"
        elif method == "GET":
            assert needed is Role.VIEWER, f"{method} {path} only reads"
        else:
            assert needed is Role.OPERATOR, f"{method} {path} changes something"
