"""The readable body of ``run_summary.md``: a phase table, the branch's commits, links.

One row per phase (state, Builder attempts, tokens, cost, the phase's commit on the
branch, a link to its phase file), then the commits on ``autopack/<run_id>`` since the
run's base, oldest first: what a person reviews before merging.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from autopack.db.orm import LlmUsageEvent, Run
from autopack.errors import WorkspaceError
from autopack.executor.artifacts import phase_file
from autopack.workspace.git_cli import is_repository, run_git


def _costs(session: Session | None, run_id: str) -> dict[str, float]:
    if session is None:
        return {}
    rows = session.execute(
        select(LlmUsageEvent.phase_id, func.sum(LlmUsageEvent.cost_usd))
        .where(LlmUsageEvent.run_id == run_id)
        .group_by(LlmUsageEvent.phase_id)
    ).all()
    return {str(phase): float(cost or 0.0) for phase, cost in rows if phase}


def branch_commits(run: Run) -> list[str]:
    """``<short sha> <subject>`` for each commit on the run's branch since its base."""
    if not (run.repo_path and run.branch and is_repository(Path(run.repo_path))):
        return []
    base = f"refs/autopack/{run.id}/base"
    try:
        done = run_git(
            Path(run.repo_path),
            "log",
            "--reverse",
            "--format=%h %s",
            f"{base}..{run.branch}",
            check=False,
        )
    except WorkspaceError:
        return []
    return done.stdout.splitlines() if done.returncode == 0 else []


def summary_body(run: Run, *, fresh: bool = False) -> str:
    """Markdown for run_summary.md below its field table. ``fresh``: the run was just
    created, so it has no costs to read yet."""
    costs = {} if fresh else _costs(object_session(run), run.id)
    lines = []
    if run.goal:
        lines += ["## Goal", "", run.goal, ""]
    lines += [
        "## Phases",
        "",
        "| phase | tier | state | attempts | tokens | cost (USD) | commit | details |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for phase in sorted(run.phases, key=lambda p: (p.tier.tier_index, p.phase_index)):
        link = phase_file(phase.phase_index, phase.phase_id)
        cost = costs.get(phase.phase_id)
        lines.append(
            f"| {phase.phase_id} | {phase.tier.tier_id} | {phase.state} | "
            f"{phase.builder_attempts} | {phase.tokens_used} | "
            f"{'-' if cost is None else f'{cost:.4f}'} | {phase.commit_sha or '-'} | "
            f"[{link}]({link}) |"
        )
    commits = branch_commits(run)
    if run.branch:
        lines += ["", f"## Commits on {run.branch}", ""]
        lines += [f"- {c}" for c in commits] or ["- (none yet)"]
    return "\n".join(lines)
