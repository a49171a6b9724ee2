"""What `autopack gc` removes, decided and done in one pass (see cleanup_cmd's docstring).

Each item is reported whether it is removed or, with ``dry_run``, only listed, so the
dry run prints exactly what the real run would remove.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopack.db.database import Database
from autopack.errors import WorkspaceError
from autopack.services import cleanup
from autopack.settings import Settings
from autopack.workspace.retention import (
    directory_size,
    remove_run_refs,
    remove_worktree,
    run_git_state,
)


@dataclass
class GarbageItem:
    kind: str  # worktree | branch | artifacts | environment
    what: str
    size: int = 0


@dataclass
class GarbageReport:
    items: list[GarbageItem] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(i.size for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "removed": [vars(i) for i in self.items],
            "kept": self.kept,
            "freed_bytes": self.freed,
        }


def collect_garbage(
    cfg: Settings, db: Database, *, older_than_days: float, dry_run: bool, force: bool
) -> GarbageReport:
    """Remove (or list, with ``dry_run``) what finished runs older than the cutoff left."""
    report = GarbageReport()
    with db.factory() as session:
        runs = cleanup.finished_runs(session, older_than_days=older_than_days)
        known = cleanup.known_run_ids(session)
    for run in runs:
        git = run_git_state(run.repo_path, run.run_id)
        worktree = Path(run.worktree_path or cfg.worktrees_dir / run.run_id)
        if worktree.exists():
            size = directory_size(worktree)
            if not dry_run:
                remove_worktree(git.repo, worktree)
            report.items.append(GarbageItem("worktree", str(worktree), size))
        if not (git.branch_exists or git.refs):
            continue
        if run.succeeded and git.branch_exists and not git.merged and not force:
            report.kept.append(
                f"branch {git.branch} of {run.run_id}: successful and not merged "
                "(merge it, or pass --force)"
            )
            continue
        saves = git.savepoints
        what = f"{git.branch} in {git.repo}" + (f" (+{saves} savepoints)" if saves else "")
        if not dry_run:
            try:
                remove_run_refs(git, run.run_id)
            except WorkspaceError as exc:  # one stuck repository does not stop the rest
                report.kept.append(f"branch {git.branch} of {run.run_id}: {exc.message}")
                continue
        report.items.append(GarbageItem("branch", what))
    _leftovers(cfg.worktrees_dir, "worktree", known, report, dry_run)
    _leftovers(cfg.runs_dir, "artifacts", known, report, dry_run)
    _environments(cfg, older_than_days, report, dry_run)
    return report


def _leftovers(
    parent: Path, kind: str, known: set[str], report: GarbageReport, dry_run: bool
) -> None:
    """Directories named after runs the database no longer has."""
    if not parent.is_dir():
        return
    for path in sorted(parent.iterdir()):
        if path.is_dir() and path.name not in known:
            size = directory_size(path)
            if not dry_run:
                shutil.rmtree(path, ignore_errors=True)
            report.items.append(GarbageItem(kind, f"{path} (its run was deleted)", size))


def _environments(cfg: Settings, days: float, report: GarbageReport, dry_run: bool) -> None:
    from autopack.environments import list_environments, prune_environments

    if dry_run:
        from datetime import UTC, datetime, timedelta

        cutoff = datetime.now(UTC) - timedelta(days=days)
        for env in list_environments(cfg.envs_dir):
            last = env.last_used_at or env.created_at
            when = datetime.fromisoformat(last) if last else None
            if when is not None and when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            if env.root is not None and (when is None or when <= cutoff):
                # prune skips an environment a run holds right now; the listing cannot know
                size = directory_size(env.root)
                report.items.append(GarbageItem("environment", f"{env.root} (unless in use)", size))
        return
    for env in prune_environments(cfg.envs_dir, days):
        report.items.append(GarbageItem("environment", str(env.root), env.size_bytes))
