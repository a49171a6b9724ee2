"""Runs: create (original RunStartRequest or a RunSpec), list, read, status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from autopack.api.deps import RunCreationLimit, SessionDep, SettingsDep
from autopack.api.schemas import RunList, RunListItem, RunResponse, RunStartRequest, RunStatus
from autopack.domain.plan import MAX_COUNT, RunSpec, spec_from_run_start
from autopack.domain.states import PhaseState, RunState
from autopack.planning.validation import check_for_creation
from autopack.services import runs as run_service

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
    return RunResponse.of(run_service.get_run(session, run.id))


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
    return RunResponse.of(run_service.get_run(session, run.id))


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


@router.get("/runs/{run_id}/status", response_model=RunStatus, responses=_ERRORS)
def run_status(run_id: str, session: SessionDep) -> RunStatus:
    """State, phase counts by state, tokens and the current phase."""
    run = run_service.get_run(session, run_id)
    ordered = sorted(run.phases, key=lambda p: (p.tier.tier_index, p.phase_index))
    terminal = {s.value for s in PhaseState if s.is_terminal}
    current = next((p.phase_id for p in ordered if p.state not in terminal), None)
    return RunStatus(
        run_id=run.id,
        state=run.state,
        failure_reason=run.failure_reason,
        tokens_used=run.tokens_used,
        token_cap=run.token_cap,
        phase_counts=run_service.phase_counts(run),
        total_phases=len(run.phases),
        current_phase_id=current,
        cancel_requested=run.cancel_requested,
        executing=run.lease_owner is not None,
        branch=run.branch,
        started_at=run.started_at,
        completed_at=run.completed_at,
    )
