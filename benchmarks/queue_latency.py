"""Remote workers: queue latency (defer -> job started by an idle worker) and recovery time
(a worker killed with -9 mid-run -> its run started again by another worker).

Two `autopack worker` processes on a fresh PostgreSQL database (created and dropped here),
scripted runs with a trivial test command on a real git repository. Latency is read from
procrastinate's own job events (``deferred`` and ``started`` timestamps, server clock).
Recovery depends on AUTOPACK_WORKER_STALE_SECONDS and AUTOPACK_WORKER_HEARTBEAT_SECONDS
(printed): a dead worker is noticed once its heartbeat is older than the former, checked
every the latter.

Run: ``AUTOPACK_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres
.venv/bin/python benchmarks/queue_latency.py [RUNS] [KILLS]`` (default 10 runs, 2 kills).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, make_url, select, text

from autopack.db import migrate
from autopack.db.database import Database, open_database
from autopack.db.orm import PhaseAttempt, Run
from autopack.db.session import make_engine, normalize_url, unit_of_work
from autopack.distributed.queue import RunQueue, apply_queue_schema
from autopack.planning.normalize import load_plan
from autopack.services.runs import create_run
from autopack.settings import Settings

HEARTBEAT, STALE = "0.5", "2"
AUTOPACK = [sys.executable, "-c", "from autopack.cli.main import main; main()"]


def _repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("benchmark\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


def _script_lines(run_ids: list[str]) -> list[dict[str, object]]:
    verdict = json.dumps(
        {"recommendation": "approve", "confidence": 0.9, "review_notes": "ok", "issues": []}
    )
    usage = {"prompt_tokens": 100, "completion_tokens": 20}
    lines: list[dict[str, object]] = []
    for run_id in run_ids:
        create = json.dumps({"op": "create", "path": f"out/{run_id}.txt", "content": "x\n"})
        lines.append({"role": "builder", "phase_id": run_id, "content": create, "usage": usage})
        lines.append({"role": "auditor", "phase_id": run_id, "content": verdict, "usage": usage})
    return lines


def _create(
    settings: Settings, db: Database, root: Path, repo: Path, run_id: str, test: str
) -> None:
    plan = root / f"{run_id}.yaml"
    phase = {"phase_id": run_id, "name": run_id, "scope": {"paths": ["out/"], "tests": [test]}}
    plan.write_text(yaml.safe_dump({"run_id": run_id, "phases": [phase]}))
    with unit_of_work(db.factory) as session:
        create_run(session, load_plan(plan), runs_dir=settings.runs_dir, repo_path=str(repo))


def _event_times(engine: Engine, run_id: str, kind: str) -> list[float]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT extract(epoch FROM e.at) FROM procrastinate_events e "
                "JOIN procrastinate_jobs j ON j.id = e.job_id "
                "WHERE j.args->>'run_id' = :r AND e.type = :k ORDER BY e.at"
            ),
            {"r": run_id, "k": kind},
        )
        return [float(r[0]) for r in rows]


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def _state(db: Database, run_id: str) -> str:
    with unit_of_work(db.factory) as session:
        return str(session.scalar(select(Run.state).where(Run.id == run_id)))


def _server_now(engine: Engine) -> float:
    with engine.connect() as conn:
        return float(conn.scalar(text("SELECT extract(epoch FROM clock_timestamp())")) or 0)


def measure(url: str, runs: int, kills: int) -> tuple[list[float], list[float]]:
    """(latencies in ms, recoveries in s) on the fresh database ``url``."""
    with tempfile.TemporaryDirectory(prefix="autopack-queue-bench-") as tmp:
        root = Path(tmp)
        repo = _repo(root)
        latency_ids = [f"lat{i:02d}" for i in range(runs)]
        kill_ids = [f"kill{i:02d}" for i in range(kills)]
        script = root / "script.jsonl"
        lines = _script_lines(latency_ids + kill_ids)
        script.write_text("".join(json.dumps(x) + "\n" for x in lines))
        settings = Settings(home=root / "home", database_url=url)
        db = open_database(settings)
        env = dict(os.environ)
        env.update(
            {
                "AUTOPACK_HOME": str(settings.home),
                "AUTOPACK_DATABASE_URL": url,
                "AUTOPACK_LLM_PROVIDER": "scripted",
                "AUTOPACK_LLM_SCRIPT": str(script),
                "AUTOPACK_LEASE_SECONDS": "10",
                "AUTOPACK_WORKER_HEARTBEAT_SECONDS": HEARTBEAT,
                "AUTOPACK_WORKER_STALE_SECONDS": STALE,
                "AUTOPACK_LOG_LEVEL": "WARNING",
            }
        )
        procs: list[subprocess.Popen[bytes]] = []

        def start_worker() -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(
                [*AUTOPACK, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            procs.append(proc)
            return proc

        queue = RunQueue(settings)
        try:
            start_worker(), start_worker()
            with db.engine.connect() as conn:
                _wait(lambda: conn.scalar(text("SELECT count(*) FROM workers")) == 2, 60, "workers")
            latencies = []
            for run_id in latency_ids:  # one at a time: an idle worker, as a user sees it
                _create(settings, db, root, repo, run_id, "true")
                queue.defer(run_id)
                _wait(lambda r=run_id: _state(db, r).startswith("DONE_"), 60, run_id)  # type: ignore[misc]
                deferred = _event_times(db.engine, run_id, "deferred")[0]
                started = _event_times(db.engine, run_id, "started")[0]
                latencies.append(1000 * (started - deferred))

            recoveries = []
            for run_id in kill_ids:
                _create(settings, db, root, repo, run_id, "sleep 4")
                queue.defer(run_id)

                def applied(r: str = run_id) -> bool:
                    with unit_of_work(db.factory) as session:
                        payload = session.scalar(
                            select(PhaseAttempt.payload).where(PhaseAttempt.run_id == r)
                        )
                    return bool(payload) and payload.get("stage") == "applied"

                _wait(applied, 60, f"{run_id} to reach its tests")
                with unit_of_work(db.factory) as session:
                    owner = str(session.scalar(select(Run.lease_owner).where(Run.id == run_id)))
                victim = next(p for p in procs if p.poll() is None and f":{p.pid}:" in owner)
                killed_at = _server_now(db.engine)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                _wait(
                    lambda r=run_id: len(_event_times(db.engine, r, "started")) >= 2, 120, "resume"
                )  # type: ignore[misc]
                resumed = _event_times(db.engine, run_id, "started")[-1]
                recoveries.append(resumed - killed_at)
                _wait(lambda r=run_id: _state(db, r).startswith("DONE_"), 120, run_id)  # type: ignore[misc]
                assert _state(db, run_id) == "DONE_SUCCESS", _state(db, run_id)
                start_worker()  # back to two workers
            return latencies, recoveries
        finally:
            queue.close()
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            db.dispose()


def run_on_fresh_database(runs: int, kills: int) -> tuple[list[float], list[float]] | None:
    """Create a database on AUTOPACK_TEST_POSTGRES_URL's server, measure, drop it; None
    without that variable."""
    admin_url = os.environ.get("AUTOPACK_TEST_POSTGRES_URL")
    if not admin_url:
        return None
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"autopack_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(admin_url)).set(database=name).render_as_string(False)
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        apply_queue_schema(Settings(database_url=url), engine)
        engine.dispose()
        return measure(url, runs, kills)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def queue_section(args: Any = None, runs: int = 10, kills: int = 2) -> list[tuple[str, str]]:
    """Rows for benchmarks/parallel_runs.py's SECTIONS (and this script's own output)."""
    result = run_on_fresh_database(runs, kills)
    if result is None:
        return [("remote workers", "skipped: set AUTOPACK_TEST_POSTGRES_URL")]
    latencies, recoveries = result
    return [
        (
            f"queue latency ({runs} runs)",
            f"median {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms, "
            f"min {min(latencies):.0f} ms (defer -> start, idle worker)",
        ),
        (
            f"recovery after kill -9 ({kills}x)",
            ", ".join(f"{r:.2f} s" for r in recoveries)
            + f" (heartbeat {HEARTBEAT} s, stale after {STALE} s)",
        ),
    ]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    kills = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    rows = queue_section(runs=runs, kills=kills)
    for label, value in rows:
        print(f"{label:<32} {value}")
    if rows[0][1].startswith("skipped"):
        raise SystemExit(2)


if __name__ == "__main__":
    main()
