"""Who may do what: roles, their order, and the caller a request or command acts as.

Roles are ordered: a viewer reads; an operator also starts, cancels, approves and merges
runs; an admin also manages keys, users and settings. A route or action declares the
least role it needs and :func:`allows` decides, so the rule lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def allows(role: Role, needed: Role) -> bool:
    """True when ``role`` may do what needs ``needed``."""
    return _RANK[role] >= _RANK[needed]


@dataclass(frozen=True)
class Principal:
    """The caller: ``identity`` is what is recorded as the actor of its decisions
    (``user:<name>`` for a user's key, ``config-key:<n>``, ``local``), ``user`` the
    Autopack user behind it (None for configured keys and keyless loopback, which act
    as admins: whoever holds the deployment's configuration owns it)."""

    identity: str
    role: Role
    user: str | None = None

    def may(self, needed: Role) -> bool:
        return allows(self.role, needed)
