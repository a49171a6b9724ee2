"""What a channel sends (:class:`Message`) and what a channel is (:class:`Channel`)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from autopack.errors import DeliveryError
from autopack.redaction import Redactor

#: How long one delivery may take: a channel that hangs costs the drainer this, never a run.
SEND_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Action:
    """A decision a message offers: approve or reject one approval. ``url`` is a signed,
    single-use link to a confirmation page (None when the server has no public URL or the
    channel names no recipient user); Telegram offers buttons instead."""

    decision: Literal["approve", "reject"]
    approval_id: int
    url: str | None = None

    @property
    def label(self) -> str:
        return "Approve" if self.decision == "approve" else "Reject"


@dataclass(frozen=True)
class Message:
    """One notification: an event about a run (or phase), for people."""

    event: str
    title: str
    text: str
    run_id: str | None = None
    phase_id: str | None = None
    #: The run's dashboard page, when the server's public URL is known.
    url: str | None = None
    approval_id: int | None = None
    actions: tuple[Action, ...] = field(default_factory=tuple)
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The webhook body: stable keys, links included."""
        return {
            "event": self.event,
            "title": self.title,
            "text": self.text,
            "run_id": self.run_id,
            "phase_id": self.phase_id,
            "url": self.url,
            "approval_id": self.approval_id,
            "actions": [
                {"decision": a.decision, "approval_id": a.approval_id, "url": a.url}
                for a in self.actions
            ],
            "details": self.details,
        }

    def plain_text(self) -> str:
        """Title, text and links as plain lines (email, logs)."""
        lines = [self.title, "", self.text]
        if self.url:
            lines += ["", f"Run: {self.url}"]
        for action in self.actions:
            if action.url:
                lines.append(f"{action.label}: {action.url}")
        return "\n".join(lines)


class Channel(Protocol):
    """A way to reach people. ``send`` delivers or raises DeliveryError; it returns a
    short receipt for the record (an HTTP status, a message id)."""

    name: str
    kind: str
    #: The Autopack user signed decision links are made out to (None: links are left out).
    user: str | None

    def send(self, message: Message) -> str: ...


def secret_redactor(secrets: Iterable[str | None]) -> Redactor:
    """A redactor for a channel's own secrets, so no error or log line carries them."""
    return Redactor.with_known((s, "channel_secret") for s in secrets if s)


_CLIENT: httpx.Client | None = None
_CLIENT_LOCK = threading.Lock()


def shared_client() -> httpx.Client:
    """One HTTP client for every channel of the process: building one loads the CA bundle
    (~90 ms of CPU), which a sender must not pay per message; httpx clients are
    thread-safe and keep connections alive."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            _CLIENT = httpx.Client(timeout=SEND_TIMEOUT_SECONDS)
        return _CLIENT


def post_json(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    redactor: Redactor,
    channel: str,
    client: httpx.Client | None = None,
) -> httpx.Response:
    """POST ``body`` (JSON) and return the response, or raise DeliveryError: permanent for
    a 4xx other than 408/429 (the request itself is wrong), transient otherwise."""
    try:
        response = (client or shared_client()).post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(
            redactor.redact(f"{channel}: {type(exc).__name__}: {exc}"), channel=channel
        ) from None
    if response.status_code >= 300:
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
        raise DeliveryError(
            redactor.redact(
                f"{channel}: HTTP {response.status_code}: {response.text[:300].strip()}"
            ),
            permanent=permanent,
            channel=channel,
            status=response.status_code,
        )
    return response
