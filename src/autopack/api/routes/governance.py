"""A run's governance requests: what its Builders asked to change that is protected."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from autopack.api.deps import SessionDep
from autopack.services import governance as governance_service
from autopack.services.runs import get_run

router = APIRouter(tags=["runs"])

_ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown run"}}


class GovernanceRequestRead(BaseModel):
    """One request (one risk class of one Builder request) and its decision."""

    id: int
    run_id: str
    phase_id: str
    attempt_id: int | None = Field(description="The Builder attempt whose answer asked.")
    paths: list[str]
    reason: str = Field(description="Why the Builder says it needs the paths.")
    risk: str = Field(description="unprotected, low, person or critical (the policy's class).")
    why: str = Field(description="The policy's rule for each path.")
    decision: str = Field(
        description="not_needed, approved, pending, rejected, refused or expired."
    )
    decided_by: str | None = Field(
        description="policy:governance, policy:expiry, or the identity of the person."
    )
    decided_at: datetime | None
    approval_id: int | None = Field(description="The approval a person decides (risk person).")
    requested_at: datetime


class GovernanceList(BaseModel):
    run_id: str
    requests: list[GovernanceRequestRead]


@router.get("/runs/{run_id}/governance", response_model=GovernanceList, responses=_ERRORS)
def list_governance(run_id: str, session: SessionDep) -> GovernanceList:
    """The run's governance requests, oldest first: each protected path a Builder asked
    to change, how the policy classed it (tests and docs: approved automatically; other
    protected files: a person decides through the approvals; critical paths: refused)
    and the decision, who made it and when. 404 for an unknown run."""
    get_run(session, run_id)
    rows = governance_service.list_requests(session, run_id)
    return GovernanceList(
        run_id=run_id, requests=[GovernanceRequestRead.model_validate(r) for r in rows]
    )
