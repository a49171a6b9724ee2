"""Run leases with fencing tokens: one executor per run, and no write from one that lost it.

A run's lease is ``(lease_owner, lease_expires_at, lease_token)`` on its row. Every
acquisition by a new owner raises ``lease_token`` by one (atomically, by a conditional
UPDATE on the token it read) and records ``(run, token, owner)`` in ``run_leases``, the
write history: each token belongs to exactly one executor.

Fencing: an executor runs inside :func:`fenced` with its :class:`Fence`. Every session
used in that context checks, before its transaction's first write (an ORM flush with
changes, or an INSERT/UPDATE/DELETE statement), that the run's row still has the fence's
owner and token; the check is itself a conditional UPDATE of that row, so it locks the
row until the transaction ends (PostgreSQL row lock; on SQLite the write lock of the
whole database). A takeover, which must update the same row, therefore either commits
before the check (the check fails: :class:`~autopack.errors.LeaseLost`, the transaction
is rolled back, nothing of it persists) or waits until the fenced transaction has
committed. There is no window in which a stale executor's write lands after a takeover.
The hooks live on the Session class, so no service has to remember to check: whatever an
executor writes, through any service, is fenced.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, select, update
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from autopack.db.orm import DecisionLog, Run, RunLease, utcnow
from autopack.errors import LeaseHeld, LeaseLost, NotFoundError


@dataclass(frozen=True)
class Fence:
    """What an executor holds: the run, its owner id and the fencing token it got."""

    run_id: str
    owner: str
    token: int


_CURRENT: ContextVar[Fence | None] = ContextVar("autopack_fence", default=None)
_CHECKED_KEY = "autopack_fence_checked"
_RUNS = cast(Table, Run.__table__)

# The statements every fenced transaction runs, built once (a write transaction checks
# its fence, a ref write reads the lease): constructing a statement and its cache key
# each time cost more than running it. Bound names differ from the columns an UPDATE
# may SET.
#: The check: a no-op UPDATE of the run's row, matched only while ``fence`` holds it.
#: ``updated_at`` is named so its onupdate does not fire: a check is not a change.
_CHECK_FENCE = (
    update(_RUNS)
    .where(
        _RUNS.c.id == bindparam("fence_run"),
        _RUNS.c.lease_token == bindparam("fence_token"),
        _RUNS.c.lease_owner == bindparam("fence_owner"),
    )
    .values(lease_token=_RUNS.c.lease_token, updated_at=_RUNS.c.updated_at)
)
#: Who holds the run's lease, with which token.
_LEASE_OF = select(_RUNS.c.lease_owner, _RUNS.c.lease_token).where(
    _RUNS.c.id == bindparam("fence_run")
)


def current_fence() -> Fence | None:
    """The fence of the executor running in this context (thread), if any."""
    return _CURRENT.get()


@contextmanager
def fenced(fence: Fence) -> Iterator[Fence]:
    """Fence every database write made in this context (this thread) with ``fence``.

    Context variables do not follow into new threads: a thread that writes for the
    executor must enter :func:`fenced` itself.
    """
    reset = _CURRENT.set(fence)
    try:
        yield fence
    finally:
        _CURRENT.reset(reset)


def check_fence(session: Session, fence: Fence) -> None:
    """Refuse (LeaseLost) unless ``fence`` still holds the run's lease, and lock the run's
    row for the rest of the session's transaction so no takeover can slip in before it
    commits."""
    # A no-op assignment: the point is the row lock.
    result = session.connection().execute(
        _CHECK_FENCE,
        {"fence_run": fence.run_id, "fence_token": fence.token, "fence_owner": fence.owner},
    )
    if result.rowcount != 1:
        holder = session.connection().execute(_LEASE_OF, {"fence_run": fence.run_id}).first()
        now_held = (
            f"{holder[0]} holds it with token {holder[1]}"
            if holder is not None and holder[0]
            else "nobody holds it now"
        )
        raise LeaseLost(
            f"run {fence.run_id!r}: this executor ({fence.owner}, token {fence.token}) lost "
            f"its lease ({now_held}); its write was refused",
            run_id=fence.run_id,
            token=fence.token,
        )


def assert_lease_current(session: Session, fence: Fence) -> None:
    """LeaseLost unless ``fence`` still holds the run's lease: a plain read that takes no
    lock, for checks made outside a write (before a git ref update, under the repository
    lock: a takeover's own ref updates wait for that lock, so they come after)."""
    row = session.execute(_LEASE_OF, {"fence_run": fence.run_id}).first()
    if row is None or row[0] != fence.owner or row[1] != fence.token:
        holder = f"{row[0]} holds it with token {row[1]}" if row and row[0] else "nobody does"
        raise LeaseLost(
            f"run {fence.run_id!r}: this executor ({fence.owner}, token {fence.token}) lost "
            f"its lease ({holder})",
            run_id=fence.run_id,
            token=fence.token,
        )


def _ensure_fenced(session: Session) -> None:
    fence = _CURRENT.get()
    if fence is None:
        return
    transaction = session.get_transaction()
    if transaction is not None and session.info.get(_CHECKED_KEY) is transaction:
        return  # checked in this transaction already: the row lock is still held
    check_fence(session, fence)
    session.info[_CHECKED_KEY] = session.get_transaction()


@event.listens_for(Session, "before_flush")
def _fence_flush(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    if not (session.new or session.dirty or session.deleted):
        return
    _ensure_fenced(session)
    fence = _CURRENT.get()
    if fence is not None:
        # The write history: each decision names the token it was written under.
        for obj in session.new:
            if isinstance(obj, DecisionLog) and obj.lease_token is None:
                obj.lease_token = fence.token


@event.listens_for(Session, "do_orm_execute")
def _fence_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _ensure_fenced(state.session)


def acquire_lease(
    session: Session,
    run_id: str,
    owner: str,
    *,
    seconds: int,
    now: datetime | None = None,
    takeover: str | None = None,
) -> Run:
    """Take the run's lease for ``owner``; the returned run's ``lease_token`` is the fence.

    A live lease held by someone else is refused (LeaseHeld); an expired one is taken
    over, as is one held by ``takeover`` (a holder the caller knows is dead). Renewing
    one's own lease keeps the token; any other acquisition raises it by one and records
    the new holder in ``run_leases``. Two executors racing for one run cannot both get the
    same token: the raise is conditional on the token read, and the loser gets LeaseHeld.
    """
    now = now or utcnow()
    run = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).one_or_none()
    if run is None:
        raise NotFoundError(f"run {run_id!r} not found", run_id=run_id)
    if (
        run.lease_owner
        and run.lease_owner not in (owner, takeover)
        and run.lease_expires_at
        and run.lease_expires_at > now
    ):
        raise _held(run, now)
    expires = now + timedelta(seconds=seconds)
    if run.lease_owner == owner:
        run.lease_expires_at = expires
        session.flush()
        return run
    seen = run.lease_token
    table = _RUNS
    result = session.connection().execute(
        update(table)
        .where(table.c.id == run_id, table.c.lease_token == seen)
        .values(lease_token=seen + 1, lease_owner=owner, lease_expires_at=expires)
    )
    if result.rowcount != 1:
        session.refresh(run)
        raise _held(run, now)
    session.refresh(run)
    session.add(RunLease(run_id=run_id, token=seen + 1, owner=owner, acquired_at=now))
    session.flush()
    return run


def _held(run: Run, now: datetime) -> LeaseHeld:
    left = int((run.lease_expires_at - now).total_seconds()) if run.lease_expires_at else 0
    return LeaseHeld(
        f"run {run.id!r} is being executed by {run.lease_owner} (lease expires "
        f"in {max(left, 0)}s); wait for it to finish, or cancel it with "
        f"POST /runs/{run.id}/cancel",
        run_id=run.id,
        owner=run.lease_owner,
    )


def renew_lease(session: Session, fence: Fence, *, seconds: int, now: datetime) -> None:
    """Extend the lease of ``fence``'s holder; LeaseLost when it is no longer theirs."""
    table = _RUNS
    result = session.connection().execute(
        update(table)
        .where(
            table.c.id == fence.run_id,
            table.c.lease_token == fence.token,
            table.c.lease_owner == fence.owner,
        )
        .values(lease_expires_at=now + timedelta(seconds=seconds), updated_at=table.c.updated_at)
    )
    if result.rowcount != 1:
        raise LeaseLost(
            f"run {fence.run_id!r}: lease token {fence.token} is no longer current",
            run_id=fence.run_id,
            token=fence.token,
        )


def release_lease(
    session: Session,
    run_id: str,
    owner: str,
    *,
    token: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Give the lease up if ``owner`` (with ``token``, when given) still holds it; True if
    it did. A lease already taken over is left alone: the release is one conditional
    UPDATE, so it cannot clear a lease someone took between a read and a write."""
    table = _RUNS
    conditions = [table.c.id == run_id, table.c.lease_owner == owner]
    if token is not None:
        conditions.append(table.c.lease_token == token)
    result = session.connection().execute(
        update(table).where(*conditions).values(lease_owner=None, lease_expires_at=None)
    )
    run = session.get(Run, run_id)
    if run is not None:
        session.refresh(run)  # the identity map may hold the row as it was before
    if result.rowcount != 1 or run is None:
        return False
    held = session.scalars(
        select(RunLease).where(RunLease.run_id == run_id, RunLease.token == run.lease_token)
    ).one_or_none()
    if held is not None and held.released_at is None:
        held.released_at = now or utcnow()
    session.flush()
    return True


def lease_history(session: Session, run_id: str) -> list[RunLease]:
    """Every acquisition of ``run_id``'s lease by a new owner, in token order."""
    return list(
        session.scalars(
            select(RunLease).where(RunLease.run_id == run_id).order_by(RunLease.token)
        ).all()
    )
