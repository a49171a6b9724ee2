"""Submitting a run for execution: on the local pool, or as a job for remote workers.

The one place that decides where a run executes (``Settings.uses_job_queue``): the API's
``POST /runs/{run_id}/execute``, an approval that unparks a run, and the CLI all call
:func:`submit_run`. With the job queue, the job is a row in procrastinate's table in the
same database, so deferring it is a write like any other service write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy.orm import Session, sessionmaker

from autopack.db.orm import Run, utcnow
from autopack.db.session import unit_of_work
from autopack.domain.states import RunState
from autopack.errors import ConfigurationError, IllegalTransition, LeaseHeld
from autopack.services import runs as run_service
from autopack.services.decisions import record_decision
from autopack.settings import Settings


class RunDeferrer(Protocol):
    """What the queue path needs: ``defer(run_id) -> queued`` (False: already queued)."""

    def defer(self, run_id: str, *, delay_seconds: float = 0) -> bool: ...


@dataclass(frozen=True)
class Submission:
    """Where a submitted run went. ``accepted`` is False only when it was already
    waiting in the queue (nothing new was queued; not an error)."""

    run_id: str
    state: str
    where: Literal["queue", "local"]
    accepted: bool
    message: str


def check_executable(session: Session, run_id: str, now: datetime | None = None) -> Run:
    """The run, if it may be executed now: IllegalTransition when it already succeeded,
    ConfigurationError without a repository, LeaseHeld while a live executor holds it."""
    run = run_service.get_run(session, run_id)
    if run.state == RunState.DONE_SUCCESS.value:
        raise IllegalTransition(
            f"run {run_id!r} already finished successfully",
            current=run.state,
            requested=RunState.PHASE_EXECUTION.value,
            allowed=[],
        )
    if not run.repo_path:
        raise ConfigurationError(
            f"run {run_id!r} has no target repository; create it with a RunSpec whose "
            "`repo` names a local git repository"
        )
    now = now or utcnow()
    if run.lease_owner and run.lease_expires_at is not None and run.lease_expires_at > now:
        raise LeaseHeld(
            f"run {run_id!r} is already executing ({run.lease_owner})",
            run_id=run_id,
            owner=run.lease_owner,
        )
    return run


def submit_run(
    factory: sessionmaker[Session],
    settings: Settings,
    run_id: str,
    *,
    local: Callable[[str], bool] | None = None,
    queue: RunDeferrer | None = None,
    actor: str | None = None,
) -> Submission:
    """Check ``run_id`` (see :func:`check_executable`) and start it where the deployment
    executes runs: a job in the queue (``queue``) when ``settings.uses_job_queue``, else
    ``local(run_id)`` (False: it is already executing in this process -> LeaseHeld).
    ConfigurationError when the needed path was not given (e.g. the queue on SQLite).

    ``actor``: the person who asked (start or resume), recorded in the decision log once
    the run is submitted; None when the system continues a run on its own (after an
    approval, which is itself the recorded decision)."""
    submission = _submit(factory, settings, run_id, local=local, queue=queue)
    if actor is not None and submission.accepted:
        with unit_of_work(factory) as session:
            record_execution_request(
                session, run_id, actor=actor, where=submission.where, message=submission.message
            )
    return submission


def record_execution_request(
    session: Session, run_id: str, *, actor: str, where: str, message: str = ""
) -> None:
    """Record that ``actor`` asked for ``run_id`` to execute (start or resume) ``where``
    (local, queue, or cli: in the asking process). NotFoundError for an unknown run."""
    run = run_service.get_run(session, run_id)
    record_decision(
        session,
        actor=actor,
        decision="execution_requested",
        rationale=message or f"run {run_id} asked to execute ({where})",
        run_id=run_id,
        where=where,
        from_state=run.state,
    )


def _submit(
    factory: sessionmaker[Session],
    settings: Settings,
    run_id: str,
    *,
    local: Callable[[str], bool] | None,
    queue: RunDeferrer | None,
) -> Submission:
    with unit_of_work(factory) as session:
        state = check_executable(session, run_id).state
    if settings.uses_job_queue:
        if settings.is_embedded_database:
            raise ConfigurationError(
                "AUTOPACK_EXECUTION=queue needs PostgreSQL (AUTOPACK_DATABASE_URL="
                "postgresql+psycopg://USER@HOST/DB); on SQLite use AUTOPACK_EXECUTION=local"
            )
        if queue is None:
            raise ConfigurationError("this process cannot reach the job queue")
        queued = queue.defer(run_id)
        message = (
            f"run {run_id} is queued for a worker; follow it with GET /runs/{run_id}/status"
            if queued
            else f"run {run_id} is already queued for a worker"
        )
        return Submission(run_id, state, "queue", queued, message)
    if local is None:
        raise ConfigurationError(
            "this deployment executes runs locally (SQLite, or AUTOPACK_EXECUTION=local); "
            "use `autopack run --resume` or POST /runs/{run_id}/execute"
        )
    if not local(run_id):
        raise LeaseHeld(f"run {run_id!r} is already executing in this server", run_id=run_id)
    return Submission(
        run_id,
        state,
        "local",
        True,
        f"run {run_id} is executing; follow it with GET /runs/{run_id}/status",
    )
