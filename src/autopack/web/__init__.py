"""The dashboard: server-rendered pages under ``/ui/``, static files under ``/ui/static/``
and the live stream ``GET /events``, served by the API's own app (:func:`mount_web`)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from autopack.errors import AutopackError, Forbidden
from autopack.web.auth import CsrfRejected, LoginRequired


def _is_page(request: Request) -> bool:
    return request.url.path.startswith("/ui/")


def mount_web(app: FastAPI) -> None:
    """Add the dashboard's routes, static files and HTML error pages to ``app`` (the API's
    JSON errors stay as they are for every other path)."""
    from autopack.api.app import STATUS_BY_ERROR
    from autopack.api.problems import problem
    from autopack.web import delivery_pages, events_route, review, routes
    from autopack.web.render import render

    app.include_router(routes.router)
    app.include_router(review.router)
    app.include_router(delivery_pages.router)
    app.include_router(events_route.router)
    app.mount(
        "/ui/static",
        StaticFiles(directory=str(Path(__file__).parent / "static")),
        name="ui-static",
    )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    api_error = app.exception_handlers[AutopackError]
    api_validation = app.exception_handlers[RequestValidationError]

    def error_page(request: Request, status: int, title: str, detail: str) -> Response:
        return render(request, "error.html", {"title": title, "detail": detail}, status_code=status)

    async def login_required(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            response = problem(
                request,
                401,
                "unauthorized",
                "missing or invalid API key: send it as X-API-Key or Authorization: Bearer, "
                "or sign in to the dashboard at /ui/login",
            )
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        target = quote(request.url.path if request.method == "GET" else "/ui/", safe="/")
        return RedirectResponse(f"/ui/login?next={target}", status_code=303)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AutopackError)
        return error_page(request, 403, "Form refused", exc.message)

    async def page_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await _delegate(api_error, request, exc)
        assert isinstance(exc, AutopackError)
        status = next(s for cls, s in STATUS_BY_ERROR if isinstance(exc, cls))
        title = "Not allowed" if isinstance(exc, Forbidden) else "That did not work"
        return error_page(request, status, title, exc.message)

    async def page_validation(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await _delegate(api_validation, request, exc)
        assert isinstance(exc, RequestValidationError)
        fields = "; ".join(_field_message(e) for e in exc.errors()[:5])
        return error_page(request, 422, "The form is not complete", fields)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(AutopackError, page_error)
    app.add_exception_handler(RequestValidationError, page_validation)


async def _delegate(handler: Any, request: Request, exc: Exception) -> Response:
    """Answer with the API's own handler (sync or async) for a path outside ``/ui/``."""
    result = handler(request, exc)
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, Response)
    return result


def _field_message(error: Any) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    return f"{'.'.join(loc) or 'form'}: {error.get('msg', '')}"
