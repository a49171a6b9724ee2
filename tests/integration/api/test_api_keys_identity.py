"""Keys have identities: they can be revoked through the API, an approval records the key
that decided it (never a name the client chose), and /health tells where the data lives
only to a caller with a key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from access_fixtures import user_key
from autopack.db.orm import Approval, DecisionLog
from autopack.domain.access import Role


def _hold_a_deletion(client: TestClient, result_for: Any, headers: dict[str, str]) -> int:
    deletion = '{"op": "delete", "path": "legacy.py"}'
    response = client.post(
        "/runs/ga/phases/P1/builder_result", json=result_for(deletion), headers=headers
    )
    assert response.json()["phase_state"] == "AWAITING_APPROVAL", response.text
    pending = client.get("/approvals", params={"status": "pending"}, headers=headers)
    approval_id: int = pending.json()["approvals"][0]["id"]
    return approval_id


def test_an_approval_records_the_key_that_decided(
    ga_client: TestClient, in_db: Any, result_for: Any, problem: Any
) -> None:
    with in_db() as session:
        plain, _ = user_key(session, "alice", Role.OPERATOR, name="alice-laptop")
    key = {"X-API-Key": plain}
    approval_id = _hold_a_deletion(ga_client, result_for, key)

    # Who decided is not the client's to say.
    refused = ga_client.post(
        f"/approvals/{approval_id}/approve", json={"decided_by": "bob"}, headers=key
    )
    body = problem(refused, 422, "validation_error")
    assert body["errors"][0]["field"] == "decided_by"
    assert "API key" in body["errors"][0]["message"]

    decided = ga_client.post(
        f"/approvals/{approval_id}/approve", json={"note": "dead code"}, headers=key
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_by"] == "user:alice"
    with in_db() as session:
        stored = session.scalars(select(Approval)).one()
        assert (stored.decided_by, stored.decision_note) == ("user:alice", "dead code")
        logged = session.scalars(
            select(DecisionLog).where(DecisionLog.decision == "approval_approved")
        ).one()
        assert logged.actor == "user:alice"


def test_a_keyless_loopback_server_records_local(ga_client: TestClient, result_for: Any) -> None:
    approval_id = _hold_a_deletion(ga_client, result_for, {})
    decided = ga_client.post(f"/approvals/{approval_id}/reject", json={"note": "keep it"})
    assert decided.status_code == 200 and decided.json()["decided_by"] == "local"


def test_a_key_revoked_through_the_api_is_refused_at_once(
    client: TestClient, in_db: Any, problem: Any
) -> None:
    with in_db() as session:
        admin, _ = user_key(session, "admin")
        leaked, leaked_row = user_key(session, "leaked")
        leaked_id = leaked_row.id
    admin_key = {"X-API-Key": admin}
    assert client.get("/runs", headers={"X-API-Key": leaked}).status_code == 200
    problem(client.delete(f"/apikeys/{leaked_id}"), 401, "unauthorized")

    revoked = client.delete(f"/apikeys/{leaked_id}", headers=admin_key)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] is True and revoked.json()["revoked_by"] == "user:admin"
    problem(client.get("/runs", headers={"X-API-Key": leaked}), 401, "unauthorized")
    assert client.get("/runs", headers=admin_key).status_code == 200
    listed = client.get("/apikeys", headers=admin_key).json()["apikeys"]
    assert [(k["name"], k["user"], k["revoked"]) for k in listed] == [
        ("admin", "admin", False),
        ("leaked", "leaked", True),
    ]
    assert not any("hash" in field for k in listed for field in k)
    problem(client.delete("/apikeys/999", headers=admin_key), 404, "not_found")


def test_health_names_the_database_file_or_host_only_to_a_caller_with_a_key(
    client: TestClient, in_db: Any
) -> None:
    anonymous = client.get("/health").json()
    assert set(anonymous["database"]) == {"driver"}
    assert anonymous["schema_revision"] == anonymous["expected_revision"]
    with in_db() as session:
        plain, _ = user_key(session, "ops")
    keyed = client.get("/health", headers={"Authorization": f"Bearer {plain}"}).json()
    assert keyed["database"]["driver"] == anonymous["database"]["driver"]
    where = keyed["database"]["file"] or keyed["database"]["host"]
    assert where and where not in str(anonymous)
    wrong = client.get("/health", headers={"X-API-Key": "wrong"}).json()
    assert set(wrong["database"]) == {"driver"}


def test_health_on_the_embedded_default_hides_its_path(tmp_path: Path) -> None:
    from autopack.api.app import create_app
    from autopack.settings import Settings

    home = tmp_path / "h"
    with TestClient(create_app(Settings(home=home, api_keys="k1"))) as client:
        assert str(home) not in client.get("/health").text
        keyed = client.get("/health", headers={"X-API-Key": "k1"}).json()
        assert keyed["database"]["file"] == str(home / "autopack.db")
