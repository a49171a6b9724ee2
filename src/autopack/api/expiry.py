"""The server's approval-expiry loop: approvals past their time expire, and runs whose
expiry counts as a rejection continue where this deployment executes runs.

Started by the app's lifespan (``api/app.py``) every
``AUTOPACK_APPROVAL_EXPIRY_CHECK_SECONDS``; ``expire_and_resume`` is one round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from autopack.db.orm import utcnow
from autopack.db.session import unit_of_work
from autopack.errors import AutopackError
from autopack.services import approvals as approval_service
from autopack.services import execution

log = logging.getLogger("autopack.api.expiry")


def expire_and_resume(app: FastAPI, now: datetime | None = None) -> list[str]:
    """Expire overdue approvals; continue the runs that should. Returns those run ids."""
    factory = app.state.session_factory
    now = now or utcnow()
    with unit_of_work(factory) as session:
        expired = approval_service.expire_overdue(session, now)
        run_ids = approval_service.runs_to_resume(session, expired, now)
    for approval in expired:
        log.info("approval %s of run %s expired", approval.id, approval.run_id)
    pool = getattr(app.state, "executor_pool", None)
    resumed = []
    for run_id in run_ids:
        try:
            execution.submit_run(
                factory,
                app.state.settings,
                run_id,
                local=pool.submit if pool is not None else None,
                queue=getattr(app.state, "run_queue", None),
            )
            resumed.append(run_id)
        except AutopackError as exc:
            # The expiry is saved; the run waits for `POST /runs/{id}/execute` instead.
            log.warning("run %s was not continued after its approval expired: %s", run_id, exc)
    return resumed


async def expiry_loop(
    app: FastAPI, stop: asyncio.Event, interval: float, clock: Callable[[], datetime] = utcnow
) -> None:
    """One round every ``interval`` seconds until ``stop``; a failed round is logged and
    the next one tries again."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
            return
        except TimeoutError:
            pass
        try:
            await asyncio.to_thread(expire_and_resume, app, clock())
        except Exception:
            log.exception("approval expiry round failed; retrying")
