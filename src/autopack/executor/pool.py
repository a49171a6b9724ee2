"""The embedded execution pool: runs executed in background threads of `autopack serve`.

Bounded by ``AUTOPACK_EXECUTOR_POOL_SIZE``. A run is executed at most once at a time in
this process; across processes the run's lease guarantees one executor per run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger("autopack.executor.pool")


class ExecutionPool:
    """Executes runs in background threads. ``execute`` is ``run_id -> None``."""

    def __init__(self, execute: Callable[[str], object], max_workers: int) -> None:
        self._execute = execute
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="autopack-run")
        self._active: dict[str, Future[object]] = {}
        self._lock = threading.Lock()

    def submit(self, run_id: str) -> bool:
        """Start executing ``run_id``; False if it is already executing here."""
        with self._lock:
            current = self._active.get(run_id)
            if current is not None and not current.done():
                return False
            future = self._pool.submit(self._guarded, run_id)
            self._active[run_id] = future
            return True

    def _guarded(self, run_id: str) -> object:
        try:
            return self._execute(run_id)
        except Exception:  # the executor records errors itself; never kill the thread pool
            log.exception("run %s stopped with an error", run_id)
            return None

    def is_active(self, run_id: str) -> bool:
        with self._lock:
            future = self._active.get(run_id)
            return future is not None and not future.done()

    def wait(self, run_id: str, timeout: float | None = None) -> None:
        """Block until the run's current execution ends (tests and shutdown)."""
        with self._lock:
            future = self._active.get(run_id)
        if future is not None:
            future.result(timeout=timeout)

    def shutdown(self) -> None:
        # Running executions stop at their next step when the process exits; their leases
        # expire and `autopack run --resume` (or another server) continues them.
        self._pool.shutdown(wait=False, cancel_futures=True)
