"""The background sender: a daemon thread that drains the notifications outbox.

``autopack serve``, ``autopack worker`` and ``autopack run`` each start one
(:func:`start_sender`). It calls :func:`~autopack.services.notifications.deliver_due`
every ``notify_poll_seconds`` in its own thread with its own database sessions, so a
channel that hangs or fails costs the thread its send timeout and never a run's time.
Several senders (a server and its workers) share one outbox safely: each row is claimed
before it is sent. :meth:`NotificationSender.flush` lets a short-lived process (``autopack
run``) send what its run queued before exiting, within a bound.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from autopack.db.orm import utcnow
from autopack.errors import ConfigurationError
from autopack.notifications.base import Action, Channel
from autopack.notifications.registry import load_channels
from autopack.services.decision_links import link_maker
from autopack.services.notifications import (
    DeliveryReport,
    LinkMaker,
    deliver_due,
    pending_count,
)
from autopack.settings import Settings
from autopack.signing_key import load_secret

log = logging.getLogger("autopack.notifications")


def configured_channels(settings: Settings) -> dict[str, Channel]:
    """The channels ``AUTOPACK_NOTIFY_CHANNELS`` describes (ConfigurationError if wrong)."""
    raw = settings.notify_channels.get_secret_value().strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"AUTOPACK_NOTIFY_CHANNELS is not JSON (line {exc.lineno}, column {exc.colno}: "
            f'{exc.msg}); write it as {{"NAME": {{"kind": ...}}}}'
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigurationError(
            "AUTOPACK_NOTIFY_CHANNELS must be a JSON object of channel name -> config object"
        )
    return load_channels(data)


def decision_links(settings: Settings) -> LinkMaker | None:
    """Signed approve/reject links, when the server's public address is configured."""
    public_url = settings.public_url
    if not public_url:
        return None

    def make(approval_id: int, user: str) -> tuple[Action, ...]:
        # The key is read when a link is first made, not when a server is built: building
        # an app (for its OpenAPI document, say) must not write to the data dir.
        maker = link_maker(load_secret(settings.home), public_url, settings.decision_link_hours)
        return maker(approval_id, user)

    return make


class NotificationSender:
    """Drains the outbox in a daemon thread; ``stop`` ends it, ``flush`` waits for it."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        channels: Mapping[str, Channel],
        *,
        poll_seconds: float = 2.0,
        max_attempts: int = 6,
        retry_seconds: float = 30.0,
        public_url: str | None = None,
        links: LinkMaker | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.factory = factory
        self.channels = dict(channels)
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.public_url = public_url
        self.links = links
        self.clock = clock
        self.rng = rng or random.Random()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> DeliveryReport:
        """One pass over the due rows, in the calling thread."""
        return deliver_due(
            self.factory,
            self.channels,
            self.clock(),
            max_attempts=self.max_attempts,
            retry_seconds=self.retry_seconds,
            rng=self.rng,
            public_url=self.public_url,
            links=self.links,
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.run_once().handled
            except Exception:  # the database away for a moment: try again next poll
                log.exception("sending notifications failed; retrying")
                handled = 0
            if handled == 0:
                self._idle.set()
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def start(self) -> NotificationSender:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="autopack-notifications", daemon=True
            )
            self._thread.start()
        return self

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the due rows to be sent (or to fail for now);
        returns how many due rows are still pending. Never waits longer, even when a
        channel hangs: the thread is a daemon and the process may exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pending_count(self.factory, self.clock()) == 0:
                return 0
            self._idle.clear()
            self._wake.set()
            self._idle.wait(max(0.0, min(0.5, deadline - time.monotonic())))
        return pending_count(self.factory, self.clock())

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def start_sender(settings: Settings, factory: sessionmaker[Session]) -> NotificationSender:
    """A started sender for ``settings`` (ConfigurationError on a bad channel config)."""
    return NotificationSender(
        factory,
        configured_channels(settings),
        poll_seconds=settings.notify_poll_seconds,
        max_attempts=settings.notify_max_attempts,
        retry_seconds=settings.notify_retry_seconds,
        public_url=settings.public_url,
        links=decision_links(settings),
    ).start()
