"""Worker registration and liveness by heartbeat age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autopack.db.database import Database
from autopack.db.session import unit_of_work
from autopack.services import workers as worker_service

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _register(db: Database, worker_id: str, now: datetime) -> None:
    with unit_of_work(db.factory) as session:
        worker_service.register_worker(
            session, worker_id, host="h1", pid=42, version="0.1.0", concurrency=2, now=now
        )


def test_workers_are_alive_then_stale_then_stopped(db: Database) -> None:
    _register(db, "h1:42:a", T0)
    _register(db, "h1:43:b", T0 + timedelta(seconds=1))
    with unit_of_work(db.factory) as session:
        assert worker_service.heartbeat(
            session, "h1:42:a", current_runs=["r2", "r1"], now=T0 + timedelta(seconds=50)
        )
        assert not worker_service.heartbeat(session, "gone", current_runs=[], now=T0)

    now = T0 + timedelta(seconds=70)
    with unit_of_work(db.factory) as session:
        views = {v.id: v for v in worker_service.list_workers(session, stale_after=60, now=now)}
    assert views["h1:42:a"].status == "alive"
    assert views["h1:42:a"].current_runs == ["r1", "r2"]
    assert views["h1:43:b"].status == "stale"  # no heartbeat for 69 s
    assert views["h1:43:b"].heartbeat_age_seconds == 69

    with unit_of_work(db.factory) as session:
        worker_service.mark_stopped(session, "h1:42:a", now=now)
    with unit_of_work(db.factory) as session:
        listed = worker_service.list_workers(session, stale_after=60, now=now)
        running = worker_service.list_workers(
            session, stale_after=60, include_stopped=False, now=now
        )
    assert {v.id: v.status for v in listed} == {"h1:42:a": "stopped", "h1:43:b": "stale"}
    assert [v.id for v in running] == ["h1:43:b"]
    assert {v.id: v.to_dict()["current_runs"] for v in listed}["h1:42:a"] == []

    with unit_of_work(db.factory) as session:
        assert worker_service.prune_workers(session, older_than=timedelta(minutes=5), now=now) == 0
        later = now + timedelta(minutes=10)
        assert (
            worker_service.prune_workers(session, older_than=timedelta(minutes=5), now=later) == 2
        )
