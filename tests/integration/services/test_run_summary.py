"""run_summary.md says what a reviewer needs: a phase table and the branch's commits."""

from __future__ import annotations

import subprocess
from pathlib import Path

from autopack.db.database import Database
from autopack.db.orm import LlmUsageEvent
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.services.runs import create_run, get_run, write_layout
from autopack.settings import Settings


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_summary_has_a_phase_table_commits_and_links(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.txt").write_text("a\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    git(repo, "update-ref", "refs/autopack/sum/base", "HEAD")
    git(repo, "checkout", "-q", "-b", "autopack/sum")
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "p1: Add b")
    sha = git(repo, "rev-parse", "HEAD")
    spec = RunSpec.model_validate(
        {
            "run_id": "sum",
            "phases": [
                {"phase_id": "p1", "name": "Add b", "description": "b"},
                {"phase_id": "p2", "name": "Later", "description": "c"},
            ],
        }
    )
    with unit_of_work(db.factory) as session:
        run = create_run(session, spec, runs_dir=settings.runs_dir, repo_path=str(repo))
        run.branch = "autopack/sum"
        first = next(p for p in run.phases if p.phase_id == "p1")
        first.state, first.commit_sha, first.builder_attempts = "COMPLETE", sha, 2
        first.tokens_used = 1234
        session.add(LlmUsageEvent(run_id="sum", phase_id="p1", total_tokens=1234, cost_usd=0.0125))
    with unit_of_work(db.factory) as session:
        write_layout(get_run(session, "sum"), settings.runs_dir)
    text = (settings.runs_dir / "sum" / "run_summary.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| p1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert [cells[0], *cells[2:7]] == ["p1", "COMPLETE", "2", "1234", "0.0125", sha]
    link = cells[7].split("](")[1].rstrip(")")
    assert link.startswith("phases/phase_") and (settings.runs_dir / "sum" / link).exists()
    assert "| p2 |" in text and "QUEUED" in text
    assert f"- {sha[:7]} p1: Add b" in text
