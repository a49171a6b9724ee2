"""Request ids and the access log: one plain ASGI middleware, outermost, on every request.

Each request gets an id (the client's ``X-Request-ID`` when it is sane, else a new one),
kept in ``scope["state"]["request_id"]`` for error documents and echoed in the
``X-Request-ID`` response header. When the response is done, one line goes to the
``autopack.access`` logger at INFO::

    GET /runs/{run_id}/status 200 1.84ms request_id=3f2a...

with the route's path template (the route the router matched, so a log of many runs
groups by route; a request no route matched logs its raw path), the status (500 for an
exception that escaped), the duration from the first byte of the request to the last of
the response, and the id. The same fields are on the record as attributes (``method``,
``path``, ``status``, ``duration_ms``, ``request_id``) for a structured formatter.

Plain ASGI, not BaseHTTPMiddleware: that one runs the app in a task group, which wraps
exceptions raised while the body is read (the body limit's 413) in an ExceptionGroup that
FastAPI then answers with a 400; and it costs a task per request.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("autopack.access")


def request_id_for(incoming: str) -> str:
    """The request id: the client's ``X-Request-ID`` when it is sane, else a new one."""
    return incoming if 0 < len(incoming) <= 128 and incoming.isascii() else uuid.uuid4().hex


def path_template(scope: Scope) -> str:
    """The matched route's path template (``/runs/{run_id}/status``), else the raw path."""
    route: Any = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str) and template:
        return template
    path: str = scope.get("path", "")
    return path


class AccessLogMiddleware:
    """Give every request an id and log one timed line per request (see the module)."""

    def __init__(self, app: ASGIApp, logger: logging.Logger = access_log) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
                break
        request_id = request_id_for(incoming.decode("latin-1"))
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("latin-1"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Replace, not add: a problem document names its request id already.
                kept = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                message["headers"] = [*kept, header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.logger.isEnabledFor(logging.INFO):
                self._log(scope, status, (time.perf_counter() - start) * 1000, request_id)

    def _log(self, scope: Scope, status: int, duration_ms: float, request_id: str) -> None:
        method, path = scope["method"], path_template(scope)
        self.logger.info(
            "%s %s %d %.2fms request_id=%s",
            method,
            path,
            status,
            duration_ms,
            request_id,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(duration_ms, 3),
                "request_id": request_id,
            },
        )
