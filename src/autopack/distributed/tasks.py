"""The job a worker executes: ``autopack.execute_run(run_id)``."""

from __future__ import annotations

from collections.abc import Callable

import procrastinate

from autopack.distributed.queue import RUN_QUEUE, RUN_TASK


def register_tasks(app: procrastinate.App, execute: Callable[[str], None]) -> None:
    """Register the run task on ``app``; ``execute(run_id)`` does the work (in a thread of
    the worker: the executor is synchronous)."""

    @app.task(name=RUN_TASK, queue=RUN_QUEUE)
    def execute_run_job(run_id: str) -> None:
        execute(run_id)
