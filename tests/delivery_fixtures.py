"""Arranging delivery tests with real git: a user's repository, and runs that end with a
branch of one commit per phase, made through the services as the executor leaves them.

Import it like ``environment_fixtures``: put ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from autopack.db.orm import DecisionLog
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.domain.states import RunState
from autopack.services import delivery
from autopack.services import runs as run_service
from autopack.settings import Settings
from autopack.workspace.git import GitWorkspace


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def commit_file(repo: Path, rel: str, text: str, message: str) -> str:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_user_repo(tmp_path: Path) -> Path:
    """A repository on ``main`` with ``notes.txt`` and ``app.py`` committed."""
    path = tmp_path / "user-repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "notes.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    commit_file(path, "app.py", "VALUE = 1\n", "initial")
    return path


class Runs:
    """Makes runs through the services, with a branch that holds one commit per phase, as
    the executor leaves it, and then the end state it would have reached."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings, repo: Path) -> None:
        self.factory = factory
        self.settings = settings
        self.repo = repo

    def finished(
        self,
        run_id: str = "r1",
        *,
        state: RunState = RunState.DONE_SUCCESS,
        edits: dict[str, dict[str, str]] | None = None,
        base_ref: str | None = None,
    ) -> GitWorkspace:
        edits = edits or {
            "p1": {"app.py": "VALUE = 2\n"},
            "p2": {"lib/new.py": "def f() -> int:\n    return 1\n"},
        }
        spec = RunSpec.model_validate(
            {
                "run_id": run_id,
                "goal": "Improve the app",
                "base_ref": base_ref,
                "tiers": [{"tier_id": "T1", "name": "Core"}],
                "phases": [{"phase_id": p, "name": f"Phase {p}", "tier_id": "T1"} for p in edits],
            }
        )
        ws = GitWorkspace.create(self.repo, run_id, self.settings.worktrees_dir, base_ref)
        shas = {}
        for phase_id, files in edits.items():
            for rel, text in files.items():
                (ws.path / rel).parent.mkdir(parents=True, exist_ok=True)
                (ws.path / rel).write_text(text, encoding="utf-8")
            shas[phase_id] = ws.commit(f"{phase_id}: Phase {phase_id}")
        with unit_of_work(self.factory) as session:
            run = run_service.create_run(
                session, spec, runs_dir=self.settings.runs_dir, repo_path=str(self.repo)
            )
            run.branch = ws.branch_name
            run.worktree_path = str(ws.path)
            run.state = state.value
            for phase in run.phases:
                phase.commit_sha = shas[phase.phase_id]
        return ws

    def decisions(self, run_id: str) -> list[DecisionLog]:
        with self.factory() as session:
            query = select(DecisionLog).where(DecisionLog.run_id == run_id)
            return list(session.scalars(query.order_by(DecisionLog.id)))

    def merge(self, run_id: str = "r1", **kwargs: Any) -> delivery.MergeResult:
        with unit_of_work(self.factory) as session:
            return delivery.merge_run(session, run_id, actor="cli:tester", **kwargs)
