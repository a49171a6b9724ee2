"""Signed, expiring, single-use approve/reject links for channels without buttons.

A link's token is signed with the server's key (``HOME/web_secret``) and names the
approval, the decision, the user it was made out to, its expiry and its own id. Opening
it (GET) shows a confirmation page and decides nothing, since mail scanners fetch links; the
page's POST decides as that user, once: the token's id is recorded in
``decision_tokens`` in the decision's transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

from autopack.db.orm import utcnow
from autopack.errors import ValidationError
from autopack.notifications.base import Action
from autopack.services.notifications import LinkMaker

SALT = "autopack-decision-link"


class LinkRefused(ValidationError):
    """A decision link that is forged, damaged, expired or for another approval."""

    code = "decision_link_refused"


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token says."""

    approval_id: int
    decision: Literal["approve", "reject"]
    user: str
    expires_at: datetime
    token_id: str

    @property
    def approve(self) -> bool:
        return self.decision == "approve"


def make_token(
    secret: bytes,
    approval_id: int,
    decision: Literal["approve", "reject"],
    user: str,
    expires_at: datetime,
) -> str:
    """A signed token for one decision by ``user`` until ``expires_at``."""
    payload = {
        "a": approval_id,
        "d": decision,
        "u": user,
        "e": int(expires_at.timestamp()),
        "j": secrets.token_urlsafe(12),
    }
    return str(URLSafeSerializer(secret, salt=SALT).dumps(payload))


def read_token(
    secret: bytes, token: str, approval_id: int, *, now: datetime | None = None
) -> LinkClaim:
    """The claim a token makes for ``approval_id``; LinkRefused when it is not valid."""
    try:
        data = URLSafeSerializer(secret, salt=SALT).loads(token)
    except BadSignature:
        raise LinkRefused(
            "this link is not valid (damaged or not signed by this server); use the "
            "dashboard's approvals page instead"
        ) from None
    if not isinstance(data, dict) or data.get("d") not in ("approve", "reject"):
        raise LinkRefused("this link is not a decision link")
    if data.get("a") != approval_id:
        raise LinkRefused(f"this link is for another approval, not {approval_id}")
    expires_at = datetime.fromtimestamp(int(data.get("e", 0)), tz=(now or utcnow()).tzinfo)
    if (now or utcnow()) >= expires_at:
        raise LinkRefused(
            f"this link expired at {expires_at.isoformat()}; decide on the dashboard's "
            "approvals page"
        )
    return LinkClaim(
        approval_id=approval_id,
        decision=data["d"],
        user=str(data.get("u", "")),
        expires_at=expires_at,
        token_id=f"link:{data.get('j', '')}",
    )


def link_maker(
    secret: bytes, public_url: str, hours: float, *, now: datetime | None = None
) -> LinkMaker:
    """Make approve/reject actions with links under ``public_url`` valid for ``hours``."""
    base = public_url.rstrip("/")

    def make(approval_id: int, user: str) -> tuple[Action, ...]:
        expires_at = (now or utcnow()) + timedelta(hours=hours)
        actions: list[Action] = []
        decision: Literal["approve", "reject"]
        for decision in ("approve", "reject"):
            token = make_token(secret, approval_id, decision, user, expires_at)
            url = f"{base}/approvals/{approval_id}/link?token={quote(token)}"
            actions.append(Action(decision, approval_id, url))
        return tuple(actions)

    return make
