"""The FastAPI application: one factory, one place where exceptions become HTTP.

Every error leaves as ``application/problem+json`` (RFC 9457) with a stable ``code``, a
``detail`` that says what to do, and the request id (also in the ``X-Request-ID`` header).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autopack import __version__
from autopack.db.database import Database, open_database
from autopack.errors import (
    ApplyRejected,
    AutopackError,
    ConflictError,
    InvalidStoredState,
    NotFoundError,
    SchemaMismatch,
    StorageUnavailable,
    ValidationError,
)
from autopack.settings import Settings

log = logging.getLogger("autopack.api")
PROBLEM = "application/problem+json"

#: HTTP status by exception class; the first matching entry wins.
STATUS_BY_ERROR: list[tuple[type[AutopackError], int]] = [
    (NotFoundError, 404),
    (InvalidStoredState, 409),
    (ConflictError, 409),
    (ApplyRejected, 422),
    (ValidationError, 422),
    (SchemaMismatch, 503),
    (StorageUnavailable, 503),
    (AutopackError, 400),
]


def problem(request: Request | None, status: int, code: str, detail: str,
            **extra: Any) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None) if request else None
    body = {"type": f"https://autopack.dev/problems/{code}", "title": code.replace("_", " "),
            "status": status, "code": code, "detail": detail, "request_id": request_id,
            **extra}
    headers = {"X-Request-ID": request_id} if request_id else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _status_for(exc: AutopackError) -> int:
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(exc, cls))


async def _autopack_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutopackError)
    extra: dict[str, Any] = {k: v for k, v in exc.context.items()
                             if isinstance(v, str | int | float | bool | list | dict)}
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
            return problem(request, 400, "malformed_json",
                           f"the request body is not valid JSON: {err.get('msg', '')} "
                           f"(at position {err.get('loc', ['', '?'])[-1]})")
        errors.append({"field": _field_path(err.get("loc", ())), "message": err.get("msg", ""),
                       "type": err.get("type", "")})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem(request, 422, "validation_error", f"invalid request: {summary}",
                   errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
            413: "payload_too_large", 429: "rate_limited"}.get(exc.status_code, "http_error")
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; see /docs for the API"
    response = problem(request, exc.status_code, code, detail)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, IntegrityError):
        return problem(request, 409, "conflict",
                       "the change conflicts with stored data (a duplicate or a missing "
                       "reference); reload and retry")
    log.exception("database error", exc_info=exc)
    return problem(request, 503, "storage_unavailable",
                   "the database could not complete the request; check GET /health")


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, 500, "internal_error",
                   "Autopack hit an unexpected error; nothing you sent was lost if it was "
                   "acknowledged. Report this with the request id.")


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
            await self._reject(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(None, 413, "payload_too_large",
                           f"the request body exceeds {self.limit} bytes "
                           "(AUTOPACK_MAX_BODY_BYTES)")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """Build the API for ``settings``. Opens (and for the embedded default, creates and
    upgrades) the database unless one is given."""
    db = database or open_database(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        executor = getattr(app.state, "executor_pool", None)
        if executor is not None:
            executor.shutdown()
        if database is None:
            db.dispose()

    app = FastAPI(
        title="Autopack",
        version=__version__,
        description="Autopack's REST API: create runs from plans, follow their tiers and "
        "phases, submit Builder/Auditor results, read issues, budgets and token usage. "
        "Errors are application/problem+json with a stable `code`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = db
    app.state.session_factory = db.factory

    @app.middleware("http")
    async def request_id(request: Request,
                         call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        incoming = request.headers.get("x-request-id", "")
        request.state.request_id = (incoming if 0 < len(incoming) <= 128 and incoming.isascii()
                                    else uuid.uuid4().hex)
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_exception_handler(AutopackError, _autopack_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(Exception, _unhandled)

    from autopack.api.routes import register_routes

    register_routes(app)
    return app
