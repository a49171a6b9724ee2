"""Fencing through the real executor: every write it makes is fenced, and an executor whose
run is taken over mid-run writes nothing more, moves no ref, and the new holder finishes
the run with the same branch as a run never interrupted."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from executor_support import (
    auditor,
    builder,
    git,
    make_repo,
    mul_ops,
    op,
    phase,
    write_plan,
    write_script,
)
from sqlalchemy import Engine, event, func, select
from sqlalchemy.engine import Connection

from autopack.db.database import Database
from autopack.db.orm import DecisionLog, LlmUsageEvent, PhaseAttempt, Run, RunLease
from autopack.db.session import unit_of_work
from autopack.executor.loop import build_deps, execute_run
from autopack.services import leases
from autopack.settings import Settings
from autopack.workspace.git_cli import run_git
from autopack.workspace.repo_lock import repo_lock

TEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
SUB = "\n\ndef sub(a: int, b: int) -> int:\n    return a - b\n"
#: A statement that checks (and locks) the lease: a conditional UPDATE of the run's row.
_FENCING = re.compile(r"^\s*UPDATE runs SET .* WHERE .*lease_token\s*=", re.I | re.S)
_WRITE = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)


class WriteRecorder:
    """Every INSERT/UPDATE/DELETE on the engine, and whether its transaction had checked
    the lease before it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.fenced: set[int] = set()
        self.unfenced: list[str] = []
        self.tables: set[str] = set()
        self.writes = 0

    def __enter__(self) -> WriteRecorder:
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._end)
        event.listen(self.engine, "rollback", self._end)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._end)
        event.remove(self.engine, "rollback", self._end)

    def _statement(self, conn: Connection, _c: Any, statement: str, *_rest: Any) -> None:
        match = _WRITE.match(statement)
        if match is None:
            return
        if _FENCING.match(statement):
            self.fenced.add(id(conn))
            return
        self.writes += 1
        self.tables.add(match.group(2).lower())
        if id(conn) not in self.fenced:
            self.unfenced.append(statement.split("\n")[0][:120])

    def _end(self, conn: Connection) -> None:
        self.fenced.discard(id(conn))


def _settings(settings: Settings, script: Path) -> Settings:
    return settings.model_copy(update={"llm_provider": "scripted", "llm_script": script})


def _two_tier_run(root: Path, run_id: str) -> tuple[Path, Path, Path]:
    repo = make_repo(root)
    plan = write_plan(
        root / "plan.yaml",
        run_id,
        [
            phase("mul", paths=["calc.py", "tests/"], tier="T1"),
            phase("sub", paths=["calc.py", "tests/"], tier="T2"),
        ],
        tiers=[{"tier_id": "T1", "name": "One"}, {"tier_id": "T2", "name": "Two"}],
    )
    script = write_script(
        root / "s.jsonl",
        [
            builder("mul", *mul_ops()),
            auditor("mul"),
            builder("sub", op("append", "calc.py", content=SUB)),
            auditor("sub"),
        ],
    )
    return repo, plan, script


def test_every_write_of_an_executor_is_fenced(
    sqlite_settings: Settings, tmp_path: Path, harness_factory: Any
) -> None:
    repo, plan, script = _two_tier_run(tmp_path, "fenced-run")
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    with WriteRecorder(harness.db.engine) as recorder:
        outcome = harness.execute(run_id, script)
    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert recorder.unfenced == []
    # The enumeration covered the executor's writes: runs, tiers, phases, attempts, usage,
    # decisions (and the lease history).
    assert {
        "runs",
        "tiers",
        "phases",
        "phase_attempts",
        "llm_usage_events",
        "decision_log",
        "run_leases",
    } <= recorder.tables
    assert recorder.writes > 20
    assert "lease_lost" not in [name for name, _ in harness.events]


def _snapshot(db: Database, run_id: str, repo: Path) -> dict[str, Any]:
    with db.factory() as session:
        run = session.get(Run, run_id)
        assert run is not None
        counts = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (DecisionLog, PhaseAttempt, LlmUsageEvent)
        }
        state = (run.state, run.tokens_used, run.phases_executed, run.updated_at)
        phases = sorted((p.phase_id, p.state, p.builder_attempts) for p in run.phases)
    with repo_lock(repo / ".git"):  # a ref update already under way finishes first
        refs = run_git(repo, "for-each-ref", "--format=%(refname) %(objectname)").stdout
    return {"counts": counts, "run": state, "phases": phases, "refs": refs}


def test_a_taken_over_executor_writes_nothing_more_and_the_new_one_finishes(
    settings: Settings, tmp_path: Path, harness_factory: Any
) -> None:
    repo, plan, script = _two_tier_run(tmp_path, "taken-run")
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)
    events: list[str] = []
    snapshot: dict[str, Any] = {}

    def take_over() -> None:
        with unit_of_work(harness.db.factory) as session:
            leases.acquire_lease(session, run_id, "new-executor", seconds=60, takeover=old.owner)
        snapshot.update(_snapshot(harness.db, run_id, repo))

    def progress(name: str, **data: Any) -> None:
        events.append(name)
        if name == "tier_started" and data.get("tier_id") == "T2":
            # As a worker that thought the old executor dead would: from another thread.
            thread = threading.Thread(target=take_over)
            thread.start()
            thread.join(30)

    old = build_deps(_settings(settings, script), harness.db, progress=progress)
    old.test_env.update(TEST_ENV)
    first = execute_run(old, run_id)

    assert "lease_lost" in events and "run_finished" not in events
    assert first.state == "PHASE_EXECUTION"
    # Nothing the old executor tried after the takeover persisted: rows, counters, refs.
    assert _snapshot(harness.db, run_id, repo) == snapshot
    with harness.db.factory() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.lease_owner == "new-executor"  # left alone

    new = build_deps(_settings(settings, script), harness.db)
    new.owner = "new-executor"
    new.test_env.update(TEST_ENV)
    second = execute_run(new, run_id)

    assert second.state == "DONE_SUCCESS", second.failure_reason
    subjects = git(repo, "log", "--format=%s", f"main..autopack/{run_id}").splitlines()
    assert subjects == ["sub: Phase sub", "mul: Phase mul"]
    with harness.db.factory() as session:
        history = [(h.token, h.owner) for h in leases.lease_history(session, run_id)]
        stamped = session.execute(
            select(DecisionLog.lease_token).order_by(DecisionLog.id)
        ).scalars()
        tokens = list(stamped)
        assert session.scalar(select(func.count()).select_from(RunLease)) == 2
    assert history == [(1, old.owner), (2, "new-executor")]
    # One writer per token, and no interleaving: token 1's decisions all come before 2's.
    assert set(tokens) == {1, 2} and tokens == sorted(tokens)
