"""The FastAPI application: one factory, one place where exceptions become HTTP.

Every error leaves as ``application/problem+json`` (RFC 9457) with a stable ``code``, a
``detail`` that says what to do, and the request id (also in the ``X-Request-ID`` header).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autopack import __version__
from autopack.api.access_log import AccessLogMiddleware
from autopack.api.origin_guard import OriginGuardMiddleware
from autopack.api.problems import problem
from autopack.db.database import Database, open_database
from autopack.errors import (
    ApplyRejected,
    AutopackError,
    ConflictError,
    Forbidden,
    InvalidStoredState,
    NotFoundError,
    SchemaMismatch,
    StorageUnavailable,
    ValidationError,
)
from autopack.services.event_relay import event_bus_for
from autopack.settings import Settings

log = logging.getLogger("autopack.api")

#: HTTP status by exception class; the first matching entry wins.
STATUS_BY_ERROR: list[tuple[type[AutopackError], int]] = [
    (NotFoundError, 404),
    (Forbidden, 403),
    (InvalidStoredState, 409),
    (ConflictError, 409),
    (ApplyRejected, 422),
    (ValidationError, 422),
    (SchemaMismatch, 503),
    (StorageUnavailable, 503),
    (AutopackError, 400),
]


def _status_for(exc: AutopackError) -> int:
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(exc, cls))


async def _autopack_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutopackError)
    extra: dict[str, Any] = {
        k: v
        for k, v in exc.context.items()
        if isinstance(v, str | int | float | bool | list | dict)
    }
    if isinstance(exc, InvalidStoredState):
        extra["repair"] = "autopack db repair --yes"
    response = problem(request, _status_for(exc), exc.code, exc.message, **extra)
    if getattr(exc, "retry_after", None):
        response.headers["Retry-After"] = str(int(getattr(exc, "retry_after", 0)))
    return response


def _field_path(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "body"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return problem(
                request,
                400,
                "malformed_json",
                f"the request body is not valid JSON: {err.get('msg', '')} "
                f"(at position {err.get('loc', ['', '?'])[-1]})",
            )
        errors.append(
            {
                "field": _field_path(err.get("loc", ())),
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
        )
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem(request, 422, "validation_error", f"invalid request: {summary}", errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {
        404: "not_found",
        405: "method_not_allowed",
        401: "unauthorized",
        403: "forbidden",
        413: "payload_too_large",
        429: "rate_limited",
    }.get(exc.status_code, "http_error")
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; see /docs for the API"
    response = problem(request, exc.status_code, code, detail)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, IntegrityError):
        return problem(
            request,
            409,
            "conflict",
            "the change conflicts with stored data (a duplicate or a missing "
            "reference); reload and retry",
        )
    if isinstance(exc, DataError):
        # The database refused a value (out of range for its column, a NUL character in
        # text on PostgreSQL): bad input, not an unavailable database.
        return problem(
            request,
            422,
            "invalid_value",
            "the database refused a value in the request (out of range, or a "
            f"character it cannot store): {str(exc.orig).splitlines()[0]}",
        )
    log.exception("database error", exc_info=exc)
    return problem(
        request,
        503,
        "storage_unavailable",
        "the database could not complete the request; check GET /health",
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        request,
        500,
        "internal_error",
        "Autopack hit an unexpected error; nothing you sent was lost if it was "
        "acknowledged. Report this with the request id.",
    )


class BodyLimitMiddleware:
    """Refuse bodies over ``limit`` bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            response = problem(
                None,
                413,
                "payload_too_large",
                self._detail(),
                request_id=scope.get("state", {}).get("request_id"),
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # An HTTPException: FastAPI re-raises it from body parsing (any other
                    # exception there becomes a 400), and the app's handler answers it.
                    raise StarletteHTTPException(413, self._detail())
            return message

        await self.app(scope, limited, send)

    def _detail(self) -> str:
        return f"the request body exceeds {self.limit} bytes (AUTOPACK_MAX_BODY_BYTES)"


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """Build the API for ``settings``. Opens (and for the embedded default, creates and
    upgrades) the database unless one is given."""
    db = database or open_database(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from autopack.api.expiry import expiry_loop

        listener = None
        if db.engine.dialect.name == "postgresql":
            # Events of workers and `autopack run` in other processes reach SSE clients.
            from autopack.services.event_relay import PgEventListener, libpq_url

            listener = PgEventListener(app.state.event_bus, libpq_url(db.engine))
            await asyncio.to_thread(listener.start)
        app.state.event_listener = listener
        sender = app.state.notification_sender.start()
        stop_expiry = asyncio.Event()
        expiry = asyncio.create_task(
            expiry_loop(app, stop_expiry, settings.approval_expiry_check_seconds)
        )
        yield
        sender.stop()
        stop_expiry.set()
        await expiry
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        executor = getattr(app.state, "executor_pool", None)
        if executor is not None:
            executor.shutdown()
        run_queue = getattr(app.state, "run_queue", None)
        if run_queue is not None:
            run_queue.close()
        if database is None:
            db.dispose()

    app = FastAPI(
        title="Autopack",
        version=__version__,
        description="Autopack's REST API: create runs from plans, follow their tiers and "
        "phases, submit Builder/Auditor results, read issues, budgets and token usage. "
        "Errors are application/problem+json with a stable `code`.",
        lifespan=lifespan,
        # Served below from the packaged Swagger UI, so /docs works offline (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    _mount_docs(app)
    app.state.settings = settings
    app.state.database = db
    app.state.session_factory = db.factory
    app.state.event_bus = event_bus_for(db.engine)
    _wire_execution(app, settings, db)
    _wire_notifications(app, settings, db)

    # The last added is the outermost: request ids and the access log first, so a 421,
    # 403 or 413 carries an id and is logged too; then the Host and Origin checks, before
    # anything reads the body.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(OriginGuardMiddleware, settings=settings)
    app.add_middleware(AccessLogMiddleware)
    app.add_exception_handler(AutopackError, _autopack_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(Exception, _unhandled)

    from autopack.api.routes import register_routes
    from autopack.web import mount_web

    register_routes(app)
    mount_web(app)
    return app


DOCS_STATIC = "/docs/static"


def _mount_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the assets of the ``swagger-ui-bundle-v2`` package
    (Apache-2.0), mounted at ``/docs/static``; the browser loads nothing from elsewhere."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_STATIC, StaticFiles(directory=str(swagger_ui_path)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Autopack API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png",
        )


def _wire_notifications(app: FastAPI, settings: Settings, db: Database) -> None:
    """The outbox sender, started while the app serves (a bad channel config fails here,
    before the server starts), and the Telegram channel that answers button presses."""
    from autopack.notifications.telegram import TelegramChannel
    from autopack.services.notification_sender import (
        NotificationSender,
        configured_channels,
        decision_links,
    )

    channels = configured_channels(settings)
    app.state.notification_channels = channels
    app.state.telegram = next(
        (c for c in channels.values() if isinstance(c, TelegramChannel)), None
    )
    app.state.notification_sender = NotificationSender(
        db.factory,
        channels,
        poll_seconds=settings.notify_poll_seconds,
        max_attempts=settings.notify_max_attempts,
        retry_seconds=settings.notify_retry_seconds,
        public_url=settings.public_url,
        links=decision_links(settings),
    )


def _wire_execution(app: FastAPI, settings: Settings, db: Database) -> None:
    """Governed apply for submitted patches, and the bounded pool that executes runs (in
    worker processes, so a busy executor never slows the API)."""
    from functools import partial

    from autopack.executor.pool import ExecutionPool
    from autopack.services import board, integration
    from autopack.services.events import RunProgressRelay

    def apply_hook(session: Any, phase: Any, patch: str, message: str) -> Any:
        return integration.apply_patch(session, phase, patch, message, settings=settings)

    app.state.apply_hook = apply_hook
    app.state.approve_hook = partial(integration.apply_approved, settings=settings)

    # What `autopack run` prints, relayed from each run's worker process (GET /events).
    relay = RunProgressRelay(app.state.event_bus, db.factory, board.run_card)
    app.state.executor_pool = ExecutionPool(
        settings, settings.executor_pool_size, on_done=relay.stopped, on_progress=relay.progress
    )
    # Runs executed by `autopack worker` processes are deferred through this (PostgreSQL).
    if settings.uses_job_queue and not settings.is_embedded_database:
        from autopack.distributed.queue import RunQueue

        app.state.run_queue = RunQueue(settings)
