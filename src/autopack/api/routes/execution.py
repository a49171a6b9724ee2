"""Executing runs in the background, cancelling them, and their integration branch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from autopack.api.deps import FactoryDep, SessionDep, SettingsDep
from autopack.db.orm import utcnow
from autopack.db.session import unit_of_work
from autopack.domain.states import RunState
from autopack.errors import ConfigurationError, IllegalTransition, LeaseHeld
from autopack.executor.pool import ExecutionPool
from autopack.llm.preflight import require_usable_providers
from autopack.services import integration
from autopack.services import runs as run_service

router = APIRouter(tags=["execution"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown run"},
    409: {"description": "The run is finished or already executing"},
    400: {
        "description": "No usable LLM provider (unknown name, missing key, server not "
        "answering): nothing was started; the problem's detail names the URL and the fix"
    },
    422: {"description": "The run has no target repository"},
}


def _pool(request: Request) -> ExecutionPool:
    pool: ExecutionPool = request.app.state.executor_pool
    return pool


@router.post("/runs/{run_id}/execute", status_code=202, responses=_ERRORS)
def execute(
    run_id: str, request: Request, factory: FactoryDep, settings: SettingsDep
) -> JSONResponse:
    """Start (or resume) executing a run in the background. Follow it with
    GET /runs/{run_id}/status; stop it with POST /runs/{run_id}/cancel. The providers the
    run would use are checked first (configured, keyed, answering): a problem is a 400
    before any branch, worktree or baseline exists."""
    with unit_of_work(factory) as session:
        run = run_service.get_run(session, run_id)
        if run.state == RunState.DONE_SUCCESS.value:
            raise IllegalTransition(
                f"run {run_id!r} already finished successfully",
                current=run.state,
                requested=RunState.PHASE_EXECUTION.value,
                allowed=[],
            )
        if not run.repo_path:
            raise ConfigurationError(
                f"run {run_id!r} has no target repository; create it with a RunSpec whose "
                "`repo` names a local git repository"
            )
        live = run.lease_expires_at is not None and run.lease_expires_at > utcnow()
        if run.lease_owner and live:
            raise LeaseHeld(
                f"run {run_id!r} is already executing ({run.lease_owner})", run_id=run_id
            )
        state = run.state
    require_usable_providers(settings)
    if not _pool(request).submit(run_id):
        raise LeaseHeld(f"run {run_id!r} is already executing in this server", run_id=run_id)
    return JSONResponse(
        {
            "run_id": run_id,
            "state": state,
            "accepted": True,
            "message": f"run {run_id} is executing; follow it with GET /runs/{run_id}/status",
        },
        status_code=202,
    )


@router.post("/runs/{run_id}/cancel", status_code=202, responses=_ERRORS)
def cancel(run_id: str, session: SessionDep) -> dict[str, Any]:
    """Ask a run to stop at its next step (a run that is not executing stops now)."""
    run = run_service.request_cancel(session, run_id)
    return {"run_id": run_id, "state": run.state, "cancel_requested": True}


@router.get("/runs/{run_id}/integration_status", responses=_ERRORS)
def integration_status(run_id: str, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The run's branch, its commits and savepoints, and whether its worktree is clean."""
    return integration.integration_status(session, run_id, settings)
