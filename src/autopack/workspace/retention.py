"""What a run leaves in git and on disk, and removing it: worktree, branch, base ref,
savepoints.

Used by ``autopack runs delete`` and ``autopack gc``. A branch is *merged* when its tip
is reachable from some other local branch (``main``, a release branch...): deleting it
then loses no commit. Nothing here touches the database.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from autopack.workspace.git_cli import delete_refs, is_repository, run_git, run_refs


def directory_size(path: Path) -> int:
    """Bytes under ``path`` (0 when it does not exist); symlinks are not followed."""
    if not path.exists():
        return 0
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file() and not item.is_symlink():
                total += item.stat().st_size
        except OSError:  # a file removed while we walk
            continue
    return total


def human_size(size: int) -> str:
    """``1.2 MB`` style."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


@dataclass
class RunGitState:
    """What exists for one run in its repository."""

    repo: Path | None
    branch: str
    branch_exists: bool = False
    merged: bool = True
    #: ``refs/autopack/<run_id>/...`` (base and savepoints) and legacy savepoint tags.
    refs: list[str] = field(default_factory=list)

    @property
    def savepoints(self) -> int:
        """How many savepoints the run left."""
        return sum(1 for ref in self.refs if _is_savepoint(ref))


def _is_savepoint(ref: str) -> bool:
    """``.../save/<n>`` (a run id may itself contain ``save``)."""
    head, _, number = ref.rpartition("/")
    return head.endswith("/save") and number.isdigit()


def run_git_state(repo: str | None, run_id: str) -> RunGitState:
    """The run's branch (``autopack/<run_id>``), whether it is merged, and its other refs."""
    branch = f"autopack/{run_id}"
    if not repo or not is_repository(Path(repo)):
        return RunGitState(repo=None, branch=branch)
    root = Path(repo)
    state = RunGitState(repo=root, branch=branch)
    tip = run_git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    state.branch_exists = tip.returncode == 0
    if state.branch_exists:
        containing = run_git(
            root,
            "for-each-ref",
            "--format=%(refname)",
            "--contains",
            tip.stdout.strip(),
            "refs/heads/",
        ).stdout.split()
        state.merged = any(not ref.startswith("refs/heads/autopack/") for ref in containing)
    state.refs = run_refs(root, run_id)
    return state


def remove_worktree(repo: Path | None, worktree: Path) -> int:
    """Remove a run's worktree; returns the bytes freed. Without a known repository (or
    when git no longer knows the worktree) the directory is simply deleted."""
    size = directory_size(worktree)
    if repo is not None and worktree.exists():
        run_git(repo, "worktree", "remove", "--force", str(worktree), check=False)
    if worktree.exists():
        shutil.rmtree(worktree, ignore_errors=True)
    if repo is not None:
        run_git(repo, "worktree", "prune", check=False)
    return size


def remove_run_refs(state: RunGitState, run_id: str) -> list[str]:
    """Delete the run's branch, base ref and savepoints; returns what was deleted."""
    if state.repo is None:
        return []
    removed: list[str] = []
    if state.branch_exists:
        run_git(state.repo, "branch", "-D", state.branch)
        removed.append(f"branch {state.branch}")
    if state.refs:
        delete_refs(state.repo, state.refs)
        removed += [ref for ref in state.refs if not _is_savepoint(ref)]
        if state.savepoints:
            removed.append(f"{state.savepoints} savepoint(s) of {run_id}")
    return removed
