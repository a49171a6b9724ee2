"""The procrastinate adapter: one waiting job per run, with the run's lock."""

from __future__ import annotations

import pytest
from procrastinate.testing import InMemoryConnector

from autopack.distributed.queue import RUN_QUEUE, RUN_TASK, build_app, defer_run, libpq_dsn
from autopack.distributed.tasks import register_tasks
from autopack.errors import ConfigurationError
from autopack.settings import Settings


def test_libpq_dsn_drops_the_sqlalchemy_driver_and_keeps_the_rest() -> None:
    dsn = libpq_dsn("postgresql+psycopg://ap:s3cret@db.internal:6543/autopack?sslmode=require")
    assert dsn == "postgresql://ap:s3cret@db.internal:6543/autopack?sslmode=require"


def test_libpq_dsn_refuses_sqlite_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="AUTOPACK_DATABASE_URL"):
        libpq_dsn("sqlite:////tmp/autopack.db")


def test_a_run_is_queued_once_with_its_lock() -> None:
    connector = InMemoryConnector()
    app = build_app(Settings(), connector)
    executed: list[str] = []
    register_tasks(app, executed.append)
    with app.open():
        assert defer_run(app, "r1") is True
        assert defer_run(app, "r1") is False  # already queued: not an error
        assert defer_run(app, "r2") is True
    jobs = sorted(connector.jobs.values(), key=lambda j: j["id"])
    assert [(j["task_name"], j["lock"], j["queueing_lock"], j["queue_name"]) for j in jobs] == [
        (RUN_TASK, "r1", "r1", RUN_QUEUE),
        (RUN_TASK, "r2", "r2", RUN_QUEUE),
    ]
    assert [j["args"] for j in jobs] == [{"run_id": "r1"}, {"run_id": "r2"}]

    # A worker executes them through the registered task.
    app.run_worker(
        queues=[RUN_QUEUE], wait=False, install_signal_handlers=False, listen_notify=False
    )
    assert sorted(executed) == ["r1", "r2"]
    # Once a job left the queue, the run may be queued again (e.g. after an approval).
    with app.open():
        assert defer_run(app, "r1") is True


def test_a_delayed_retry_is_scheduled_in_the_future() -> None:
    connector = InMemoryConnector()
    app = build_app(Settings(), connector)
    with app.open():
        assert defer_run(app, "r1", delay_seconds=30) is True
    (job,) = connector.jobs.values()
    assert job["scheduled_at"] is not None
