"""Runs executed in worker processes: the local pool of `autopack serve` and of the
`autopack runs execute` / `autopack run PLAN...` commands.

Each run gets its own process (``multiprocessing`` spawn: a fresh interpreter, its own
database connections, no state shared with the parent), at most ``max_workers`` at once,
so a busy executor (a model call, a test suite) never holds the API's interpreter lock.
A run is executed at most once at a time by one pool; across pools and machines the run's
lease (with its fencing token) guarantees one writer per run.

Children report ``("done", run_id, result)`` on a queue; ``result`` is the run's outcome
(``RunOutcome`` as JSON) or ``{"error": message, "code": code}`` when the execution could
not start or stopped with an error. A child that dies without reporting (killed, out of
memory) is reported as an error with its exit code; its lease expires and the run can be
resumed.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from typing import Any

from autopack.settings import Settings

log = logging.getLogger("autopack.executor.pool")
_SPAWN = multiprocessing.get_context("spawn")

#: ``(run_id, result)`` for each run that ended, in the parent (from the collector thread).
DoneCallback = Callable[[str, dict[str, Any]], None]
#: ``(run_id, event, data)`` for each progress event of a child's executor, in the parent
#: (the dashboard's live stream); ``data`` holds only JSON values.
ProgressCallback = Callable[[str, str, dict[str, Any]], None]


class _RelayedProgress:
    """The child's progress listener: each event goes to the parent on the results queue."""

    def __init__(self, results: Any, run_id: str) -> None:
        self._results = results
        self._run_id = run_id

    def __call__(self, event: str, **data: Any) -> None:
        try:
            safe = json.loads(json.dumps(data, default=str))
        except (TypeError, ValueError):
            safe = {}
        self._results.put(("progress", self._run_id, {"event": event, "data": safe}))


def execute_in_process(
    settings: Settings, run_id: str, test_env: dict[str, str], results: Any, relay: bool = False
) -> None:
    """The child's entry point: open the database, execute ``run_id``, report."""
    from autopack.db.database import open_database
    from autopack.errors import AutopackError
    from autopack.executor.loop import build_deps, execute_run

    result: dict[str, Any]
    try:
        db = open_database(settings)
        try:
            deps = (
                build_deps(settings, db, progress=_RelayedProgress(results, run_id))
                if relay
                else build_deps(settings, db)
            )
            deps.test_env.update(test_env)
            result = execute_run(deps, run_id).model_dump(mode="json")
        finally:
            db.dispose()
    except AutopackError as exc:
        result = {"error": exc.message, "code": exc.code}
    except Exception as exc:  # reported to the parent; the run's own record says more
        result = {"error": f"{type(exc).__name__}: {exc}", "code": "internal_error"}
    results.put(("done", run_id, result))


@dataclass
class _Slot:
    process: SpawnProcess
    done: threading.Event = field(default_factory=threading.Event)


class ExecutionPool:
    """Executes runs in worker processes, at most ``max_workers`` at once.

    ``submit`` queues a run (False when it is already queued or executing here); runs
    start in submission order as slots free up.
    """

    def __init__(
        self,
        settings: Settings,
        max_workers: int,
        *,
        test_env: dict[str, str] | None = None,
        on_done: DoneCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self._settings = settings
        self._max = max(1, max_workers)
        self._test_env = dict(test_env or {})
        self._on_done = on_done
        self._on_progress = on_progress
        self._results: Any = _SPAWN.Queue()
        self._waiting: deque[str] = deque()
        self._running: dict[str, _Slot] = {}
        #: Runs to queue again when their current execution ends (see continue_run).
        self._again: set[str] = set()
        self._finished: dict[str, dict[str, Any]] = {}
        self._events: dict[str, threading.Event] = {}
        self._times: dict[str, tuple[float, float | None]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._collector = threading.Thread(
            target=self._collect, name="autopack-pool-collector", daemon=True
        )
        self._collector.start()

    def submit(self, run_id: str) -> bool:
        """Queue ``run_id`` for execution; False if it is already queued or executing
        (:meth:`continue_run` is for a run that must go again after its execution)."""
        with self._lock:
            if self._closed or run_id in self._running or run_id in self._waiting:
                return False
            self._finished.pop(run_id, None)
            self._events[run_id] = threading.Event()
            self._waiting.append(run_id)
            self._start_waiting()
        return True

    def continue_run(self, run_id: str) -> bool:
        """Queue ``run_id`` to continue: at once, or, when its execution here is still
        winding down (a decision can land while the executor that parked the run is still
        returning), as soon as that execution ends. False only when the pool is closed."""
        with self._lock:
            if self._closed:
                return False
            if run_id in self._running:
                self._again.add(run_id)
                return True
        self.submit(run_id)
        return True

    def is_active(self, run_id: str) -> bool:
        """Queued or executing in this pool."""
        with self._lock:
            return run_id in self._running or run_id in self._waiting

    def wait(self, run_id: str, timeout: float | None = None) -> dict[str, Any] | None:
        """Block until ``run_id``'s execution ends; its result (None if it was never
        submitted). TimeoutError when it does not end within ``timeout`` seconds."""
        with self._lock:
            done = self._events.get(run_id)
        if done is None:
            return None
        if not done.wait(timeout):
            raise TimeoutError(f"run {run_id!r} still executing after {timeout}s")
        with self._lock:
            return self._finished.get(run_id)

    def timing(self, run_id: str) -> tuple[float | None, float | None]:
        """When ``run_id``'s process started and when its execution ended (epoch
        seconds; None: not yet)."""
        with self._lock:
            return self._times.get(run_id, (None, None))

    def shutdown(self, *, wait: bool = False) -> None:
        """Stop taking runs. With ``wait`` let running ones finish; otherwise terminate
        them (SIGTERM): their leases expire and another executor resumes them."""
        with self._lock:
            self._closed = True
            self._waiting.clear()
            slots = list(self._running.values())
        for slot in slots:
            if not wait:
                slot.process.terminate()
            slot.process.join(None if wait else 10)
            if slot.process.is_alive():
                slot.process.kill()
        self._results.put(("stop", "", {}))
        self._collector.join(5)

    # -- internals (the lock is held by callers of _start_waiting) -----------------
    def _start_waiting(self) -> None:
        while self._waiting and len(self._running) < self._max:
            run_id = self._waiting.popleft()
            process = _SPAWN.Process(
                target=execute_in_process,
                args=(
                    self._settings,
                    run_id,
                    self._test_env,
                    self._results,
                    self._on_progress is not None,
                ),
                name=f"autopack-run-{run_id}",
            )
            process.start()
            self._times[run_id] = (time.time(), None)
            self._running[run_id] = _Slot(process)
            watcher = threading.Thread(target=self._watch, args=(run_id, process), daemon=True)
            watcher.start()

    def _watch(self, run_id: str, process: SpawnProcess) -> None:
        """A child that exits without reporting (killed) is finished with an error."""
        process.join()
        code = process.exitcode
        self._results.put(("exited", run_id, {"exitcode": code}))

    def _collect(self) -> None:
        reported: set[str] = set()
        while True:
            try:
                kind, run_id, result = self._results.get(timeout=1.0)
            except queue.Empty:
                continue
            if kind == "stop":
                return
            if kind == "progress":
                self._relay(run_id, result)
                continue
            if kind == "done":
                reported.add(run_id)
                self._finish(run_id, result, release_slot=False)
            elif kind == "exited":
                if run_id not in reported:
                    code = result.get("exitcode")
                    self._finish(
                        run_id,
                        {"error": f"the worker process exited ({code})", "code": "worker_died"},
                        release_slot=True,
                    )
                else:
                    reported.discard(run_id)
                    self._release(run_id)

    def _relay(self, run_id: str, message: dict[str, Any]) -> None:
        if self._on_progress is None:
            return
        try:
            self._on_progress(run_id, str(message.get("event", "")), message.get("data") or {})
        except Exception:  # a display callback must not stop the pool
            log.exception("on_progress callback failed for run %s", run_id)

    def _finish(self, run_id: str, result: dict[str, Any], *, release_slot: bool) -> None:
        with self._lock:
            self._finished[run_id] = result
            started = self._times.get(run_id, (time.time(), None))[0]
            self._times[run_id] = (started, time.time())
        if self._on_done is not None:
            try:
                self._on_done(run_id, result)
            except Exception:  # a display callback must not stop the pool
                log.exception("on_done callback failed for run %s", run_id)
        if release_slot:
            self._release(run_id)

    def _release(self, run_id: str) -> None:
        with self._lock:
            self._running.pop(run_id, None)
            event = self._events.get(run_id)
            if run_id in self._again and not self._closed:
                self._again.discard(run_id)
                self._finished.pop(run_id, None)
                self._events[run_id] = threading.Event()  # the old one is set below
                self._waiting.append(run_id)
            if not self._closed:
                self._start_waiting()
        if event is not None:
            event.set()
