"""``GET /events``: the live stream (Server-Sent Events, with sse-starlette).

Each event is one the services' publisher (:mod:`autopack.services.events`) sent: its id
(monotonic), its kind as the SSE event name, and a JSON payload. A client reconnecting
with ``Last-Event-ID`` (browsers send it themselves) first gets what it missed; when
that is no longer in the replay buffer it gets a ``resync`` event and should reload.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sse_starlette.sse import EventSourceResponse

from autopack.services.events import Event, EventBus
from autopack.web.auth import Identity

router = APIRouter(tags=["dashboard"])


def _message(event: Event) -> dict[str, Any]:
    body = {"id": event.id, "kind": event.kind, "run_id": event.run_id, **event.data}
    return {"id": str(event.id), "event": event.kind, "data": json.dumps(body, default=str)}


def _last_id(header: str | None, query: int | None) -> int | None:
    if header and header.strip().isdigit():
        return int(header.strip())
    return query


# Not in the OpenAPI document: an endless text/event-stream has no response schema, and
# schema-driven clients (and fuzzers) would wait on it forever. Documented in the README.
@router.get("/events", include_in_schema=False)
async def events(
    request: Request,
    _identity: Identity,
    run_id: Annotated[str | None, Query(max_length=128)] = None,
    last_event_id: Annotated[int | None, Query(ge=0)] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Live events of one run (``run_id``) or of every run: ``progress`` (an executor
    step: its log line as `autopack run` prints it, and the run's card: state, phases
    complete/total, the phase now running, tokens, cost), ``run_created``,
    ``approval_decided``, ``cancel_requested``, ``run_resumed``. Reconnect with the
    ``Last-Event-ID`` header (or ``last_event_id``) to resume after the last one seen.
    Authenticated like the API (key header) or by the dashboard's session cookie."""
    bus: EventBus = request.app.state.event_bus
    loop = asyncio.get_running_loop()
    sub, replay, lost = bus.subscribe(loop, run_id, _last_id(last_event_id_header, last_event_id))

    async def stream() -> AsyncIterator[dict[str, Any]]:
        try:
            if lost:
                yield {"event": "resync", "data": json.dumps({"reason": "events were missed"})}
            for event in replay:
                yield _message(event)
            while True:
                event = await sub.queue.get()
                yield _message(event)
        finally:
            bus.unsubscribe(sub)

    return EventSourceResponse(stream(), ping=15)
