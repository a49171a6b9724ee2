"""Users: created with a role, found, disabled; names and Telegram ids are unique; the
migration gives keys that existed before users an admin owner."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from autopack.db import migrate
from autopack.db.session import make_engine, unit_of_work
from autopack.domain.access import Principal, Role, allows
from autopack.errors import DuplicateError, NotFoundError, ValidationError
from autopack.services import users


def test_roles_are_ordered() -> None:
    assert allows(Role.ADMIN, Role.OPERATOR) and allows(Role.OPERATOR, Role.VIEWER)
    assert not allows(Role.VIEWER, Role.OPERATOR) and not allows(Role.OPERATOR, Role.ADMIN)
    assert Principal("user:ann", Role.OPERATOR, "ann").may(Role.OPERATOR)


def test_create_find_disable(session_factory: sessionmaker[Session]) -> None:
    with unit_of_work(session_factory) as session:
        users.create_user(session, "ann", Role.OPERATOR, telegram_user_id=42)
        assert not users.any_admin(session)
        users.create_user(session, "root", Role.ADMIN)
        assert users.any_admin(session)
    with unit_of_work(session_factory) as session:
        ann = users.user_by_telegram_id(session, 42)
        assert ann is not None and ann.name == "ann" and ann.role == "operator"
        users.disable_user(session, "ann")
        assert users.user_by_telegram_id(session, 42) is None
        assert users.find_user(session, "ann").disabled


def test_bad_input_is_refused_with_a_reason(session_factory: sessionmaker[Session]) -> None:
    with unit_of_work(session_factory) as session:
        users.create_user(session, "ann", Role.VIEWER, telegram_user_id=7)
        with pytest.raises(DuplicateError, match="already exists"):
            users.create_user(session, "ann", Role.ADMIN)
        with pytest.raises(DuplicateError, match="Telegram id 7"):
            users.create_user(session, "bob", Role.ADMIN, telegram_user_id=7)
        with pytest.raises(ValidationError, match="not valid"):
            users.create_user(session, "-x y", Role.ADMIN)
        with pytest.raises(NotFoundError, match="autopack user list"):
            users.find_user(session, "nobody")
        assert [u.name for u in users.list_users(session)] == ["ann"]
    with pytest.raises(ValidationError, match="viewer, operator, admin"):
        users.parse_role("root")
    assert users.parse_role(" Operator ") is Role.OPERATOR


def test_keys_from_before_users_get_an_admin_owner(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, "0006")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO api_keys (name, key_hash, prefix) VALUES ('ci', 'h', 'ap_x')")
        )
    migrate.upgrade(engine)
    with engine.begin() as conn:
        owner = conn.execute(
            text("SELECT u.name, u.role FROM api_keys k JOIN users u ON u.id = k.user_id")
        ).one()
    assert tuple(owner) == ("admin", "admin")
    engine.dispose()
