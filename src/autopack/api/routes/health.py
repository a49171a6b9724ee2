"""GET /health: service identity, version, database identity and schema revision."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from autopack import __version__
from autopack.api.schemas import HealthResponse
from autopack.db import migrate
from autopack.db.database import Database
from autopack.db.session import describe_database
from autopack.services import apikeys

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"description": "The database is unusable"}},
)
def health(request: Request) -> JSONResponse:
    """Liveness and identity. 503 when the database cannot be queried or its schema
    revision differs from the code's."""
    db: Database = request.app.state.database
    expected = migrate.head_revision()
    revision: str | None = None
    status, code = "ok", 200
    settings = request.app.state.settings
    has_keys = bool(settings.plain_api_keys())
    try:
        revision = migrate.current_revision(db.engine)
        if not has_keys:
            with db.factory() as session:
                has_keys = apikeys.any_active_key(session)
    except Exception:  # any database failure means "unusable"; /health must still answer
        status, code = "degraded", 503
    if revision != expected:
        status, code = "degraded", 503
    body = HealthResponse(
        status=status,
        version=__version__,
        database=describe_database(db.engine),
        schema_revision=revision,
        expected_revision=expected,
        # Without keys a loopback server is open to local users; any other is closed.
        auth="api_key" if has_keys else "loopback_only" if settings.is_loopback else "closed",
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=code)
