"""Approvals: list pending changes that need a person, approve or reject them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from autopack.api.deps import FactoryDep, SessionDep
from autopack.db.orm import Run
from autopack.db.session import unit_of_work
from autopack.domain.states import ApprovalStatus, RunState
from autopack.services import approvals as approval_service
from autopack.services.approvals import ApproveHook

router = APIRouter(tags=["approvals"])
#: Ids beyond 64-bit integers cannot exist; refusing them keeps drivers from overflowing.
ApprovalId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown approval"},
    409: {"description": "Already decided"},
}


class Decision(BaseModel):
    decided_by: str = Field(default="api", max_length=128)
    note: str = Field(default="", max_length=5000)


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
    approval_id: ApprovalId, factory: FactoryDep, request: Request, body: Decision | None = None
) -> dict[str, Any]:
    """Approve: the held change is applied and the phase continues (a run this server was
    executing resumes)."""
    return _decide(approval_id, True, body or Decision(), factory, request)


@router.post("/approvals/{approval_id}/reject", responses=_ERRORS)
def reject(
    approval_id: ApprovalId, factory: FactoryDep, request: Request, body: Decision | None = None
) -> dict[str, Any]:
    """Reject: the held change is discarded and the Builder is told why."""
    return _decide(approval_id, False, body or Decision(), factory, request)


def _decide(
    approval_id: int,
    approve: bool,
    body: Decision,
    factory: sessionmaker[Session],
    request: Request,
) -> dict[str, Any]:
    with unit_of_work(factory) as session:
        approval = approval_service.decide(
            session,
            approval_id,
            approve=approve,
            by=body.decided_by,
            note=body.note,
            apply=_hook(request),
        )
        view = approval_service.approval_view(approval)
        run = session.get(Run, approval.run_id)
        parked = (
            run is not None
            and run.state == RunState.PHASE_EXECUTION.value
            and (run.lease_owner is None)
            and run.repo_path is not None
        )
    # Committed: a run parked for this decision continues in the background.
    pool = getattr(request.app.state, "executor_pool", None)
    if pool is not None and parked:
        pool.submit(view["run_id"])
    return view
