"""API keys: created by `autopack apikey create`, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.orm import ApiKey, utcnow

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


def any_active_key(session: Session) -> bool:
    return session.scalar(select(ApiKey.id).where(ApiKey.revoked.is_(False)).limit(1)) is not None


def verify_api_key(session: Session, presented: str, configured: list[str]) -> bool:
    """True if ``presented`` is a configured key or an active stored key."""
    if any(hmac.compare_digest(presented, key) for key in configured):
        return True
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == hash_key(presented), ApiKey.revoked.is_(False))
    ).one_or_none()
    if row is None:
        return False
    row.last_used_at = utcnow()
    session.flush()
    return True
