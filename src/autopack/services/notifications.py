"""The notifications outbox: events queued in the caller's transaction, sent later.

:func:`enqueue` writes one ``notifications`` row per channel the event is routed to, in
the transaction of what it tells about: an approval request and its notification commit
together or not at all, and an executor's rows are fenced by its lease like its other
writes. Routes come from the run's ``.autopack.yaml`` (``notifications:``, read from the
run's repository, else its worktree); without routes the row names channel ``*`` and
:func:`deliver_due` gives it to every configured channel.

:func:`deliver_due` sends the rows that are due, each outside any transaction (a slow
channel holds no lock), after claiming it (``attempts`` is the claim's version, so two
senders never send one row twice). A failure is recorded (``last_error``) and retried
with exponential backoff and jitter; a permanent one (a 4xx, an unknown channel) ends in
``failed``, and the last allowed attempt in ``dead``. The background thread that calls it
is :mod:`autopack.services.notification_sender`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from autopack.db.orm import Approval, Notification, Phase, Run, utcnow
from autopack.db.session import unit_of_work
from autopack.domain.states import NotificationEvent, NotificationState, RunState
from autopack.errors import AutopackError, ConfigurationError, DeliveryError
from autopack.notifications.base import Action, Channel, Message
from autopack.planning.project_config import read_project_config
from autopack.redaction import redact

log = logging.getLogger("autopack.notifications")

#: The channel name of a row meant for every configured channel.
ALL_CHANNELS = "*"
#: How long a claimed row is hidden from other senders while it is being sent.
CLAIM_SECONDS = 60
#: The longest wait between two attempts.
MAX_BACKOFF_SECONDS = 3600.0
BUDGET_WARNING_SHARE = 0.8

#: Signed approve/reject links for a message: (approval id, recipient user) -> actions.
LinkMaker = Callable[[int, str], tuple[Action, ...]]


def _routes(run: Run | None, event: str) -> list[str]:
    """The channels ``event`` goes to for ``run``: its project's routes, else ``*``."""
    if run is None:
        return [ALL_CHANNELS]
    # The repository's own file first: a run's worktree is what its Builder edits, and a
    # model must not choose who hears about its run.
    for root in (run.repo_path, run.worktree_path):
        if not root or not Path(root).is_dir():
            continue
        try:
            config = read_project_config(Path(root))
        except ConfigurationError as exc:
            # The run reports a broken file itself; a notification must not fail the step.
            log.warning("notifications for run %s use every channel: %s", run.id, exc.message)
            return [ALL_CHANNELS]
        if config is None or config.notifications is None:
            return [ALL_CHANNELS]
        names = [r.channel for r in config.notifications if event in r.events]
        return list(dict.fromkeys(names))
    return [ALL_CHANNELS]


def enqueue(
    session: Session,
    event: str,
    run_id: str | None,
    phase_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> list[Notification]:
    """Queue ``event`` (a :class:`NotificationEvent` value) for each channel it is routed
    to; flush only, so it commits with the caller's transaction. ``payload`` holds
    ``title`` and ``text`` (and ``approval_id`` for an approval)."""
    NotificationEvent(event)  # an unknown event is a bug in the caller: fail loudly
    run = session.get(Run, run_id) if run_id is not None else None
    rows = [
        Notification(
            event=event,
            channel=channel,
            run_id=run_id,
            phase_id=phase_id,
            payload=dict(payload or {}),
            state=NotificationState.PENDING.value,
            next_attempt_at=now or utcnow(),
        )
        for channel in _routes(run, event)
    ]
    session.add_all(rows)
    session.flush()
    return rows


# -- the events runs raise (called by the services that change the state) -----------------


def approval_requested(session: Session, approval: Approval) -> None:
    """``approval_needed`` for a new pending approval."""
    enqueue(
        session,
        NotificationEvent.APPROVAL_NEEDED.value,
        approval.run_id,
        approval.phase_id,
        {
            "title": f"Approval needed: run {approval.run_id}, phase {approval.phase_id}",
            "text": f"{approval.kind.replace('_', ' ')}: {approval.reason}",
            "approval_id": approval.id,
        },
    )


def run_ended(session: Session, run: Run) -> None:
    """``run_finished`` or ``run_failed`` for a run that reached a terminal state."""
    state = RunState(run.state)
    event = NotificationEvent.RUN_FAILED if state.is_failure else NotificationEvent.RUN_FINISHED
    text = f"{run.name or run.id} ended in {state.value}"
    if state.is_failure and run.failure_reason:
        text += f": {run.failure_reason}"
    enqueue(
        session,
        event.value,
        run.id,
        None,
        {"title": f"Run {run.id}: {state.value}", "text": text[:2000], "state": state.value},
    )


def phase_failed(session: Session, phase: Phase) -> None:
    """``phase_failed``: the phase used its attempts and failed."""
    enqueue(
        session,
        NotificationEvent.PHASE_FAILED.value,
        phase.run_id,
        phase.phase_id,
        {
            "title": f"Phase failed: run {phase.run_id}, phase {phase.phase_id}",
            "text": (phase.last_failure or "the phase used its attempts")[:2000],
        },
    )


def tokens_spent(session: Session, run_id: str, before: int, after: int, cap: int) -> None:
    """``budget_80`` when this spending crossed 80% of the run's token cap (once: only
    the transaction whose increment crosses the line sees ``before`` below it)."""
    line = cap * BUDGET_WARNING_SHARE
    if cap > 0 and before < line <= after:
        enqueue(
            session,
            NotificationEvent.BUDGET_80.value,
            run_id,
            None,
            {
                "title": f"Run {run_id} has used 80% of its token budget",
                "text": f"{after} of {cap} tokens used",
            },
        )


# -- delivery ------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What one :func:`deliver_due` pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed + self.dead


def backoff_seconds(attempts: int, base: float, rng: random.Random) -> float:
    """The wait after the ``attempts``-th failure: base * 2^(attempts-1), capped, with
    jitter (50-100%) so many failed rows do not retry in lockstep."""
    delay = min(base * float(2 ** max(attempts - 1, 0)), MAX_BACKOFF_SECONDS)
    return delay * (0.5 + rng.random() / 2)


def message_for(
    row: Notification, *, public_url: str | None, links: LinkMaker | None, user: str | None
) -> Message:
    """The message a row stands for; links only when the server's address is known."""
    payload = row.payload or {}
    approval_id = payload.get("approval_id")
    base = public_url.rstrip("/") if public_url else None
    actions: tuple[Action, ...] = ()
    if isinstance(approval_id, int):
        actions = (Action("approve", approval_id), Action("reject", approval_id))
        if links is not None and user:
            actions = links(approval_id, user)
    return Message(
        event=row.event,
        title=str(payload.get("title") or row.event),
        text=str(payload.get("text") or ""),
        run_id=row.run_id,
        phase_id=row.phase_id,
        url=f"{base}/ui/runs/{row.run_id}" if base and row.run_id else None,
        approval_id=approval_id if isinstance(approval_id, int) else None,
        actions=actions,
        details={k: v for k, v in payload.items() if k not in ("title", "text")},
    )


def _fan_out(session: Session, row: Notification, names: list[str]) -> None:
    """Give a ``*`` row to the first configured channel and copies to the others, once:
    only the sender whose conditional update takes the row makes the copies."""
    taken = (
        session.connection()
        .execute(
            update(Notification)
            .where(Notification.id == row.id, Notification.channel == ALL_CHANNELS)
            .values(
                channel=names[0] if names else ALL_CHANNELS,
                state=NotificationState.PENDING.value if names else NotificationState.DEAD.value,
                last_error=None
                if names
                else (
                    "no notification channel is configured; set AUTOPACK_NOTIFY_CHANNELS "
                    "(docs/operations.md, Notifications)"
                ),
            )
        )
        .rowcount
    )
    if taken != 1:
        return
    for name in names[1:]:
        session.add(
            Notification(
                event=row.event,
                channel=name,
                run_id=row.run_id,
                phase_id=row.phase_id,
                payload=dict(row.payload),
                state=NotificationState.PENDING.value,
                next_attempt_at=row.next_attempt_at,
            )
        )
    session.flush()


def _claim(
    factory: sessionmaker[Session], channel_names: list[str], now: datetime, limit: int
) -> list[Notification]:
    """Due rows this sender now owns (their ``attempts`` raised by one), in one
    transaction: each row is taken only if its ``attempts`` are still what was read, so a
    row another sender claimed meanwhile is skipped."""
    claimed: list[Notification] = []
    with unit_of_work(factory) as session:
        for row in session.scalars(
            select(Notification).where(
                Notification.state == NotificationState.PENDING.value,
                Notification.channel == ALL_CHANNELS,
                Notification.next_attempt_at <= now,
            )
        ).all():
            _fan_out(session, row, channel_names)
        due = session.execute(
            select(Notification.id, Notification.attempts)
            .where(
                Notification.state == NotificationState.PENDING.value,
                Notification.channel != ALL_CHANNELS,
                Notification.next_attempt_at <= now,
            )
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
        ).all()
        for row_id, attempts in due:
            won = (
                session.connection()
                .execute(
                    update(Notification)
                    .where(
                        Notification.id == row_id,
                        Notification.attempts == attempts,
                        Notification.state == NotificationState.PENDING.value,
                    )
                    .values(
                        attempts=attempts + 1,
                        next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS),
                    )
                )
                .rowcount
            )
            if won == 1:
                claimed.append(session.get_one(Notification, row_id, populate_existing=True))
    return claimed


def deliver_due(
    factory: sessionmaker[Session],
    channels: Mapping[str, Channel],
    now: datetime | None = None,
    *,
    max_attempts: int = 6,
    retry_seconds: float = 30.0,
    rng: random.Random | None = None,
    public_url: str | None = None,
    links: LinkMaker | None = None,
    limit: int = 50,
) -> DeliveryReport:
    """Send every due row (up to ``limit``) and record the outcome of each."""
    now = now or utcnow()
    rng = rng or random.Random()
    report = DeliveryReport()
    for row in _claim(factory, list(channels), now, limit):
        channel = channels.get(row.channel)
        error: str | None = None
        permanent = False
        receipt = ""
        if channel is None:
            error = (
                f"channel {row.channel!r} is not configured (the project's .autopack.yaml "
                f"names it); configured: {', '.join(sorted(channels)) or 'none'}"
            )
            permanent = True
        else:
            try:
                message = message_for(row, public_url=public_url, links=links, user=channel.user)
                receipt = channel.send(message)
            except DeliveryError as exc:
                error, permanent = exc.message, exc.permanent
            except AutopackError as exc:
                error = exc.message
            except Exception as exc:  # a channel's bug must not stop the other rows
                error = redact(f"{type(exc).__name__}: {exc}")
        with unit_of_work(factory) as session:
            stored = session.get(Notification, row.id)
            if stored is None:  # its run was deleted meanwhile
                continue
            if error is None:
                stored.state = NotificationState.SENT.value
                stored.sent_at = utcnow()
                stored.last_error = None
                report.sent += 1
                log.info("notification %s sent via %s: %s", row.id, row.channel, receipt)
                continue
            stored.last_error = error[:2000]
            if permanent:
                stored.state = NotificationState.FAILED.value
                report.failed += 1
            elif stored.attempts >= max_attempts:
                stored.state = NotificationState.DEAD.value
                report.dead += 1
            else:
                wait = backoff_seconds(stored.attempts, retry_seconds, rng)
                stored.next_attempt_at = now + timedelta(seconds=wait)
                report.retrying += 1
            log.warning("notification %s via %s: %s", row.id, row.channel, error)
    return report


def pending_count(factory: sessionmaker[Session], now: datetime | None = None) -> int:
    """Rows still waiting to be sent that are due by ``now`` (default: any time)."""
    with unit_of_work(factory) as session:
        query = select(Notification.id).where(Notification.state == NotificationState.PENDING.value)
        if now is not None:
            query = query.where(Notification.next_attempt_at <= now)
        return len(session.scalars(query).all())


def list_notifications(
    session: Session,
    *,
    state: NotificationState | None = None,
    run_id: str | None = None,
    limit: int = 50,
) -> list[Notification]:
    """Outbox rows, newest first."""
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Notification.state == state.value)
    if run_id is not None:
        query = query.where(Notification.run_id == run_id)
    return list(session.scalars(query).all())


def notification_view(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "event": row.event,
        "channel": row.channel,
        "run_id": row.run_id,
        "phase_id": row.phase_id,
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat(),
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }
