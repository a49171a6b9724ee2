"""Users: the people (and bot accounts) that own API keys and make decisions.

A user has a name (how decisions name them: ``user:<name>``), a role (viewer, operator,
admin; see :mod:`autopack.domain.access`) and optional addresses where notifications
reach them (an email, a Telegram user id, which is also how a Telegram button press is
mapped back to them). Users are disabled, never deleted, so every recorded decision
keeps naming someone who existed.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.orm import User, utcnow
from autopack.domain.access import Role
from autopack.errors import DuplicateError, NotFoundError, ValidationError
from autopack.services.decisions import record_decision

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def parse_role(value: str) -> Role:
    """A role from user input; ValidationError naming the choices otherwise."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValidationError(
            f"unknown role {value!r}; choose one of {choices}", field="role"
        ) from None


def create_user(
    session: Session,
    name: str,
    role: Role,
    *,
    email: str | None = None,
    telegram_user_id: int | None = None,
    actor: str = "system",
) -> User:
    """A new active user; DuplicateError when the name (or Telegram id) is taken. The
    decision log records ``actor`` (the identity of whoever added the user; ``system``
    for set-up code that acts for nobody in particular)."""
    if not _NAME.match(name):
        raise ValidationError(
            f"user name {name!r} is not valid: 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit",
            field="name",
        )
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise DuplicateError(f"a user named {name!r} already exists", user=name)
    if telegram_user_id is not None:
        owner = session.scalar(select(User.name).where(User.telegram_user_id == telegram_user_id))
        if owner is not None:
            raise DuplicateError(
                f"Telegram id {telegram_user_id} already belongs to user {owner!r}", user=name
            )
    user = User(name=name, role=role.value, email=email, telegram_user_id=telegram_user_id)
    session.add(user)
    session.flush()
    record_decision(
        session,
        actor=actor,
        decision="user_added",
        rationale=f"user {name!r} added with role {role.value}",
        user=name,
        role=role.value,
    )
    return user


def find_user(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise NotFoundError(f"no user named {name!r}; `autopack user list` shows them", user=name)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def any_admin(session: Session) -> bool:
    """True when an active admin exists (the first `apikey create` makes one otherwise)."""
    query = select(User.id).where(User.role == Role.ADMIN.value, User.disabled.is_(False))
    return session.scalar(query.limit(1)) is not None


def disable_user(session: Session, name: str, *, actor: str = "system") -> User:
    """Disable a user: their keys stop working at once; ``actor`` is recorded as who did
    it. Disabling twice changes nothing."""
    user = find_user(session, name)
    if not user.disabled:
        user.disabled = True
        user.disabled_at = utcnow()
        record_decision(
            session, actor=actor, decision="user_disabled", rationale=f"user {name!r} disabled"
        )
        session.flush()
    return user


def user_by_telegram_id(session: Session, telegram_user_id: int) -> User | None:
    """The active user a Telegram account belongs to, if any."""
    query = select(User).where(User.telegram_user_id == telegram_user_id, User.disabled.is_(False))
    return session.scalars(query).one_or_none()


def user_view(user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "email": user.email,
        "telegram_user_id": user.telegram_user_id,
        "created_at": user.created_at.isoformat(),
    }
