"""ExecutionPool.continue_run: a run continued while it is executing here goes once more
after that execution ends (a person approves a run whose parked executor is still
exiting), instead of being refused."""

from __future__ import annotations

import threading

from autopack.executor.pool import ExecutionPool
from autopack.settings import Settings


def test_a_run_continued_while_executing_executes_once_more(
    sqlite_settings: Settings,
) -> None:
    finished: list[str] = []
    twice = threading.Event()

    def on_done(run_id: str, result: object) -> None:
        finished.append(run_id)
        if len(finished) == 2:
            twice.set()

    pool = ExecutionPool(sqlite_settings, 1, on_done=on_done)
    try:
        # An unknown run: each execution ends at once with an error, which is enough to
        # see how many executions there were.
        assert pool.submit("no-such-run")
        assert pool.submit("no-such-run") is False  # a plain submit is refused meanwhile
        assert pool.continue_run("no-such-run")
        assert twice.wait(120), f"executed {len(finished)} time(s), expected 2"
        pool.wait("no-such-run", timeout=120)
        assert finished == ["no-such-run", "no-such-run"]
    finally:
        pool.shutdown()
