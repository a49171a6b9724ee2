"""GET /workers: the registered `autopack worker` processes and their liveness."""

from __future__ import annotations

from fastapi import APIRouter, Query

from autopack.api.deps import SessionDep, SettingsDep
from autopack.api.schemas import WorkerRead
from autopack.services import workers as worker_service

router = APIRouter(tags=["workers"])


@router.get("/workers", response_model=list[WorkerRead])
def list_workers(
    session: SessionDep,
    settings: SettingsDep,
    include_stopped: bool = Query(False, description="Also list workers that shut down cleanly."),
) -> list[WorkerRead]:
    """Workers, newest first: host, pid, version, status (alive or stale by heartbeat
    age against AUTOPACK_WORKER_STALE_SECONDS, or stopped) and the runs each executes
    now. Empty on a deployment without remote workers (SQLite executes runs locally)."""
    views = worker_service.list_workers(
        session, stale_after=settings.worker_stale_seconds, include_stopped=include_stopped
    )
    return [WorkerRead.model_validate(v.to_dict()) for v in views]
