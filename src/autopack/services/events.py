"""The one publisher of live events (state changes, attempts, log lines, token counts).

Everything that changes what the dashboard shows publishes here: the executor's progress
listener (:class:`RunProgressPublisher`, the same events `autopack run` prints) and the
use cases a person triggers from the pages (cancel, approval decisions, new runs). The
``GET /events`` stream (``web/events_route.py``) subscribes.

Ids are monotonic and survive a restart: each is at least the wall clock in microseconds,
so a client that reconnects with an older ``Last-Event-ID`` after a restart still gets
every later event, and is told to reload (``resync``) when the events it missed are no
longer in the replay buffer.

Across processes: on the embedded default (SQLite) the bus is in-process (`autopack
serve` executes runs on its own pool). When several processes share a PostgreSQL
database, each bus also has a relay (:mod:`autopack.services.event_relay`) that sends
every event as a NOTIFY; the server LISTENs and hands other processes' events to its
bus with :meth:`EventBus.publish_local`, so they reach its SSE clients.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from autopack.db.session import unit_of_work

#: How many past events a reconnecting client can be replayed.
REPLAY_CAPACITY = 5000

#: Sends an event to other processes: (origin, kind, run_id, data).
Relay = Callable[[str, str, "str | None", dict[str, Any]], None]


@dataclass(frozen=True)
class Event:
    """One live event. ``kind`` is the SSE event name; ``data`` is its JSON payload."""

    id: int
    kind: str
    run_id: str | None
    data: dict[str, Any]


@dataclass(eq=False)
class Subscription:
    """A subscriber's queue on its own event loop; ``run_id`` None receives every run."""

    loop: asyncio.AbstractEventLoop
    run_id: str | None
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)

    def wants(self, event: Event) -> bool:
        return self.run_id is None or event.run_id in (None, self.run_id)


class EventBus:
    """Fan-out of events to subscribers, thread-safe (executor threads publish, the
    server's event loop reads), with a bounded replay buffer for ``Last-Event-ID``."""

    def __init__(
        self,
        capacity: int = REPLAY_CAPACITY,
        clock: Callable[[], float] = time.time,
        relay: Relay | None = None,
    ) -> None:
        #: Identifies this bus in relayed events, so its own come back to it unheard.
        self.origin = uuid.uuid4().hex
        self.relay = relay
        self._lock = threading.Lock()
        self._buffer: deque[Event] = deque(maxlen=capacity)
        self._subscribers: set[Subscription] = set()
        self._last_id = 0
        #: The newest id pushed out of the buffer: a client behind it missed events.
        self._evicted = 0
        self._clock = clock

    def publish(self, kind: str, run_id: str | None = None, **data: Any) -> Event:
        """Record an event, hand it to every interested subscriber and (with a relay)
        to other processes; returns it."""
        event = self.publish_local(kind, run_id, **data)
        if self.relay is not None:
            self.relay(self.origin, kind, run_id, data)
        return event

    def publish_local(self, kind: str, run_id: str | None = None, **data: Any) -> Event:
        """Record an event and hand it to this process's subscribers only (an event
        another process relayed, or one that concerns this process alone)."""
        with self._lock:
            self._last_id = max(self._last_id + 1, int(self._clock() * 1_000_000))
            event = Event(self._last_id, kind, run_id, data)
            if len(self._buffer) == self._buffer.maxlen:
                self._evicted = self._buffer[0].id
            self._buffer.append(event)
            subscribers = [s for s in self._subscribers if s.wants(event)]
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.queue.put_nowait, event)
            except RuntimeError:  # that subscriber's loop is closed: it has gone
                self.unsubscribe(sub)
        return event

    def subscribe(
        self, loop: asyncio.AbstractEventLoop, run_id: str | None, after: int | None
    ) -> tuple[Subscription, list[Event], bool]:
        """Subscribe; returns the subscription, the buffered events after ``after`` (the
        client's Last-Event-ID) for it, and whether events it missed are lost (it should
        reload). Registration and replay happen under one lock, so none is missed or
        delivered twice."""
        sub = Subscription(loop=loop, run_id=run_id)
        with self._lock:
            self._subscribers.add(sub)
            replay: list[Event] = []
            lost = False
            if after is not None:
                lost = after < self._evicted
                replay = [e for e in self._buffer if e.id > after and sub.wants(e)]
        return sub, replay, lost

    def history(self, run_id: str | None) -> list[Event]:
        """The buffered events of ``run_id`` (every run's for None), oldest first: what a
        page shows before its live stream takes over from the last one's id."""
        with self._lock:
            return [e for e in self._buffer if run_id is None or e.run_id in (None, run_id)]

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    @property
    def last_id(self) -> int:
        """The newest event's id: a page rendered now passes it as the stream's start, so
        nothing published between the render and the subscription is missed."""
        with self._lock:
            return self._last_id

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def progress_line(event: str, data: dict[str, Any]) -> str:
    """The log line for an executor event, worded as `autopack run` prints it."""
    detail = " ".join(f"{k}={v}" for k, v in data.items() if k not in ("run_id",))
    return f"{event} {detail}".strip()


class RunProgressPublisher:
    """The executor's ProgressListener for one run: publishes each event with its log line
    and the run's card (state, progress, tokens, cost) read once per event, so every
    subscriber gets the same snapshot without querying itself."""

    def __init__(
        self,
        bus: EventBus,
        factory: sessionmaker[Session],
        run_id: str,
        snapshot: Callable[[Session, str], dict[str, Any] | None],
    ) -> None:
        self.bus = bus
        self.factory = factory
        self.run_id = run_id
        self.snapshot = snapshot
        self.started = time.monotonic()
        self.tier = "-"

    def __call__(self, event: str, **data: Any) -> None:
        if event == "tier_started":
            self.tier = str(data.get("tier_id"))
        # Reads only (WAL readers never wait on the executor's writes); a failure to read
        # must never stop the run, so the event goes out without its card.
        card: dict[str, Any] | None = None
        try:
            with unit_of_work(self.factory) as session:
                card = self.snapshot(session, self.run_id)
        except Exception:
            card = None
        elapsed = time.monotonic() - self.started
        tokens = card["tokens_used"] if card else 0
        line = (
            f"{elapsed:6.1f}s tier {self.tier:<8} tokens {tokens:>8,}  {progress_line(event, data)}"
        )
        payload = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
        self.bus.publish("progress", self.run_id, event=event, line=line, card=card, detail=payload)


class RunProgressRelay:
    """Progress of runs executing in other processes (the server's pool), published as
    their own executor would: one :class:`RunProgressPublisher` per run from its first
    event to its end, so each line carries the time since the execution started and the
    current tier, as `autopack run` prints them."""

    def __init__(
        self,
        bus: EventBus,
        factory: sessionmaker[Session],
        snapshot: Callable[[Session, str], dict[str, Any] | None],
    ) -> None:
        self.bus = bus
        self.factory = factory
        self.snapshot = snapshot
        self._publishers: dict[str, RunProgressPublisher] = {}
        self._lock = threading.Lock()

    def _publisher(self, run_id: str) -> RunProgressPublisher:
        with self._lock:
            found = self._publishers.get(run_id)
            if found is None:
                found = RunProgressPublisher(self.bus, self.factory, run_id, self.snapshot)
                self._publishers[run_id] = found
            return found

    def progress(self, run_id: str, event: str, data: dict[str, Any]) -> None:
        self._publisher(run_id)(event, **data)

    def stopped(self, run_id: str, _result: object = None) -> None:
        """The run's execution ended: one last card (some steps report before their
        transaction commits, e.g. a run parking for an approval), then its publisher goes."""
        self._publisher(run_id)("executor_stopped")
        with self._lock:
            self._publishers.pop(run_id, None)
