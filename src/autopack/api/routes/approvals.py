"""Approvals: list pending changes that need a person, approve or reject them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import Session, sessionmaker

from autopack.api.deps import AuthDep, FactoryDep, SessionDep, run_continuer
from autopack.domain.states import ApprovalStatus
from autopack.services import approvals as approval_service
from autopack.services.approval_decisions import decide_and_continue
from autopack.services.approvals import ApproveHook

router = APIRouter(tags=["approvals"])
#: Ids beyond 64-bit integers cannot exist; refusing them keeps drivers from overflowing.
ApprovalId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown approval"},
    409: {"description": "Already decided"},
}


class Decision(BaseModel):
    """A decision's note. Who decided is not part of it: the server records the identity of
    the API key that sent the request (``user:<name>`` for a user's key,
    ``config-key:<n>``, or ``local`` on a keyless loopback server)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=5000)
    #: Not part of the contract (hidden from the schema): declared only so that a client
    #: that still sends it is told why it is refused, under its own name.
    decided_by: SkipJsonSchema[Any] = None

    @field_validator("decided_by", mode="before")
    @classmethod
    def _no_client_identity(cls, value: Any) -> Any:
        raise PydanticCustomError(
            "decided_by_refused",
            "decided_by is recorded by the server from the API key that decides; "
            "remove it from the body",
        )


def _hook(request: Request) -> ApproveHook | None:
    hook: ApproveHook | None = getattr(request.app.state, "approve_hook", None)
    return hook


@router.get("/approvals")
def list_approvals(
    session: SessionDep, status: ApprovalStatus | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Approvals, oldest first; filter by ``status`` (pending, approved, rejected)."""
    rows = approval_service.list_approvals(session, status=status, run_id=run_id)
    return {"approvals": [approval_service.approval_view(a) for a in rows]}


@router.post("/approvals/{approval_id}/approve", responses=_ERRORS)
def approve(
    approval_id: ApprovalId,
    factory: FactoryDep,
    request: Request,
    identity: AuthDep,
    body: Decision | None = None,
) -> dict[str, Any]:
    """Approve: the held change is applied and the phase continues (a run this server was
    executing resumes). `decided_by` is the identity of the API key that sent the request;
    a body naming `decided_by` is refused (422)."""
    return _decide(approval_id, True, body or Decision(), identity.identity, factory, request)


@router.post("/approvals/{approval_id}/reject", responses=_ERRORS)
def reject(
    approval_id: ApprovalId,
    factory: FactoryDep,
    request: Request,
    identity: AuthDep,
    body: Decision | None = None,
) -> dict[str, Any]:
    """Reject: the held change is discarded and the Builder is told why. `decided_by` is
    the identity of the API key that sent the request; a body naming it is refused (422)."""
    return _decide(approval_id, False, body or Decision(), identity.identity, factory, request)


def _decide(
    approval_id: int,
    approve: bool,
    body: Decision,
    identity: str,
    factory: sessionmaker[Session],
    request: Request,
) -> dict[str, Any]:
    view = decide_and_continue(
        factory,
        approval_id,
        approve=approve,
        by=identity,
        note=body.note,
        apply=_hook(request),
        continue_run=run_continuer(request),
    )
    view.pop("continued", None)
    return view
