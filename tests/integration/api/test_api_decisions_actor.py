"""Every decision records who made it: model overrides (global and per run), cancel,
human notes, merges, users added and disabled, keys revoked, execution requested; each
lands in the decision log with the caller's identity as its actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from access_fixtures import user_key
from autopack.api.app import create_app
from autopack.db.orm import DecisionLog, Run
from autopack.db.session import unit_of_work
from autopack.domain.access import Role
from autopack.errors import NotFoundError
from autopack.services import execution
from autopack.settings import Settings
from delivery_fixtures import Runs, make_user_repo


@pytest.fixture
def world(settings: Settings) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], int]]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        with unit_of_work(app.state.session_factory) as session:
            keys = {
                r.value: {"X-API-Key": user_key(session, r.value, r)[0]}
                for r in (Role.OPERATOR, Role.ADMIN)
            }
            _, spare = user_key(session, "spare", Role.VIEWER)
            spare_id = spare.id
        yield client, keys, spare_id


def _decisions(client: TestClient) -> list[tuple[str, str, str | None]]:
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        rows = session.scalars(select(DecisionLog).order_by(DecisionLog.id)).all()
        # Users made by the fixture are recorded as added by "test-setup": not under test.
        return [(d.actor, d.decision, d.run_id) for d in rows if d.actor != "test-setup"]


def _run(client: TestClient, headers: dict[str, str], run_id: str) -> None:
    start: dict[str, Any] = {
        "run": {"run_id": run_id},
        "tiers": [{"tier_id": "T1", "tier_index": 0, "name": "T1"}],
        "phases": [{"phase_id": "p1", "phase_index": 0, "tier_id": "T1", "name": "P1"}],
    }
    assert client.post("/runs/start", json=start, headers=headers).status_code == 201


def test_operator_decisions_name_the_operator(
    world: tuple[TestClient, dict[str, dict[str, str]], int],
) -> None:
    client, keys, _ = world
    operator = keys["operator"]
    _run(client, operator, "r1")
    override = {"role": "builder", "complexity": "high", "model": "gpt-5"}
    for body in (override, {**override, "scope": "run", "run_id": "r1"}):
        response = client.post("/dashboard/models/override", json=body, headers=operator)
        assert response.status_code == 200, response.text
    noted = client.post("/dashboard/human-notes", json={"note": "use httpx"}, headers=operator)
    assert noted.status_code == 200, noted.text
    assert client.post("/runs/r1/cancel", headers=operator).status_code == 202
    assert _decisions(client) == [
        ("user:operator", "model_override", None),
        ("user:operator", "model_override", "r1"),
        ("user:operator", "human_note", None),
        ("user:operator", "cancel_requested", "r1"),
    ]


def test_admin_decisions_name_the_admin(
    world: tuple[TestClient, dict[str, dict[str, str]], int],
) -> None:
    client, keys, spare_id = world
    admin = keys["admin"]
    added = client.post("/users", json={"name": "zoe", "role": "operator"}, headers=admin)
    assert added.status_code == 201 and added.json()["role"] == "operator", added.text
    duplicate = client.post("/users", json={"name": "zoe", "role": "viewer"}, headers=admin)
    assert duplicate.status_code == 409
    bad = client.post("/users", json={"name": "zed", "role": "boss"}, headers=admin)
    assert bad.status_code == 422 and "role" in bad.text
    disabled = client.post("/users/zoe/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert client.post("/users/nobody/disable", headers=admin).status_code == 404
    assert client.delete(f"/apikeys/{spare_id}", headers=admin).status_code == 200
    assert client.delete(f"/apikeys/{spare_id}", headers=admin).status_code == 200  # no-op
    assert _decisions(client) == [
        ("user:admin", "user_added", None),
        ("user:admin", "user_disabled", None),
        ("user:admin", "apikey_revoked", None),
    ]


def test_a_merge_by_a_users_key_names_the_user(settings: Settings, tmp_path: Any) -> None:
    repo = make_user_repo(tmp_path)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        factory = app.state.session_factory
        with unit_of_work(factory) as session:
            plain, _ = user_key(session, "mia", Role.OPERATOR)
        Runs(factory, settings, repo).finished()
        merged = client.post("/runs/r1/merge", headers={"X-API-Key": plain})
        assert merged.status_code == 200, merged.text
        assert ("user:mia", "merged", "r1") in _decisions(client)


def test_execution_requested_by_a_person_is_recorded_and_a_continuation_is_not(
    settings: Settings, world: tuple[TestClient, dict[str, dict[str, str]], int]
) -> None:
    client, keys, _ = world
    _run(client, keys["operator"], "r2")
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        run = session.get(Run, "r2")
        assert run is not None
        run.repo_path = str(settings.home)  # only checked to be set; the pool is a stub
    local = settings.model_copy(update={"execution": "local"})
    started: list[str] = []

    def pool(run_id: str) -> bool:
        started.append(run_id)
        return True

    execution.submit_run(factory, local, "r2", local=pool, actor="user:operator")
    execution.submit_run(factory, local, "r2", local=pool)  # e.g. after an approval
    assert started == ["r2", "r2"]
    assert _decisions(client) == [("user:operator", "execution_requested", "r2")]


def test_a_resume_from_the_command_line_is_recorded_for_a_known_run_only(
    world: tuple[TestClient, dict[str, dict[str, str]], int],
) -> None:
    """What `autopack run --resume` records before it executes (``where``: cli)."""
    client, keys, _ = world
    _run(client, keys["operator"], "r3")
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        execution.record_execution_request(session, "r3", actor="cli:tester", where="cli")
    with pytest.raises(NotFoundError), unit_of_work(factory) as session:
        execution.record_execution_request(session, "nope", actor="cli:tester", where="cli")
    assert _decisions(client) == [("cli:tester", "execution_requested", "r3")]
