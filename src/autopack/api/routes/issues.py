"""Issue index of a run and the project backlog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from autopack.api.deps import SessionDep
from autopack.services import issues as issue_service
from autopack.services.runs import get_run

router = APIRouter(tags=["issues"])


@router.get("/runs/{run_id}/issues/index", responses={404: {"description": "Unknown run"}})
def run_issue_index(run_id: str, session: SessionDep) -> dict[str, Any]:
    """The run's distinct issues by key, with the phases and tiers they were seen in."""
    get_run(session, run_id)
    return issue_service.run_issue_index(session, run_id)


@router.get("/project/issues/backlog")
def project_backlog(session: SessionDep) -> dict[str, Any]:
    """Every issue ever recorded, de-duplicated by key, with its age and status."""
    return issue_service.project_backlog(session)
