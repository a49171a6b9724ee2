"""`autopack worker`: a process that takes run jobs from the queue and executes them.

Alongside procrastinate's worker loop, a maintenance loop (every
``AUTOPACK_WORKER_HEARTBEAT_SECONDS``) records this worker's heartbeat and current runs in
the ``workers`` table and recovers stalled jobs: a job left ``doing`` by a worker whose
procrastinate heartbeat stopped (``get_stalled_jobs``) is retried once the run's lease is
free (expired, or held by a dead process on this host). Only then: a worker that got
SIGTERM stops its procrastinate heartbeat while its job still runs, and retrying that job
blindly would start a second copy; the lease refuses such a copy anyway (it re-queues
itself behind the lease), so nothing runs twice.

SIGTERM (or Ctrl-C): no new jobs; each running run finishes its current step, stops at the
executor's next checkpoint (ShuttingDown), releases its lease and is queued again for
another worker; then the process exits. A second signal does not cut a step short: the
step is saved before the next begins either way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import procrastinate
from procrastinate import jobs as pq_jobs
from procrastinate import worker as pq_worker
from sqlalchemy.orm import Session

from autopack import __version__
from autopack.db.database import Database
from autopack.db.orm import Run, utcnow
from autopack.db.session import unit_of_work
from autopack.distributed.queue import (
    RUN_QUEUE,
    RUN_TASK,
    build_app,
    defer_run,
    notify_job_ready,
    retry_delay,
)
from autopack.distributed.tasks import register_tasks
from autopack.domain.states import RunState
from autopack.errors import AutopackError, LeaseHeld
from autopack.executor.loop import build_deps, execute_run
from autopack.executor.runtime import ExecutorDeps, owner_is_dead
from autopack.services import approvals as approval_service
from autopack.services import workers as worker_service
from autopack.services.event_relay import with_remote_progress
from autopack.settings import Settings

log = logging.getLogger("autopack.worker")

DepsFactory = Callable[[Settings, Database], ExecutorDeps]
#: Stopped or dead workers stay listed this long after their last heartbeat.
WORKER_RECORD_TTL = timedelta(days=1)


def _default_deps(settings: Settings, db: Database) -> ExecutorDeps:
    return build_deps(settings, db)


class RunWorker:
    """One worker process: registration, the job loop, maintenance, graceful stop."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        concurrency: int,
        connector: object | None = None,
        deps_factory: DepsFactory = _default_deps,
    ) -> None:
        self.settings = settings
        self.db = db
        self.concurrency = concurrency
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.shutdown = threading.Event()
        self._deps_factory = deps_factory
        self._current: set[str] = set()
        self._lock = threading.Lock()
        self.app: procrastinate.App = build_app(settings, connector)
        register_tasks(self.app, self.execute)

    # -- the job ----------------------------------------------------------------------
    def execute(self, run_id: str) -> None:
        """Execute (or resume) one run; called in a worker thread for each job."""
        with self._lock:
            self._current.add(run_id)
        try:
            self._execute(run_id)
        finally:
            with self._lock:
                self._current.discard(run_id)

    def _execute(self, run_id: str) -> None:
        deps = self._deps_factory(self.settings, self.db)
        deps.stop_requested = self.shutdown
        # The server's dashboard follows the run live (LISTEN/NOTIFY on PostgreSQL).
        deps.progress = with_remote_progress(deps.progress, self.db.engine, self.db.factory, run_id)
        try:
            outcome = execute_run(deps, run_id)
        except LeaseHeld:
            # A second copy of a live job (a blind retry): look again once the holder's
            # lease would have expired; if it finished by then, that job has nothing to do.
            delay = self._lease_left(run_id)
            if delay is not None:
                queued = defer_run(self.app, run_id, delay_seconds=retry_delay(delay))
                log.info("run %s is held by a live executor; queued again: %s", run_id, queued)
            return
        except AutopackError as exc:  # unknown run, no repository: nothing a retry fixes
            log.error("run %s cannot be executed: %s", run_id, exc.message)
            return
        ended = RunState(outcome.state).is_terminal
        if self.shutdown.is_set() and not outcome.awaiting_approval and not ended:
            queued = defer_run(self.app, run_id)
            log.info("run %s handed over to another worker (queued: %s)", run_id, queued)

    def _lease_left(self, run_id: str) -> timedelta | None:
        with unit_of_work(self.db.factory) as session:
            run = session.get(Run, run_id)
            if run is None or RunState(run.state) is RunState.DONE_SUCCESS:
                return None
            if run.lease_expires_at is None:
                return timedelta()
            return max(timedelta(), run.lease_expires_at - utcnow())

    # -- maintenance ------------------------------------------------------------------
    def current_runs(self) -> list[str]:
        with self._lock:
            return sorted(self._current)

    def _record_heartbeat(self) -> None:
        state = "stopping" if self.shutdown.is_set() else "running"
        with unit_of_work(self.db.factory) as session:
            if not worker_service.heartbeat(
                session, self.worker_id, current_runs=self.current_runs(), state=state
            ):
                self._register(session)
            worker_service.prune_workers(session, older_than=WORKER_RECORD_TTL)

    def _register(self, session: Session) -> None:
        worker_service.register_worker(
            session,
            self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            concurrency=self.concurrency,
        )

    def _run_is_free(self, run_id: str) -> bool | None:
        """True when no live executor holds the run's lease; None when the run ended (its
        stalled job only needs closing) or is unknown."""
        with unit_of_work(self.db.factory) as session:
            run = session.get(Run, run_id)
            if run is None or RunState(run.state).is_terminal:
                return None
            live = (
                run.lease_owner is not None
                and run.lease_expires_at is not None
                and run.lease_expires_at > utcnow()
                and not owner_is_dead(run.lease_owner)
            )
            return not live

    async def recover_stalled_jobs(self) -> list[str]:
        """Retry the run jobs of dead workers whose runs are free; close those whose run
        already ended. Returns the run ids retried."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(
            task_name=RUN_TASK, seconds_since_heartbeat=self.settings.worker_stale_seconds
        )
        retried = []
        for job in stalled:
            run_id = str(job.task_kwargs.get("run_id", ""))
            free = await asyncio.to_thread(self._run_is_free, run_id)
            assert job.id is not None
            if free is None:
                await manager.finish_job_by_id_async(
                    job.id, status=pq_jobs.Status.SUCCEEDED, delete_job=False
                )
            elif free:
                await manager.retry_job(job)
                await asyncio.to_thread(notify_job_ready, self.db.engine, job.id)
                retried.append(run_id)
                log.warning("recovered run %s from a stalled job (%s)", run_id, job.id)
        return retried

    def expire_approvals(self) -> list[str]:
        """Expire approvals past their time (services/approvals.expire_overdue) and queue
        the runs whose expiry counts as a rejection. Returns the run ids queued."""
        now = utcnow()
        with unit_of_work(self.db.factory) as session:
            expired = approval_service.expire_overdue(session, now)
            run_ids = approval_service.runs_to_resume(session, expired, now)
        for run_id in run_ids:
            queued = defer_run(self.app, run_id)
            log.info("run %s continues after its approval expired (queued: %s)", run_id, queued)
        return run_ids

    async def _maintain(self, stop: asyncio.Event) -> None:
        interval = self.settings.worker_heartbeat_seconds
        while not stop.is_set():
            try:
                await asyncio.to_thread(self._record_heartbeat)
                if not self.shutdown.is_set():
                    await self.recover_stalled_jobs()
                    await asyncio.to_thread(self.expire_approvals)
            except Exception:  # a missed round is retried at the next one
                log.exception("worker maintenance failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                continue

    # -- the process ------------------------------------------------------------------
    async def run_async(self) -> None:
        """Run until SIGTERM/SIGINT, then stop gracefully (see the module docstring)."""
        await asyncio.to_thread(self._register_now)
        loop = asyncio.get_running_loop()
        stop_maintenance = asyncio.Event()
        async with self.app.open_async():
            worker = pq_worker.Worker(
                app=self.app,
                queues=[RUN_QUEUE],
                name=self.worker_id,
                concurrency=self.concurrency,
                fetch_job_polling_interval=self.settings.worker_poll_seconds,
                listen_notify=True,
                install_signal_handlers=False,
                update_heartbeat_interval=self.settings.worker_heartbeat_seconds,
                stalled_worker_timeout=self.settings.worker_stale_seconds,
            )

            def on_signal() -> None:
                if not self.shutdown.is_set():
                    log.warning("stopping: finishing the current steps, then handing over")
                    self.shutdown.set()
                    worker.stop()  # type: ignore[no-untyped-call]

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, on_signal)
            maintenance = asyncio.create_task(self._maintain(stop_maintenance))
            try:
                await worker.run()  # type: ignore[no-untyped-call]
            finally:
                stop_maintenance.set()
                await maintenance
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
        await asyncio.to_thread(self._mark_stopped)

    def _register_now(self) -> None:
        with unit_of_work(self.db.factory) as session:
            self._register(session)

    def _mark_stopped(self) -> None:
        with unit_of_work(self.db.factory) as session:
            worker_service.mark_stopped(session, self.worker_id)

    def run(self) -> None:
        """Blocking entry point for the CLI."""
        asyncio.run(self.run_async())
