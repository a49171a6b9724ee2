"""Live events across processes sharing a PostgreSQL database: LISTEN/NOTIFY.

On PostgreSQL several processes write runs (`autopack serve`, `autopack worker`,
`autopack run`), but only the server has SSE clients. Each process's :class:`EventBus`
gets a :class:`PgNotifyRelay`, which sends every event it publishes as one
``NOTIFY autopack_events`` with a compact JSON payload; the server runs a
:class:`PgEventListener` (a thread with its own autocommit psycopg connection) that
hands each notification from another process to its bus, which fans it out and keeps
it for ``Last-Event-ID`` replay exactly as an event published in the server itself.

On SQLite (one process, the embedded default) nothing here is used: the bus stays
in-process. :func:`event_bus_for` picks.

A notification carries the publishing bus's ``origin``, so a process skips its own (it
already delivered them). Payloads stay under PostgreSQL's 8000-byte limit: an event too
large drops its run card (the page reloads it), then its details, then truncates its
log line. If the listener loses its connection it reconnects and publishes ``resync``,
so clients reload rather than silently miss what was sent meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from autopack.services.events import EventBus, RunProgressPublisher

log = logging.getLogger("autopack.events")

#: The one channel every Autopack process NOTIFYs and the server LISTENs on.
CHANNEL = "autopack_events"
#: PostgreSQL refuses payloads of 8000 bytes and more.
MAX_PAYLOAD_BYTES = 7900
_LINE_LIMIT = 2000


def encode(origin: str, kind: str, run_id: str | None, data: dict[str, Any]) -> str:
    """The NOTIFY payload of one event, shrunk below :data:`MAX_PAYLOAD_BYTES`."""
    body: dict[str, Any] = {"o": origin, "k": kind, "r": run_id, "d": dict(data)}
    payload = json.dumps(body, default=str, separators=(",", ":"))
    for shrink in ("card", "detail", "line"):
        if len(payload.encode()) < MAX_PAYLOAD_BYTES:
            return payload
        if shrink == "line" and isinstance(body["d"].get("line"), str):
            body["d"]["line"] = body["d"]["line"][:_LINE_LIMIT] + " …"
        else:
            body["d"].pop(shrink, None)
        payload = json.dumps(body, default=str, separators=(",", ":"))
    if len(payload.encode()) >= MAX_PAYLOAD_BYTES:  # huge fields of another kind
        payload = json.dumps({"o": origin, "k": kind, "r": run_id, "d": {"truncated": True}})
    return payload


def decode(payload: str) -> tuple[str, str, str | None, dict[str, Any]] | None:
    """(origin, kind, run_id, data) of a payload, or None for one that is not ours."""
    try:
        body = json.loads(payload)
        origin, kind, run_id, data = body["o"], body["k"], body["r"], body["d"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(kind, str) or not isinstance(data, dict):
        return None
    return str(origin), kind, run_id if isinstance(run_id, str) else None, data


class PgNotifyRelay:
    """Sends each event of a bus as a NOTIFY through the process's engine. A failure is
    logged and swallowed: a live event must never stop a run."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, origin: str, kind: str, run_id: str | None, data: dict[str, Any]) -> None:
        payload = encode(origin, kind, run_id, data)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {
                        "channel": CHANNEL,
                        "payload": payload,
                    },
                )
        except Exception:
            log.warning("could not NOTIFY event %s of run %s", kind, run_id, exc_info=True)


def libpq_url(engine: Engine) -> str:
    """The engine's database as a libpq connection string (psycopg.connect's form)."""
    url = make_url(str(engine.url.render_as_string(hide_password=False)))
    return str(url.set(drivername="postgresql").render_as_string(hide_password=False))


class PgEventListener:
    """LISTENs on :data:`CHANNEL` in a background thread and hands every event of
    another process to ``bus`` (the same fan-out and replay as a local publish)."""

    def __init__(self, bus: EventBus, conninfo: str, *, poll_seconds: float = 0.25) -> None:
        self.bus = bus
        self.conninfo = conninfo
        self.poll_seconds = poll_seconds
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="autopack-events", daemon=True)

    def start(self, wait_seconds: float = 10.0) -> None:
        """Start listening; returns once LISTEN is in effect (or after ``wait_seconds``,
        the thread then keeps trying to connect)."""
        self._thread.start()
        self.listening.wait(wait_seconds)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.poll_seconds * 4 + 5)

    def _run(self) -> None:
        import psycopg

        delay = 0.5
        lost = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.5
                    if lost:  # events sent while reconnecting are gone: pages reload
                        self.bus.publish_local("resync", None, reason="event stream reconnected")
                        lost = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self.poll_seconds):
                            self._deliver(note.payload)
            except Exception:
                if self._stop.is_set():
                    return
                self.listening.clear()
                lost = True
                log.warning("event listener lost its connection; retrying", exc_info=True)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _deliver(self, payload: str) -> None:
        decoded = decode(payload)
        if decoded is None:
            return
        origin, kind, run_id, data = decoded
        if origin == self.bus.origin:
            return  # published here: already delivered
        self.bus.publish_local(kind, run_id, **data)


def event_bus_for(engine: Engine) -> EventBus:
    """The process's bus: in-process on SQLite, also NOTIFYing on PostgreSQL."""
    if engine.dialect.name == "postgresql":
        return EventBus(relay=PgNotifyRelay(engine))
    return EventBus()


def remote_progress(
    engine: Engine, factory: sessionmaker[Session], run_id: str
) -> RunProgressPublisher | None:
    """For an executor outside the server (`autopack run`, `autopack worker`) on
    PostgreSQL: a progress listener that NOTIFYs each event with the run's card, as the
    server's own pool does. None on SQLite (no other process can listen)."""
    if engine.dialect.name != "postgresql":
        return None
    from autopack.services.board import run_card

    bus = EventBus(capacity=1, relay=PgNotifyRelay(engine))
    return RunProgressPublisher(bus, factory, run_id, run_card)


def with_remote_progress(
    listener: Callable[..., None], engine: Engine, factory: sessionmaker[Session], run_id: str
) -> Callable[..., None]:
    """``listener`` plus, on PostgreSQL, :func:`remote_progress` for the run."""
    remote = remote_progress(engine, factory, run_id)
    if remote is None:
        return listener

    def both(event: str, **data: Any) -> None:
        listener(event, **data)
        remote(event, **data)

    return both
