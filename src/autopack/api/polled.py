"""How the polled read routes answer: one thread-pool hop, a JSON body, an ETag.

Status is polled by clients, scripts waiting for a run and dashboards, so its per-request
cost is the server's. A plain ``def`` route with a session dependency makes four hops to
FastAPI's thread pool (the session's start and its end, the route, and the validation of
its return value), and each hop costs about as much as the route's three SQL statements.
:func:`answer_json` makes one: the route is ``async def``, reads in its own unit of work
in the pool and serializes there with pydantic (``model_dump_json``), and the body goes
out as it is, without FastAPI validating it a second time. The route keeps its
``response_model``, so the OpenAPI description is the same.

Each answer carries a strong ``ETag`` (a hash of the body) and ``Cache-Control:
no-cache``: a client that sends the tag back in ``If-None-Match`` gets ``304 Not
Modified`` without a body while nothing changed. The body is read fresh from the database
on every request and the tag computed from it, so no server process keeps anything
between requests and a change made by another process is seen on the next request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from autopack.db.session import unit_of_work

#: For ``responses=`` of a route answered by :func:`answer_json`.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match named the current ETag"}
}


async def answer_json(
    request: Request, factory: sessionmaker[Session], read: Callable[[Session], BaseModel]
) -> Response:
    """``read(session)`` in one unit of work on the thread pool, answered as JSON with an
    ETag, or 304 when the request's ``If-None-Match`` names that ETag. Errors ``read``
    raises (NotFoundError, ...) reach the app's handlers as from any route."""

    def work() -> bytes:
        with unit_of_work(factory) as session:
            return read(session).model_dump_json().encode()

    body = await run_in_threadpool(work)
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag``: ``*``, or a list of tags
    compared weakly (a ``W/`` prefix is ignored), as RFC 9110 asks for GET."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False
