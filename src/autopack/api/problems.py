"""Problem documents (RFC 9457): the one shape every error response of the API has."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

PROBLEM = "application/problem+json"


def problem(
    request: Request | None,
    status: int,
    code: str,
    detail: str,
    *,
    request_id: str | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem response with a stable ``code``, a ``detail`` that says what to do, and
    the request id (from ``request`` when given, else ``request_id``)."""
    if request is not None:
        request_id = getattr(request.state, "request_id", None)
    body = {
        "type": f"https://autopack.dev/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        "request_id": request_id,
        **extra,
    }
    headers = {"X-Request-ID": request_id} if request_id else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)
