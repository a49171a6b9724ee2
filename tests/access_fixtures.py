"""Users with keys, for tests: every stored key belongs to a user."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.orm import ApiKey, User
from autopack.domain.access import Role
from autopack.services import apikeys, users


def user_key(
    session: Session, user: str, role: Role = Role.ADMIN, *, name: str | None = None
) -> tuple[str, ApiKey]:
    """A new key (plain, row) of ``user``, who is created with ``role`` if missing."""
    owner = session.scalars(select(User).where(User.name == user)).one_or_none()
    if owner is None:
        owner = users.create_user(session, user, role, actor="test-setup")
    return apikeys.create_api_key(session, name or user, owner)
