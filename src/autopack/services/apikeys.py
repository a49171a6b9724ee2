"""API keys: created by `autopack apikey create --user NAME`, stored only as SHA-256
hashes, revoked by id or prefix.

A stored key belongs to a user and acts as that user: with the user's role, and only
while the user is active (disabling a user stops their keys at once). The caller a key
stands for is a :class:`~autopack.domain.access.Principal`; its *identity* is what
Autopack records as the actor of what the key did (an approval's ``decided_by``, a
decision's ``actor``): ``user:<name>`` for a user's key, ``config-key:<n>`` for the n-th
(1-based) key of AUTOPACK_API_KEYS (no part of a configured key is ever recorded) and
``local`` for a request to a keyless loopback server; those two act as admins (whoever
holds the deployment's configuration or its machine owns it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.orm import ApiKey, User, utcnow
from autopack.domain.access import Principal, Role
from autopack.errors import NotFoundError, ValidationError
from autopack.services import users
from autopack.services.decisions import record_decision

KEY_PREFIX = "ap_"


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough; no password stretching.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(session: Session, name: str, user: User) -> tuple[str, ApiKey]:
    """Create a key that acts as ``user``; returns the plain key (shown once) and its
    stored row."""
    if user.disabled:
        raise ValidationError(
            f"user {user.name!r} is disabled; a key of theirs would not work", field="user"
        )
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=hash_key(plain), prefix=plain[:8], user_id=user.id)
    session.add(row)
    session.flush()
    return plain, row


def owner_for_new_key(
    session: Session, user_name: str | None, first_admin: str, *, actor: str
) -> User:
    """The user a new key will act as: ``user_name``, or, when none is named and no user
    exists yet, a new admin named ``first_admin`` (the deployment's first admin, recorded
    as added by ``actor``). Once users exist a name is required: ValidationError listing
    them."""
    if user_name:
        return users.find_user(session, user_name)
    existing = users.list_users(session)
    if not existing:
        return users.create_user(session, first_admin, Role.ADMIN, actor=actor)
    names = ", ".join(f"{u.name} ({u.role}{', disabled' if u.disabled else ''})" for u in existing)
    raise ValidationError(
        f"name the user the key acts as with --user NAME; users: {names} "
        "(`autopack user add NAME --role ROLE` adds one)",
        field="user",
    )


# Every authenticated request asks this: built once, executed with parameters.
_ANY_ACTIVE = select(ApiKey.id).where(ApiKey.revoked.is_(False)).limit(1)

#: ``last_used_at`` is recorded to this resolution: a write per request would serialize
#: every authenticated request on SQLite's one writer, for a date people read in days.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def any_active_key(session: Session) -> bool:
    return session.connection().execute(_ANY_ACTIVE).scalar() is not None


LOCAL_IDENTITY = "local"


#: Who a keyless loopback server's callers are: the machine's users, acting as admins.
LOCAL_PRINCIPAL = Principal(LOCAL_IDENTITY, Role.ADMIN)


def _configured_principal(index: int) -> Principal:
    return Principal(f"config-key:{index}", Role.ADMIN)


def _stored_key(session: Session, key_hash: str) -> tuple[ApiKey, Principal] | None:
    """An unrevoked stored key whose user is active, and the principal it acts as. A key
    without an owner (impossible after migration 0007 gave every key one) acts as no one."""
    found = session.execute(
        select(ApiKey, User)
        .join(User, ApiKey.user_id == User.id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked.is_(False), User.disabled.is_(False))
    ).one_or_none()
    if found is None:
        return None
    row, user = found
    return row, Principal(f"user:{user.name}", Role(user.role), user=user.name)


def authenticate_key(
    session: Session, presented: str, configured: list[str], *, now: datetime | None = None
) -> Principal | None:
    """The principal ``presented`` acts as if it is a configured key or an active stored
    key of an active user, else None. A stored key's ``last_used_at`` is moved to ``now``
    when it is older than :data:`LAST_USED_RESOLUTION` (so most requests only read)."""
    for index, key in enumerate(configured, start=1):
        if hmac.compare_digest(presented, key):
            return _configured_principal(index)
    found = _stored_key(session, hash_key(presented))
    if found is None:
        return None
    row, principal = found
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.flush()
    return principal


def identify_api_key(
    session: Session, presented: str, configured: list[str], *, now: datetime | None = None
) -> str | None:
    """The identity of ``presented`` (see :func:`authenticate_key`), else None."""
    principal = authenticate_key(session, presented, configured, now=now)
    return None if principal is None else principal.identity


def find_api_key(session: Session, ref: str) -> ApiKey:
    """A stored key by its id (``3``) or its prefix (``ap_AbCd1``, as `apikey list` shows
    it); NotFoundError when none matches, ValidationError when a prefix matches several."""
    ref = ref.strip()
    if ref.isdigit():
        row = session.get(ApiKey, int(ref)) if int(ref) <= 2**63 - 1 else None
        if row is None:
            raise NotFoundError(
                f"no API key with id {ref}; `autopack apikey list` shows the keys", key=ref
            )
        return row
    if len(ref) < 4:
        raise ValidationError(
            f"{ref!r} is too short to name a key; give its id or at least 4 characters of "
            "its prefix",
            field="key",
        )
    matching = select(ApiKey).where(ApiKey.prefix.startswith(ref, autoescape=True))
    rows = list(session.scalars(matching))
    if not rows:
        raise NotFoundError(
            f"no API key whose prefix starts with {ref!r}; `autopack apikey list` shows the keys",
            key=ref,
        )
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise ValidationError(
            f"prefix {ref!r} matches keys {ids}; give the id instead", field="key"
        )
    return rows[0]


def revoke_api_key(session: Session, ref: str, *, actor: str) -> ApiKey:
    """Revoke a stored key by id or prefix (see :func:`find_api_key`); the key stops working
    at once, and ``actor`` is recorded as who revoked it. Revoking a revoked key changes
    nothing. Keys from AUTOPACK_API_KEYS are not stored and cannot be revoked here: remove
    them from the environment."""
    row = find_api_key(session, ref)
    if not row.revoked:
        row.revoked = True
        record_decision(
            session,
            actor=actor,
            decision="apikey_revoked",
            rationale=f"key {row.id} {row.name!r} ({row.prefix}...) revoked",
            key_id=row.id,
            prefix=row.prefix,
        )
    session.flush()
    return row


def list_api_keys(session: Session) -> list[tuple[ApiKey, str | None]]:
    """Stored keys, oldest first, each with its owner's name."""
    query = select(ApiKey, User.name).outerjoin(User, ApiKey.user_id == User.id)
    return [(row, owner) for row, owner in session.execute(query.order_by(ApiKey.id))]


def key_view(row: ApiKey, owner: str | None = None) -> dict[str, object]:
    """A stored key as people and clients see it: never its hash."""
    return {
        "id": row.id,
        "name": row.name,
        "user": owner,
        "prefix": row.prefix,
        "created_at": row.created_at.isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "revoked": row.revoked,
    }


def authenticate_key_hash(
    session: Session, key_hash: str, configured: list[str]
) -> Principal | None:
    """The principal of the key whose SHA-256 is ``key_hash`` (what a dashboard session
    cookie holds instead of the key), or None when that key is unknown or revoked, or its
    user is disabled."""
    for index, key in enumerate(configured, start=1):
        if hmac.compare_digest(hash_key(key), key_hash):
            return _configured_principal(index)
    found = _stored_key(session, key_hash)
    return None if found is None else found[1]
