"""The procrastinate adapter: the App, deferring a run as a job, and the queue's schema.

One job per run: the task ``autopack.execute_run`` is deferred with ``lock=run_id`` (two
jobs of one run never execute at once: procrastinate's unique index on running jobs) and
``queueing_lock=run_id`` (a run waits in the queue once; a second request is reported as
"already queued", not an error). procrastinate errors are translated here.

This module imports nothing above services, so the execution service can defer jobs
without depending on the worker entry point.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import procrastinate
from procrastinate import exceptions as pq_errors
from sqlalchemy import Engine, make_url, text

from autopack.errors import ConfigurationError, StorageUnavailable
from autopack.settings import Settings

#: The task that executes (or resumes) one run; workers register it under this name.
RUN_TASK = "autopack.execute_run"
#: The queue runs wait in.
RUN_QUEUE = "runs"


def libpq_dsn(database_url: str) -> str:
    """``postgresql+psycopg://user:pw@host:5432/db?sslmode=x`` as a libpq URI that psycopg
    (and so procrastinate) accepts; ConfigurationError for a non-PostgreSQL URL."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError(
            "remote workers need PostgreSQL: set AUTOPACK_DATABASE_URL to "
            "postgresql+psycopg://USER@HOST/DB (the embedded SQLite database runs runs on "
            "the local pool of `autopack serve` or `autopack run`)"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(settings: Settings, connector: Any | None = None) -> procrastinate.App:
    """A procrastinate App on the deployment's database (or ``connector``: tests pass an
    ``InMemoryConnector``). Not opened; tasks are registered by ``distributed.tasks``."""
    if connector is None:
        connector = procrastinate.PsycopgConnector(
            conninfo=libpq_dsn(settings.effective_database_url),
            min_size=1,
            max_size=max(4, settings.worker_concurrency + 3),
        )
    return procrastinate.App(connector=connector)


def defer_run(app: procrastinate.App, run_id: str, *, delay_seconds: float = 0) -> bool:
    """Queue ``run_id`` for a worker. True when a job was queued, False when one is
    already waiting for this run (the queueing lock). The App must be open."""
    options: dict[str, Any] = {
        "lock": run_id,
        "queueing_lock": run_id,
        "queue": RUN_QUEUE,
    }
    if delay_seconds > 0:
        options["schedule_in"] = {"seconds": delay_seconds}
    try:
        app.configure_task(RUN_TASK, **options).defer(run_id=run_id)
    except pq_errors.AlreadyEnqueued:
        return False
    except pq_errors.ConnectorException as exc:
        raise StorageUnavailable(
            f"could not queue run {run_id!r}: the job queue refused ({exc}); check that "
            "`autopack db upgrade` ran on this database"
        ) from exc
    return True


class RunQueue:
    """A lazily opened App for a long-lived process that defers runs (the API server),
    shared by its threads. ``close()`` at shutdown."""

    def __init__(self, settings: Settings, connector: Any | None = None) -> None:
        self._settings = settings
        self._connector = connector
        self._app: procrastinate.App | None = None
        self._lock = threading.Lock()

    def defer(self, run_id: str, *, delay_seconds: float = 0) -> bool:
        """See :func:`defer_run`."""
        with self._lock:
            if self._app is None:
                try:
                    self._app = build_app(self._settings, self._connector).open()
                except (pq_errors.ProcrastinateException, OSError) as exc:
                    raise StorageUnavailable(
                        f"could not reach the job queue to queue run {run_id!r}: {exc}"
                    ) from exc
            app = self._app
        return defer_run(app, run_id, delay_seconds=delay_seconds)

    def close(self) -> None:
        with self._lock:
            if self._app is not None:
                self._app.close()
                self._app = None


def queue_schema_exists(engine: Engine) -> bool:
    """True when procrastinate's tables are in this PostgreSQL database."""
    with engine.connect() as conn:
        return conn.scalar(text("SELECT to_regclass('procrastinate_jobs')")) is not None


def apply_queue_schema(settings: Settings, engine: Engine) -> bool:
    """Create procrastinate's schema with its own schema manager, once: True when it was
    applied now, False when it already existed. PostgreSQL only (the caller checks)."""
    if queue_schema_exists(engine):
        return False
    app = build_app(settings)
    with app.open():
        app.schema_manager.apply_schema()
    return True


def notify_job_ready(engine: Engine, job_id: int) -> None:
    """Wake listening workers for a job made ``todo`` again by a retry. procrastinate
    notifies only on INSERT, so without this a recovered run would wait for the next
    poll (AUTOPACK_WORKER_POLL_SECONDS); the payload is the one its own trigger sends."""
    payload = json.dumps({"type": "job_inserted", "job_id": job_id})
    with engine.begin() as conn:
        for channel in (f"procrastinate_queue_v1#{RUN_QUEUE}", "procrastinate_any_queue_v1"):
            conn.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": channel, "payload": payload},
            )


def retry_delay(lease_left: timedelta) -> float:
    """How long a job that found a live lease waits before it looks again."""
    return max(1.0, lease_left.total_seconds() + 1.0)
