"""Users (admins): list, add, disable; and ``GET /me`` (anyone: who am I, my role).

Keys are created on the command line (`autopack apikey create --user NAME`), so a leaked
admin key can add a user but cannot mint a key for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from autopack.api.deps import AuthDep, SessionDep
from autopack.db.orm import User
from autopack.domain.access import Role
from autopack.services import users

router = APIRouter(tags=["users"])
UserName = Annotated[str, PathParam(min_length=1, max_length=64, description="The user's name")]


class UserRead(BaseModel):
    id: int
    name: str
    role: Role
    disabled: bool
    email: str | None
    telegram_user_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserRead:
        return cls.model_validate(users.user_view(user))


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=64,
        examples=["alice"],
        description="Letters, digits, '.', '_', '@' or '-', starting with a letter or digit.",
    )
    role: Role = Field(examples=["operator"])
    email: str | None = Field(default=None, max_length=255)
    telegram_user_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class Me(BaseModel):
    identity: str = Field(description="What decisions record as their actor.")
    role: Role
    user: str | None = Field(
        description="The Autopack user behind the key; null for a configured key "
        "(AUTOPACK_API_KEYS) or a keyless loopback server, which act as admin."
    )


@router.get("/me", response_model=Me, summary="Who am I")
def me(principal: AuthDep) -> Me:
    """The caller as the server sees it: identity, role and user. Any role may ask."""
    return Me(identity=principal.identity, role=principal.role, user=principal.user)


@router.get("/users", response_model=list[UserRead], summary="List users")
def list_users(session: SessionDep) -> list[UserRead]:
    """Every user, oldest first, disabled ones included (admins only)."""
    return [UserRead.of(u) for u in users.list_users(session)]


@router.post(
    "/users",
    response_model=UserRead,
    status_code=201,
    summary="Add a user",
    responses={409: {"description": "The name or Telegram id is taken"}},
)
def add_user(body: UserCreate, session: SessionDep, principal: AuthDep) -> UserRead:
    """Add a user with a role (admins only); the decision log records who added them.
    Give them a key with `autopack apikey create --user NAME`."""
    user = users.create_user(
        session,
        body.name,
        body.role,
        email=body.email,
        telegram_user_id=body.telegram_user_id,
        actor=principal.identity,
    )
    return UserRead.of(user)


@router.post(
    "/users/{name}/disable",
    response_model=UserRead,
    summary="Disable a user",
    responses={404: {"description": "Unknown user"}},
)
def disable_user(name: UserName, session: SessionDep, principal: AuthDep) -> UserRead:
    """Disable a user (admins only): their keys and dashboard sessions stop working from
    the next request on. Users are never deleted, so past decisions keep their name."""
    return UserRead.of(users.disable_user(session, name, actor=principal.identity))
