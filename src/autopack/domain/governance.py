"""Governance requests: the Builder asks to change a protected path, and says why.

Pure types shared by the parser (agents), the policy (workspace/governance.py), the
services that record requests and the pages that show them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Risk(StrEnum):
    """How the policy classes a requested path."""

    #: Not protected: no request was needed (recorded all the same).
    UNPROTECTED = "unprotected"
    #: Tests and docs: approved automatically.
    LOW = "low"
    #: Any other protected path: a person decides (an Approval of kind ``governance``).
    PERSON = "person"
    #: Autopack's own configuration, migrations the project marks critical, secrets and
    #: CI workflows that use them: refused, whoever asks.
    CRITICAL = "critical"


class GovernanceDecision(StrEnum):
    """Where a request stands (``governance_requests.decision``)."""

    NOT_NEEDED = "not_needed"
    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"
    REFUSED = "refused"
    EXPIRED = "expired"


#: Who decides automatically, in ``decided_by`` and the decision log.
POLICY_ACTOR = "policy:governance"
#: The approval kind of a request that waits for a person.
GOVERNANCE_KIND = "governance"


class AccessRequest(BaseModel):
    """One request in a Builder answer: the paths it needs to change and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    paths: tuple[str, ...] = Field(min_length=1, max_length=50)
    reason: str = Field(default="", max_length=2000)
