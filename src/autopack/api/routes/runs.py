"""Runs: create (original RunStartRequest or a RunSpec), list, read, status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from autopack.api.deps import FactoryDep, RunCreationLimit, SessionDep, SettingsDep
from autopack.api.polled import NOT_MODIFIED, answer_json
from autopack.api.schemas import (
    PhaseList,
    PhaseResponse,
    RunList,
    RunListItem,
    RunResponse,
    RunStartRequest,
    RunStatus,
)
from autopack.domain.plan import MAX_COUNT, RunSpec, spec_from_run_start
from autopack.domain.states import PhaseState, RunState
from autopack.planning.validation import check_for_creation
from autopack.services import run_status as run_status_service
from autopack.services import runs as run_service
from autopack.services.run_status import read_run_status

router = APIRouter(tags=["runs"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown run"},
    409: {"description": "Conflict"},
    422: {"description": "Invalid plan"},
}


@router.post(
    "/runs/start",
    response_model=RunResponse,
    status_code=201,
    dependencies=[RunCreationLimit],
    responses=_ERRORS,
)
def start_run(body: RunStartRequest, session: SessionDep, settings: SettingsDep) -> RunResponse:
    """Create a run from the original's RunStartRequest (run, tiers, phases).

    422 naming the field for an unknown field anywhere in the body."""
    spec = spec_from_run_start(body.model_dump())
    check_for_creation(spec)
    run = run_service.create_run(session, spec, runs_dir=settings.runs_dir)
    return RunResponse.of(run)  # in index order already: no read back (see create_run)


@router.post(
    "/runs",
    response_model=RunResponse,
    status_code=201,
    dependencies=[RunCreationLimit],
    responses=_ERRORS,
)
def create_run(spec: RunSpec, session: SessionDep, settings: SettingsDep) -> RunResponse:
    """Create a run from a RunSpec (the plan contract).

    422 naming the field for an unknown field anywhere in the body, a `repo` that is not
    an absolute path to an existing git repository's top, and a scope path, deliverable,
    read-only context path or protected path that is absolute or leaves the repository
    (`..`)."""
    check_for_creation(spec)
    run = run_service.create_run(session, spec, runs_dir=settings.runs_dir)
    return RunResponse.of(run)  # in index order already: no read back (see create_run)


@router.get("/runs", response_model=RunList)
def list_runs(
    session: SessionDep,
    state: RunState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_COUNT)] = 0,
) -> RunList:
    """Runs, newest first; filter by ``state``."""
    rows, total = run_service.list_runs(session, state=state, limit=limit, offset=offset)
    return RunList(total=total, limit=limit, offset=offset, runs=[RunListItem.of(r) for r in rows])


@router.get("/runs/{run_id}", response_model=RunResponse, responses=_ERRORS)
def get_run(run_id: str, session: SessionDep) -> RunResponse:
    """A run with its tiers (each with its phases) and a top-level ``phases`` list."""
    return RunResponse.of(run_service.get_run(session, run_id))


@router.get(
    "/runs/{run_id}/status", response_model=RunStatus, responses={**_ERRORS, **NOT_MODIFIED}
)
async def run_status(run_id: str, request: Request, factory: FactoryDep) -> Response:
    """State, phase counts by state, tokens and the current phase (the first, by tier and
    phase index, not yet COMPLETE, FAILED or SKIPPED).

    Made to be polled: answered from counts in the database, in the same few queries
    whatever the number of phases. The phases themselves are `GET /runs/{run_id}/phases`.
    The answer has an `ETag`; send it back as `If-None-Match` to get 304 while the status
    is unchanged."""
    return await answer_json(request, factory, lambda session: run_status_of(session, run_id))


def run_status_of(session: Session, run_id: str) -> RunStatus:
    view = read_run_status(session, run_id)
    return RunStatus(
        run_id=view.run_id,
        state=view.state,
        failure_reason=view.failure_reason,
        tokens_used=view.tokens_used,
        token_cap=view.token_cap,
        phase_counts=view.phase_counts,
        total_phases=view.total_phases,
        current_phase_id=view.current.phase_id if view.current else None,
        cancel_requested=view.cancel_requested,
        executing=view.executing,
        branch=view.branch,
        started_at=view.started_at,
        completed_at=view.completed_at,
    )


@router.get("/runs/{run_id}/phases", response_model=PhaseList, responses=_ERRORS)
def list_phases(
    run_id: str,
    session: SessionDep,
    state: PhaseState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_COUNT)] = 0,
) -> PhaseList:
    """A page of the run's phases in execution order (tier, then phase index), with
    `total` for the filter; filter by `state`. Page with `offset` += `limit` while
    `offset` < `total`."""
    rows, total = run_status_service.phase_page(
        session, run_id, state=state, limit=limit, offset=offset
    )
    return PhaseList(
        run_id=run_id,
        total=total,
        limit=limit,
        offset=offset,
        phases=[PhaseResponse.of(phase, tier_id) for phase, tier_id in rows],
    )
