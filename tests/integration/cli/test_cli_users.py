"""`autopack user add|list|disable`, `apikey create --user`, and the first admin made by
`autopack init` or by the first `apikey create`; each change is recorded as decided by
``cli:<OS user>``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from autopack.api.app import create_app
from autopack.cli.identity import cli_identity, first_admin_name
from autopack.db.database import Database, open_database
from autopack.db.orm import ApiKey, DecisionLog, User
from autopack.settings import Settings
from cli_runner import folded_cli

Result = tuple[int, str]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "users-home"


@pytest.fixture
def autopack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path
) -> Callable[..., Result]:
    """`autopack ARGS` in-process; (exit code, output with whitespace folded)."""
    return folded_cli(monkeypatch, capsys, home)


@pytest.fixture
def database(home: Path) -> Iterator[Database]:
    db = open_database(Settings(home=home))
    yield db
    db.dispose()


def _key_of(output: str) -> str:
    return next(word for word in output.split() if word.startswith("ap_") and len(word) > 20)


def test_the_first_key_makes_the_first_admin_then_a_user_must_be_named(
    autopack: Callable[..., Result], database: Database, home: Path
) -> None:
    admin = first_admin_name()
    code, out = autopack("apikey", "create", "--name", "laptop")
    assert code == 0, out
    assert f"First user: '{admin}' (role admin) created" in out
    admin_key = _key_of(out)

    code, out = autopack("apikey", "create", "--name", "second")
    assert code == 2 and "--user" in out and f"{admin} (admin)" in out, out

    code, out = autopack("user", "add", "bob", "--role", "viewer", "--email", "bob@example.com")
    assert code == 0 and "'bob' added with role viewer" in out, out
    code, out = autopack("apikey", "create", "--name", "bob-phone", "--user", "bob")
    assert code == 0 and "for user 'bob' (viewer)" in out, out
    bob_key = _key_of(out)
    code, out = autopack("apikey", "create", "--user", "nobody")
    assert code == 2 and "no user named 'nobody'" in out

    with database.factory() as session:
        owners = {
            k.name: u.name
            for k, u in session.execute(select(ApiKey, User).join(User, ApiKey.user_id == User.id))
        }
        assert owners == {"laptop": admin, "bob-phone": "bob"}

    # The keys act as their users, with their roles.
    app = create_app(Settings(home=home, database_url=str(database.url)))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/me", headers={"X-API-Key": admin_key}).json()["role"] == "admin"
        me = client.get("/me", headers={"X-API-Key": bob_key}).json()
        assert me == {"identity": "user:bob", "role": "viewer", "user": "bob"}
        assert client.get("/users", headers={"X-API-Key": bob_key}).status_code == 403
        listed = client.get("/users", headers={"X-API-Key": admin_key}).json()
        assert [u["name"] for u in listed] == [admin, "bob"]


def test_user_add_list_disable_and_what_is_recorded(
    autopack: Callable[..., Result], database: Database
) -> None:
    code, out = autopack("user", "add", "carol", "--role", "operator", "--telegram-id", "4242")
    assert code == 0, out
    code, out = autopack("user", "add", "carol", "--role", "viewer")
    assert code == 1 and "already exists" in out
    code, out = autopack("user", "add", "dave", "--role", "boss")
    assert code == 2 and "viewer, operator, admin" in out
    code, out = autopack("user", "add", "bad name", "--role", "viewer")
    assert code == 2 and "not valid" in out
    code, out = autopack("user", "add", "erin", "--role", "viewer", "--telegram-id", "4242")
    assert code == 1 and "already belongs to user 'carol'" in out

    code, out = autopack("user", "list", "--json")
    assert code == 0
    (carol,) = json.loads(out)["users"]
    assert (carol["name"], carol["role"], carol["telegram_user_id"]) == ("carol", "operator", 4242)

    code, out = autopack("user", "disable", "carol")
    assert code == 0 and "disabled" in out
    code, out = autopack("user", "list")
    assert "│ carol │ operator │ yes │" in out, out
    code, out = autopack("user", "disable", "nobody")
    assert code == 2 and "no user named 'nobody'" in out
    code, out = autopack("apikey", "create", "--user", "carol")
    assert code == 2 and "disabled" in out

    with database.factory() as session:
        logged = [
            (d.actor, d.decision, d.run_id)
            for d in session.scalars(select(DecisionLog).order_by(DecisionLog.id))
        ]
    assert logged == [
        (cli_identity(), "user_added", None),
        (cli_identity(), "user_disabled", None),
    ]


def test_init_creates_an_admin_named_after_the_os_user_once(
    autopack: Callable[..., Result], database: Database
) -> None:
    admin = first_admin_name()
    _, out = autopack("init")  # providers may be missing here: the admin is made anyway
    assert f"created admin user '{admin}'" in out, out
    _, out = autopack("init")
    assert f"admin user(s): {admin}" in out and "created admin" not in out
    code, out = autopack("apikey", "create")
    assert code == 2 and "--user" in out  # the admin exists: name whom the key acts as
    code, out = autopack("apikey", "create", "--user", admin)
    assert code == 0 and f"for user '{admin}' (admin)" in out
    with database.factory() as session:
        (user,) = session.scalars(select(User)).all()
        assert (user.name, user.role, user.disabled) == (admin, "admin", False)


def test_apikey_revoke_is_recorded(autopack: Callable[..., Result], database: Database) -> None:
    autopack("apikey", "create", "--name", "old")
    code, out = autopack("apikey", "list")
    assert first_admin_name() in out
    with database.factory() as session:
        key = session.scalars(select(ApiKey)).one()
        key_id = key.id
    code, out = autopack("apikey", "revoke", str(key_id))
    assert code == 0
    with database.factory() as session:
        revoked = session.scalars(
            select(DecisionLog).where(DecisionLog.decision == "apikey_revoked")
        ).one()
        assert revoked.actor == cli_identity() and revoked.details["key_id"] == key_id
