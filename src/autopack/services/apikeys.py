"""API keys: created by `autopack apikey create`, stored only as SHA-256 hashes, revoked
by id or prefix.

A key's *identity* is what Autopack records as the actor of what the key did (an
approval's ``decided_by``): ``key:<name>:<prefix>`` for a stored key (the prefix is
stored anyway and names no secret), ``config-key:<n>`` for the n-th (1-based) key of
AUTOPACK_API_KEYS (no part of a configured key is ever recorded), and ``local`` for a
request to a keyless loopback server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import String, bindparam, select
from sqlalchemy.orm import Session

from autopack.db.orm import ApiKey, utcnow
from autopack.errors import NotFoundError, ValidationError

KEY_PREFIX = "ap_"


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough; no password stretching.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(session: Session, name: str) -> tuple[str, ApiKey]:
    """Create a key; returns the plain key (shown once) and its stored row."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=hash_key(plain), prefix=plain[:8])
    session.add(row)
    session.flush()
    return plain, row


# Every authenticated request runs these two: built once, executed with parameters.
_ANY_ACTIVE = select(ApiKey.id).where(ApiKey.revoked.is_(False)).limit(1)
_ACTIVE_BY_HASH = select(ApiKey).where(
    ApiKey.key_hash == bindparam("key_hash", type_=String), ApiKey.revoked.is_(False)
)

#: ``last_used_at`` is recorded to this resolution: a write per request would serialize
#: every authenticated request on SQLite's one writer, for a date people read in days.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def any_active_key(session: Session) -> bool:
    return session.connection().execute(_ANY_ACTIVE).scalar() is not None


LOCAL_IDENTITY = "local"


def identify_api_key(
    session: Session, presented: str, configured: list[str], *, now: datetime | None = None
) -> str | None:
    """The identity of ``presented`` if it is a configured key or an active stored key,
    else None. A stored key's ``last_used_at`` is moved to ``now`` when it is older than
    :data:`LAST_USED_RESOLUTION` (so most requests only read)."""
    for index, key in enumerate(configured, start=1):
        if hmac.compare_digest(presented, key):
            return f"config-key:{index}"
    row = session.scalars(_ACTIVE_BY_HASH, {"key_hash": hash_key(presented)}).one_or_none()
    if row is None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.flush()
    return f"key:{row.name}:{row.prefix}"


def verify_api_key(session: Session, presented: str, configured: list[str]) -> bool:
    """True if ``presented`` is a configured key or an active stored key."""
    return identify_api_key(session, presented, configured) is not None


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


def revoke_api_key(session: Session, ref: str) -> ApiKey:
    """Revoke a stored key by id or prefix (see :func:`find_api_key`); the key stops working
    at once. Revoking a revoked key changes nothing. Keys from AUTOPACK_API_KEYS are not
    stored and cannot be revoked here: remove them from the environment."""
    row = find_api_key(session, ref)
    row.revoked = True
    session.flush()
    return row


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def key_view(row: ApiKey) -> dict[str, object]:
    """A stored key as people and clients see it: never its hash."""
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": row.created_at.isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "revoked": row.revoked,
    }


def identify_key_hash(session: Session, key_hash: str, configured: list[str]) -> str | None:
    """The identity of the key whose SHA-256 is ``key_hash`` (what a dashboard session
    cookie holds instead of the key), or None when that key is unknown or revoked."""
    for index, key in enumerate(configured, start=1):
        if hmac.compare_digest(hash_key(key), key_hash):
            return f"config-key:{index}"
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked.is_(False))
    ).one_or_none()
    return None if row is None else f"key:{row.name}:{row.prefix}"
