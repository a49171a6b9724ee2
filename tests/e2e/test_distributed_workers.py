"""Runs executed by `autopack worker` PROCESSES through the PostgreSQL job queue.

Two workers and twenty scripted runs (several per repository) all end DONE_SUCCESS with
the branch content of the plan's edits alone and no work done twice; a worker killed
with -9 mid-run is recovered by the other from the last completed step; a SIGTERM'd
worker finishes its step, hands the run over and exits. Short heartbeats, stale and
lease times (settings) keep the wall time down; jobs start on notification.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from executor_support import (
    auditor,
    builder,
    git,
    make_repo,
    op,
    phase,
    write_plan,
    write_script,
)
from sqlalchemy import func, select, text

from autopack.db.orm import (
    Base,
    LlmUsageEvent,
    Phase,
    PhaseAttempt,
    Run,
    RunLease,
    WorkerRecord,
)
from autopack.db.session import make_engine, unit_of_work
from autopack.distributed.queue import RunQueue, apply_queue_schema, build_app
from autopack.services import runs as run_service
from autopack.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def slow_test(marker: Path) -> str:
    """A 3-second test that appends a line to ``marker`` when it starts (the baseline's
    run, then each verification's)."""
    return (
        "import time\n\n\ndef test_slow() -> None:\n"
        f"    with open({str(marker)!r}, 'a') as f:\n        f.write('started\\n')\n"
        "    time.sleep(3)\n"
    )


WORKER_ENV = {
    "AUTOPACK_LLM_PROVIDER": "scripted",
    "AUTOPACK_LEASE_SECONDS": "10",
    "AUTOPACK_WORKER_HEARTBEAT_SECONDS": "0.5",
    "AUTOPACK_WORKER_STALE_SECONDS": "2",
    "AUTOPACK_WORKER_POLL_SECONDS": "2",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
}
AUTOPACK = [sys.executable, "-c", "from autopack.cli.main import main; main()"]
QUEUE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)


@pytest.fixture
def queue_settings(postgres_database: str, _isolated_home: Path) -> Iterator[Settings]:
    """A clean PostgreSQL database with the job queue's schema (as `db upgrade` makes it)."""
    settings = Settings(home=_isolated_home, database_url=postgres_database)
    engine = make_engine(postgres_database)
    apply_queue_schema(settings, engine)
    tables = ", ".join(
        [*QUEUE_TABLES, *(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))]
    )
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield settings


class Workers:
    """`autopack worker` subprocesses sharing one home, database and script."""

    def __init__(self, settings: Settings, script: Path, logs: Path) -> None:
        self.env = dict(os.environ)
        self.env.update(WORKER_ENV)
        self.env.update(
            {
                "AUTOPACK_HOME": str(settings.home),
                "AUTOPACK_DATABASE_URL": str(settings.database_url),
                "AUTOPACK_LLM_SCRIPT": str(script),
            }
        )
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 1) -> subprocess.Popen[bytes]:
        index = len(self.procs)
        log = (self.logs / f"worker-{index}.log").open("wb")
        proc = subprocess.Popen(
            [*AUTOPACK, "worker", "--concurrency", str(concurrency)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log_text(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.logs.glob("worker-*.log"))
        )


@pytest.fixture
def workers_factory(tmp_path: Path) -> Iterator[Callable[[Settings, Path], Workers]]:
    made: list[Workers] = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def make(settings: Settings, script: Path) -> Workers:
        workers = Workers(settings, script, logs)
        made.append(workers)
        return workers

    yield make
    for workers in made:
        workers.stop_all()


def feature_files(k: int) -> dict[str, str]:
    return {
        f"feature_{k}.py": f"def feature_{k}() -> int:\n    return {k}\n",
        f"tests/test_feature_{k}.py": (
            f"from feature_{k} import feature_{k}\n\n\n"
            f"def test_feature_{k}() -> None:\n    assert feature_{k}() == {k}\n"
        ),
    }


def script_lines(ks: range) -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    for k in ks:
        ops = [op("create", path, content=body) for path, body in feature_files(k).items()]
        lines += [builder(f"p{k}", *ops), auditor(f"p{k}")]
    return lines


def expected_tree(repo: Path, scratch: Path, files: dict[str, str]) -> str:
    """The tree a run alone would leave: the base commit plus exactly the plan's files."""
    git(repo.parent, "clone", "-q", str(repo), str(scratch))
    for rel, body in files.items():
        (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
        (scratch / rel).write_text(body, encoding="utf-8")
    git(scratch, "add", "-A")
    return git(scratch, "write-tree").strip()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, workers: Workers) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{workers.log_text()}"
        time.sleep(0.2)


def run_states(harness: Any) -> dict[str, str]:
    with unit_of_work(harness.db.factory) as session:
        return dict(session.execute(select(Run.id, Run.state)).all())


def usage_per_run(harness: Any) -> dict[str, int]:
    with unit_of_work(harness.db.factory) as session:
        rows = session.execute(
            select(LlmUsageEvent.run_id, func.count()).group_by(LlmUsageEvent.run_id)
        )
        return {str(run_id): int(n) for run_id, n in rows.all()}


def builder_attempts(harness: Any, run_id: str) -> int:
    with unit_of_work(harness.db.factory) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(PhaseAttempt)
                .where(PhaseAttempt.run_id == run_id, PhaseAttempt.role == "builder")
            )
            or 0
        )


def test_two_workers_execute_twenty_runs_once_each(
    tmp_path: Path,
    queue_settings: Settings,
    harness_factory: Callable[[Settings], Any],
    workers_factory: Callable[[Settings, Path], Workers],
) -> None:
    harness = harness_factory(queue_settings)
    repos = [make_repo(tmp_path / f"repo{r}") for r in range(4)]
    script = write_script(tmp_path / "script.jsonl", script_lines(range(20)))
    expected: dict[str, tuple[Path, str]] = {}
    for k in range(20):
        repo = repos[k % 4]  # five runs on each repository
        run_id = f"many-{k}"
        plan = write_plan(
            tmp_path / f"plan{k}.yaml",
            run_id,
            [phase(f"p{k}", paths=[f"feature_{k}.py", "tests/"])],
        )
        harness.create(plan, repo)
        expected[run_id] = (repo, expected_tree(repo, tmp_path / f"alone{k}", feature_files(k)))

    workers = workers_factory(queue_settings, script)
    workers.start(concurrency=2)
    workers.start(concurrency=2)
    queue = RunQueue(queue_settings)
    try:
        assert all(queue.defer(run_id) for run_id in expected)
        assert not queue.defer("many-0")  # already queued: not a second job
    finally:
        queue.close()

    def all_ended() -> bool:
        return all(state.startswith("DONE_") for state in run_states(harness).values())

    wait_for(all_ended, 300, "twenty runs to end", workers)
    assert run_states(harness) == dict.fromkeys(expected, "DONE_SUCCESS")
    # No work done twice: one Builder and one Auditor call per run, one Builder attempt.
    assert usage_per_run(harness) == dict.fromkeys(expected, 2)
    for run_id, (repo, tree) in expected.items():
        assert builder_attempts(harness, run_id) == 1
        log = git(repo, "log", "--format=%T", f"main..autopack/{run_id}").split()
        assert log == [tree], run_id  # one commit, with the content of the run alone
        assert len(lease_history(harness, run_id)) == 1  # one executor wrote this run
    with unit_of_work(harness.db.factory) as session:
        hosts = session.scalars(select(WorkerRecord.pid)).all()
        assert len(hosts) == 2
        # Both workers took jobs.
        pids = {p.pid for p in workers.procs}
        assert set(hosts) == pids
    worked = [log for log in workers.log_text().split("--- ")[1:] if "Starting job" in log]
    assert len(worked) == 2, workers.log_text()


def lease_history(harness: Any, run_id: str) -> list[tuple[int, str]]:
    """The run's leases by token: (token, owner). Asserts no two overlapped: each was
    released (or its holder died, never to write again: fencing) before the next began."""
    with unit_of_work(harness.db.factory) as session:
        leases = session.scalars(
            select(RunLease).where(RunLease.run_id == run_id).order_by(RunLease.token)
        ).all()
        for before, after in itertools.pairwise(leases):
            assert before.released_at is None or before.released_at <= after.acquired_at
        return [(lease.token, lease.owner) for lease in leases]


def _slow_run(tmp_path: Path, harness: Any, run_id: str) -> tuple[Path, Path]:
    marker = tmp_path / "suite-starts.txt"
    repo = make_repo(tmp_path / "slowrepo", {"tests/test_slow.py": slow_test(marker)})
    plan = write_plan(
        tmp_path / "slow.yaml", run_id, [phase("p0", paths=["feature_0.py", "tests/"])]
    )
    harness.create(plan, repo)
    return repo, write_script(tmp_path / "slow.jsonl", script_lines(range(1)))


def _stage(harness: Any, run_id: str) -> str | None:
    with unit_of_work(harness.db.factory) as session:
        payload = session.scalar(
            select(PhaseAttempt.payload).where(
                PhaseAttempt.run_id == run_id, PhaseAttempt.role == "builder"
            )
        )
    return payload.get("stage") if payload else None


def _holder_pid(harness: Any, run_id: str) -> int | None:
    with unit_of_work(harness.db.factory) as session:
        owner = session.scalar(select(Run.lease_owner).where(Run.id == run_id))
    return int(owner.split(":")[1]) if owner else None


@pytest.mark.parametrize("how", ["kill", "sigterm"])
def test_a_stopped_worker_s_run_is_resumed_by_the_other(
    how: str,
    tmp_path: Path,
    queue_settings: Settings,
    harness_factory: Callable[[Settings], Any],
    workers_factory: Callable[[Settings, Path], Workers],
) -> None:
    harness = harness_factory(queue_settings)
    run_id = f"stop-{how}"
    repo, script = _slow_run(tmp_path, harness, run_id)
    tree = expected_tree(repo, tmp_path / "alone", feature_files(0))
    workers = workers_factory(queue_settings, script)
    first, second = workers.start(), workers.start()
    queue = RunQueue(queue_settings)
    try:
        assert queue.defer(run_id)
    finally:
        queue.close()

    # Stop the worker that holds the run while its attempt is being verified (the slow
    # suite runs: after the baseline's run, the verification's), the answer applied and saved.
    marker = tmp_path / "suite-starts.txt"

    def verifying() -> bool:
        starts = marker.read_text().count("started") if marker.exists() else 0
        return _stage(harness, run_id) == "applied" and starts >= 2

    wait_for(verifying, 120, "the verification", workers)
    holder = _holder_pid(harness, run_id)
    victim = first if holder == first.pid else second
    other = second if victim is first else first
    assert holder == victim.pid
    if how == "kill":
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    else:
        victim.send_signal(signal.SIGTERM)
        # It finishes the verification step, releases the run and exits cleanly.
        assert victim.wait(timeout=60) == 0, workers.log_text()
        assert _stage(harness, run_id) != "applied"  # the step it was in was finished

    wait_for(
        lambda: run_states(harness)[run_id].startswith("DONE_"), 120, "the run to end", workers
    )
    assert run_states(harness)[run_id] == "DONE_SUCCESS", workers.log_text()
    assert other.poll() is None  # the other worker did it
    assert builder_attempts(harness, run_id) == 1  # resumed from the saved step
    assert usage_per_run(harness) == {run_id: 2}  # no model call repeated
    assert git(repo, "log", "--format=%T", f"main..autopack/{run_id}").split() == [tree]
    # Two executors, one after the other: the victim's, then the other worker's.
    owners = [owner for _, owner in lease_history(harness, run_id)]
    assert [int(owner.split(":")[1]) for owner in owners] == [victim.pid, other.pid]
    with unit_of_work(harness.db.factory) as session:
        phase_row = session.scalars(select(Phase).where(Phase.run_id == run_id)).one()
        assert phase_row.state == "COMPLETE"
        victim_row = session.scalars(
            select(WorkerRecord).where(WorkerRecord.pid == victim.pid)
        ).one()
        assert victim_row.state == ("stopped" if how == "sigterm" else "running")


def test_cancel_reaches_a_run_executing_on_a_worker(
    tmp_path: Path,
    queue_settings: Settings,
    harness_factory: Callable[[Settings], Any],
    workers_factory: Callable[[Settings, Path], Workers],
) -> None:
    harness = harness_factory(queue_settings)
    _, script = _slow_run(tmp_path, harness, "cancel-me")
    workers = workers_factory(queue_settings, script)
    worker = workers.start()
    queue = RunQueue(queue_settings)
    try:
        assert queue.defer("cancel-me")
    finally:
        queue.close()
    wait_for(lambda: _stage(harness, "cancel-me") == "applied", 120, "the apply", workers)
    with unit_of_work(harness.db.factory) as session:
        run_service.request_cancel(
            session, "cancel-me", actor="test"
        )  # what POST /runs/{id}/cancel does

    wait_for(
        lambda: run_states(harness)["cancel-me"] == "DONE_CANCELLED", 60, "the cancel", workers
    )
    assert worker.poll() is None  # the worker lives on, free for other runs
    with unit_of_work(harness.db.factory) as session:
        waiting = session.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")
        )
        assert waiting == 0  # a cancelled run is not queued again
        assert session.scalar(select(Run.lease_owner).where(Run.id == "cancel-me")) is None


def test_a_blind_retry_of_a_live_job_is_refused_by_the_lease(
    tmp_path: Path,
    queue_settings: Settings,
    harness_factory: Callable[[Settings], Any],
    workers_factory: Callable[[Settings, Path], Workers],
) -> None:
    harness = harness_factory(queue_settings)
    repo, script = _slow_run(tmp_path, harness, "live")
    tree = expected_tree(repo, tmp_path / "alone", feature_files(0))
    workers = workers_factory(queue_settings, script)
    first, second = workers.start(), workers.start()
    queue = RunQueue(queue_settings)
    try:
        assert queue.defer("live")
    finally:
        queue.close()
    wait_for(lambda: _stage(harness, "live") == "applied", 120, "the apply", workers)
    holder = _holder_pid(harness, "live")

    # What a careless stalled-job sweep does to a job whose worker still runs it.
    app = build_app(queue_settings)
    with app.open(), unit_of_work(harness.db.factory) as session:
        job_id = session.scalar(text("SELECT id FROM procrastinate_jobs WHERE status = 'doing'"))
        app.job_manager.retry_job_by_id(int(job_id), retry_at=datetime.now(UTC))

    wait_for(lambda: run_states(harness)["live"].startswith("DONE_"), 120, "the end", workers)
    assert run_states(harness)["live"] == "DONE_SUCCESS", workers.log_text()
    assert first.poll() is None and second.poll() is None
    # The copy found the lease held and wrote nothing: one executor, one of each call.
    assert [int(o.split(":")[1]) for _, o in lease_history(harness, "live")] == [holder]
    assert usage_per_run(harness) == {"live": 2}
    assert builder_attempts(harness, "live") == 1
    assert git(repo, "log", "--format=%T", "main..autopack/live").split() == [tree]
    with unit_of_work(harness.db.factory) as session:
        starts = session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_events WHERE job_id = :j AND type = 'started'"
            ),
            {"j": job_id},
        )
    assert starts == 2  # the copy did start, on the other worker, and was refused
    assert "held by a live executor" in workers.log_text()
