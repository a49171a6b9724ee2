"""The executor's own work per phase does not grow with the phases before it.

Counted, not timed (benchmarks/executor_overhead.py has the times): for each phase of a
run of many small phases, the SQL statements and transactions, the SQLite virtual machine
steps those statements took (a query that scans every decision or attempt of the run takes
more steps at each phase), the git subprocesses, and the in-process status walks of the
worktree. A late phase must cost what an early one did; and a phase walks the worktree
nowhere (the squash stages what the worktree's watch saw written) and starts no ``git
ls-files``, since those grow with the repository's size.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from executor_support import committed_repo, count_per_phase
from sqlalchemy import event, select, text

from autopack.db.database import open_database
from autopack.db.orm import DecisionLog
from autopack.db.session import unit_of_work
from autopack.executor.loop import build_deps, execute_run
from autopack.planning.normalize import load_plan
from autopack.services.runs import create_run
from autopack.settings import Settings
from autopack.workspace.watch import WorktreeWatch

PHASES = 16
#: Lexical memory (an FTS5 index over every phase of every run of the repository) grows
#: with history by design: ranking its matches and indexing a phase's documents cost more
#: as it grows. Its statements are left out of the virtual machine count (see the report
#: of benchmarks/executor_overhead.py).
MEMORY_TABLES = ("memory_fts", "memory_documents")


def _plan_and_script(root: Path, run_id: str) -> tuple[Path, Path]:
    """Like the benchmark: each phase creates a file in its own directory; tests ``true``."""
    phases = [
        {
            "phase_id": f"p{i:03d}",
            "name": f"phase {i}",
            "scope": {"paths": [f"out/p{i:04d}/"], "tests": ["true"]},
        }
        for i in range(PHASES)
    ]
    plan = root / "plan.yaml"
    plan.write_text(yaml.safe_dump({"run_id": run_id, "phases": phases}))
    verdict = {"recommendation": "approve", "confidence": 0.9, "review_notes": "ok", "issues": []}
    usage = {"prompt_tokens": 100, "completion_tokens": 20}
    lines: list[dict[str, Any]] = []
    for i in range(PHASES):
        create = {"op": "create", "path": f"out/p{i:04d}/f.txt", "content": f"{i}\n"}
        lines.append(
            {
                "role": "builder",
                "phase_id": f"p{i:03d}",
                "content": json.dumps(create),
                "usage": usage,
            }
        )
        lines.append(
            {
                "role": "auditor",
                "phase_id": f"p{i:03d}",
                "content": json.dumps(verdict),
                "usage": usage,
            }
        )
    script = root / "script.jsonl"
    script.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return plan, script


def test_a_late_phase_costs_what_an_early_one_did(
    sqlite_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = committed_repo(tmp_path / "repo", {"README.md": "counts\n"})
    plan, script = _plan_and_script(tmp_path, "counts")
    watched = WorktreeWatch.start(tmp_path) is not None  # inotify (Linux): one walk a phase
    settings = sqlite_settings.model_copy(update={"llm_provider": "scripted", "llm_script": script})
    db = open_database(settings)
    with unit_of_work(db.factory) as session:
        create_run(session, load_plan(plan), runs_dir=settings.runs_dir, repo_path=str(repo))

    counts = Counter[str]()

    memory_statement = [False]

    def vm_steps() -> int:
        if not memory_statement[0]:
            counts["vm"] += 1
        return 0  # 0: go on

    @event.listens_for(db.engine, "checkout")
    def _count_steps(dbapi: Any, record: Any, proxy: Any) -> None:
        assert isinstance(dbapi, sqlite3.Connection)
        dbapi.set_progress_handler(vm_steps, 1)  # every instruction

    @event.listens_for(db.engine, "before_cursor_execute")
    def _count_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counts["statements"] += 1
        memory_statement[0] = any(table in statement for table in MEMORY_TABLES)

    @event.listens_for(db.engine, "commit")
    def _count_commit(*args: Any) -> None:
        counts["transactions"] += 1

    real_popen = subprocess.Popen.__init__

    def counting_popen(self: Any, args: Any, *rest: Any, **kw: Any) -> None:
        if isinstance(args, list | tuple) and args and str(args[0]) == "git":
            counts["git processes"] += 1
            counts["git ls-files"] += "ls-files" in args
        real_popen(self, args, *rest, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", counting_popen)
    per_phase = count_per_phase(monkeypatch, counts, walks="status walks")
    try:
        outcome = execute_run(build_deps(settings, db), "counts")
        assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
        assert len(per_phase) == PHASES
        early, late = per_phase[2], per_phase[PHASES - 2]
        for what in ("statements", "transactions", "git processes", "status walks"):
            assert late[what] == early[what], (what, early[what], late[what])
        if watched:
            # No walk: the squash stages the paths the worktree's watch saw written, and
            # the next savepoint's clean check is that squash while nothing was written
            # since (test_executor_worktree_watch, test_git_in_process).
            assert early["status walks"] == 0
        else:
            assert early["status walks"] == 2  # the savepoint's clean check, the squash
        # The repository map's file list comes from the tree, not `git ls-files`, and the
        # Auditor's diff is in-process: with the watch, a phase starts no git process.
        assert early["git ls-files"] == late["git ls-files"] == (0 if watched else 1)
        assert early["git processes"] == late["git processes"] == (0 if watched else 1)
        # What a phase of this shape costs today: 82 statements in 22 transactions (112 in
        # 26, and a git process, before the hot path was trimmed). A change back to a
        # query per row or a transaction per step fails here; a feature that needs more
        # raises the budget on purpose.
        assert early["statements"] <= 90, early["statements"]
        assert early["transactions"] <= 24, early["transactions"]
        # Virtual machine instructions: a scan of the run's decisions, attempts or phases
        # would add instructions every phase; a lookup by index takes the same number.
        assert late["vm"] == early["vm"] > 0, (early["vm"], late["vm"])
    finally:
        db.dispose()


def test_a_phases_decisions_are_read_by_index(sqlite_settings: Settings) -> None:
    """What the executor reads every phase (hardening fixes, the phase's layout and memory)
    never scans the run's whole decision log."""
    db = open_database(sqlite_settings)
    try:
        query = select(DecisionLog.details).where(
            DecisionLog.run_id == "r", DecisionLog.phase_id == "p", DecisionLog.decision == "x"
        )
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        with db.engine.connect() as conn:
            plan = " ".join(
                str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            )
        assert "ix_decision_log_run_phase" in plan, plan
    finally:
        db.dispose()
