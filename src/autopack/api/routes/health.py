"""GET /health: service identity, version, database identity, schema revision, and where
runs execute (with the number of alive and stale workers)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from autopack import __version__
from autopack.api.deps import presented_key
from autopack.api.schemas import HealthResponse, WorkersSummary
from autopack.db import migrate
from autopack.db.database import Database
from autopack.db.session import describe_database, unit_of_work
from autopack.services import apikeys
from autopack.services import workers as worker_service
from autopack.settings import Settings

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"description": "The database is unusable"}},
)
def health(request: Request) -> JSONResponse:
    """Liveness and identity. 503 when the database cannot be queried or its schema
    revision differs from the code's.

    Needs no key. Without a valid key `database` gives only the database's kind
    (`driver`); with one (X-API-Key or Authorization: Bearer) it also gives the `host`,
    `file` and `database` name, which tell a stranger where the data lives."""
    db: Database = request.app.state.database
    expected = migrate.head_revision()
    revision: str | None = None
    status, code = "ok", 200
    settings = request.app.state.settings
    has_keys = bool(settings.plain_api_keys())
    presented = presented_key(request)
    authenticated = False
    workers: WorkersSummary | None = None
    try:
        revision = migrate.current_revision(db.engine)
        with unit_of_work(db.factory) as session:
            has_keys = has_keys or apikeys.any_active_key(session)
            authenticated = presented is not None and (
                apikeys.identify_api_key(session, presented, settings.plain_api_keys()) is not None
            )
            workers = _workers_summary(session, settings)
    except Exception:  # any database failure means "unusable"; /health must still answer
        status, code = "degraded", 503
        # A configured key needs no database to be recognized.
        authenticated = presented is not None and any(
            hmac.compare_digest(presented, key) for key in settings.plain_api_keys()
        )
    if revision != expected:
        status, code = "degraded", 503
    body = HealthResponse(
        status=status,
        version=__version__,
        database=_database_identity(db, full=authenticated),
        schema_revision=revision,
        expected_revision=expected,
        # Without keys a loopback server is open to local users; any other is closed.
        auth="api_key" if has_keys else "loopback_only" if settings.is_loopback else "closed",
        workers=workers,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


def _workers_summary(session: Session, settings: Settings) -> WorkersSummary:
    views = worker_service.list_workers(
        session, stale_after=settings.worker_stale_seconds, include_stopped=False
    )
    alive = [v for v in views if v.status == "alive"]
    return WorkersSummary(
        execution="queue" if settings.uses_job_queue else "local",
        alive=len(alive),
        stale=len(views) - len(alive),
        busy_runs=sum(len(v.current_runs) for v in alive),
    )


def _database_identity(db: Database, *, full: bool) -> dict[str, str | None]:
    described = describe_database(db.engine)
    return described if full else {"driver": described["driver"]}
