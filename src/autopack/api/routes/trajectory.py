"""A run's trajectory: every model call with its messages, answer, usage and context."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from autopack.api.deps import SessionDep, SettingsDep
from autopack.api.trajectory_schemas import TrajectoryPage
from autopack.domain.plan import MAX_COUNT
from autopack.services import trajectory as trajectory_service

router = APIRouter(tags=["runs"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown run, or no such phase or call in it"},
}


@router.get("/runs/{run_id}/trajectory", response_model=TrajectoryPage, responses=_ERRORS)
def get_trajectory(
    run_id: str,
    session: SessionDep,
    settings: SettingsDep,
    phase_id: Annotated[str | None, Query(description="Only this phase's calls")] = None,
    call: Annotated[int | None, Query(ge=1, le=MAX_COUNT, description="Only this call")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_COUNT)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TrajectoryPage:
    """The run's model calls in call order (Builder, Auditor, goal checks, Doctor,
    continuations and re-asks): messages as sent (secrets redacted), answer, stop reason,
    usage and cost, latency, retries, error, and the context decisions behind the prompt.

    404 for an unknown run, a phase the run does not have, or a call number it has not
    made. A run that has made no call yet answers an empty page."""
    page = trajectory_service.read_trajectory(
        session,
        run_id,
        runs_dir=settings.runs_dir,
        phase_id=phase_id,
        call=call,
        offset=offset,
        limit=limit,
    )
    return TrajectoryPage.of(page.run_id, page.total, offset, limit, page.calls)
