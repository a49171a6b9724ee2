"""Executing runs in the background, cancelling them, and their integration branch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from autopack.api.deps import AuthDep, FactoryDep, SessionDep, SettingsDep
from autopack.db.session import unit_of_work
from autopack.executor.pool import ExecutionPool
from autopack.llm.preflight import require_usable_providers
from autopack.services import execution, integration
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
    run_id: str, request: Request, factory: FactoryDep, settings: SettingsDep, principal: AuthDep
) -> JSONResponse:
    """Start (or resume) executing a run in the background: with PostgreSQL a job for
    `autopack worker` processes (`where: "queue"`; asked again while it waits, it answers
    `accepted: false`, "already queued"), on SQLite the server's own pool (`where:
    "local"`); AUTOPACK_EXECUTION overrides. The providers the run would use are checked
    first (configured, keyed, answering): a problem is a 400 before any branch, worktree or
    baseline exists. Follow it with GET /runs/{run_id}/status; stop it with
    POST /runs/{run_id}/cancel. The decision log records who asked."""
    with unit_of_work(factory) as session:
        execution.check_executable(session, run_id)
    require_usable_providers(settings)
    submission = execution.submit_run(
        factory,
        settings,
        run_id,
        local=_pool(request).submit,
        queue=getattr(request.app.state, "run_queue", None),
        actor=principal.identity,
    )
    return JSONResponse(
        {
            "run_id": run_id,
            "state": submission.state,
            "accepted": submission.accepted,
            "where": submission.where,
            "message": submission.message,
        },
        status_code=202,
    )


@router.post("/runs/{run_id}/cancel", status_code=202, responses=_ERRORS)
def cancel(run_id: str, session: SessionDep, principal: AuthDep) -> dict[str, Any]:
    """Ask a run to stop at its next step (a run that is not executing stops now); the
    decision log records who asked."""
    run = run_service.request_cancel(session, run_id, actor=principal.identity)
    return {"run_id": run_id, "state": run.state, "cancel_requested": True}


@router.get("/runs/{run_id}/integration_status", responses=_ERRORS)
def integration_status(run_id: str, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The run's branch, its commits and savepoints, and whether its worktree is clean."""
    return integration.integration_status(session, run_id, settings)
