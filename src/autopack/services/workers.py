"""Workers: registration, heartbeat and the list people and /health read.

A worker is alive while its heartbeat is younger than ``AUTOPACK_WORKER_STALE_SECONDS``;
an older one is ``stale`` (killed, or its machine is gone); one that shut down cleanly
is ``stopped``. Stopped workers are kept (for the record) until pruned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from autopack.db.orm import WorkerRecord, utcnow


@dataclass(frozen=True)
class WorkerView:
    """One worker as shown to people: ``status`` is alive, stale or stopped."""

    id: str
    host: str
    pid: int
    version: str
    concurrency: int
    status: str
    current_runs: list[str]
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age_seconds: float
    stopped_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "concurrency": self.concurrency,
            "status": self.status,
            "current_runs": self.current_runs,
            "started_at": self.started_at.isoformat(),
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "heartbeat_age_seconds": round(self.heartbeat_age_seconds, 1),
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
        }


def register_worker(
    session: Session,
    worker_id: str,
    *,
    host: str,
    pid: int,
    version: str,
    concurrency: int,
    now: datetime | None = None,
) -> WorkerRecord:
    """Record a starting worker (flush only)."""
    now = now or utcnow()
    record = WorkerRecord(
        id=worker_id,
        host=host,
        pid=pid,
        version=version,
        concurrency=concurrency,
        state="running",
        current_runs=[],
        started_at=now,
        heartbeat_at=now,
    )
    session.add(record)
    session.flush()
    return record


def heartbeat(
    session: Session,
    worker_id: str,
    *,
    current_runs: list[str],
    state: str = "running",
    now: datetime | None = None,
) -> bool:
    """Renew a worker's heartbeat and say what it is executing. ``state`` is running or
    stopping (after SIGTERM, while it finishes its steps). False when the worker is not
    registered (pruned while it paused): the caller registers it again."""
    record = session.get(WorkerRecord, worker_id)
    if record is None:
        return False
    record.heartbeat_at = now or utcnow()
    record.current_runs = sorted(current_runs)
    record.state = state
    session.flush()
    return True


def mark_stopped(session: Session, worker_id: str, *, now: datetime | None = None) -> None:
    """A worker that exits cleanly: state stopped, no current runs."""
    record = session.get(WorkerRecord, worker_id)
    if record is not None:
        record.state = "stopped"
        record.current_runs = []
        record.stopped_at = now or utcnow()
        session.flush()


def worker_status(record: WorkerRecord, now: datetime, stale_after: float) -> str:
    if record.state == "stopped":
        return "stopped"
    age = (now - record.heartbeat_at).total_seconds()
    return "stale" if age > stale_after else "alive"


def list_workers(
    session: Session,
    *,
    stale_after: float,
    include_stopped: bool = True,
    now: datetime | None = None,
) -> list[WorkerView]:
    """Workers, newest first, with their status by heartbeat age."""
    now = now or utcnow()
    rows = session.scalars(select(WorkerRecord).order_by(WorkerRecord.started_at.desc()))
    views = []
    for record in rows:
        status = worker_status(record, now, stale_after)
        if status == "stopped" and not include_stopped:
            continue
        views.append(
            WorkerView(
                id=record.id,
                host=record.host,
                pid=record.pid,
                version=record.version,
                concurrency=record.concurrency,
                status=status,
                current_runs=[str(r) for r in record.current_runs],
                started_at=record.started_at,
                heartbeat_at=record.heartbeat_at,
                heartbeat_age_seconds=(now - record.heartbeat_at).total_seconds(),
                stopped_at=record.stopped_at,
            )
        )
    return views


def prune_workers(session: Session, *, older_than: timedelta, now: datetime | None = None) -> int:
    """Forget stopped or stale workers whose last heartbeat is older than ``older_than``."""
    cutoff = (now or utcnow()) - older_than
    result = session.execute(delete(WorkerRecord).where(WorkerRecord.heartbeat_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
