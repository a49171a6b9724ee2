"""Approvals: list pending changes that need a person, approve or reject them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from autopack.api.deps import SessionDep
from autopack.domain.states import ApprovalStatus
from autopack.services import approvals as approval_service
from autopack.services.approvals import ApproveHook

router = APIRouter(tags=["approvals"])
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
    approval_id: int, session: SessionDep, request: Request, body: Decision | None = None
) -> dict[str, Any]:
    """Approve: the held change is applied and the phase continues."""
    body = body or Decision()
    approval = approval_service.decide(
        session, approval_id, approve=True, by=body.decided_by, note=body.note, apply=_hook(request)
    )
    _resume(request, approval.run_id)
    return approval_service.approval_view(approval)


@router.post("/approvals/{approval_id}/reject", responses=_ERRORS)
def reject(
    approval_id: int, session: SessionDep, request: Request, body: Decision | None = None
) -> dict[str, Any]:
    """Reject: the held change is discarded and the Builder is told why."""
    body = body or Decision()
    approval = approval_service.decide(
        session, approval_id, approve=False, by=body.decided_by, note=body.note
    )
    _resume(request, approval.run_id)
    return approval_service.approval_view(approval)


def _resume(request: Request, run_id: str) -> None:
    """If this server was executing the run, continue it once the decision is committed."""
    pool = getattr(request.app.state, "executor_pool", None)
    if pool is not None:
        pool.resume_after_commit(run_id)
