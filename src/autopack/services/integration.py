"""The run's integration branch: governed apply of submitted patches, and its status.

A run created with a target repository has a workspace: a git worktree on branch
``autopack/<run_id>`` under the data dir. Patches that reach the API (a Builder result's
``patch_content``, an Auditor's suggested patch) go through the same governed apply as the
executor's edits: parsed in any supported format, checked against the phase's scope and
the protected paths, applied all or nothing, committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from autopack.agents.output import parse_model_output
from autopack.db.orm import Approval, Phase, Run
from autopack.domain.plan import Scope
from autopack.errors import ApplyRejected
from autopack.services.runs import get_run, run_spec
from autopack.settings import Settings
from autopack.workspace.apply import apply_edits
from autopack.workspace.git import GitWorkspace
from autopack.workspace.guards import ApplyPolicy


def workspace_for(run: Run, settings: Settings) -> GitWorkspace | None:
    """The run's worktree (created on first use), or None for a run without a repository."""
    if not run.repo_path:
        return None
    workspace = GitWorkspace.create(
        Path(run.repo_path), run.id, settings.worktrees_dir, run.base_ref
    )
    run.branch = workspace.branch_name
    run.worktree_path = str(workspace.path)
    return workspace


def apply_patch(
    session: Session,
    phase: Phase,
    patch: str,
    message: str,
    *,
    settings: Settings,
    deletion_approved: bool = False,
) -> dict[str, Any] | None:
    """Apply ``patch`` to the phase's run workspace under the phase's policy.

    Returns the apply result (JSON-able), or None when the run has no workspace. Raises
    ApplyRejected naming each failed edit when the patch cannot be applied; nothing is
    written then. A result with ``requires_approval`` wrote nothing either.
    """
    workspace = workspace_for(phase.run, settings)
    if workspace is None:
        return None
    parsed = parse_model_output(patch)
    if not parsed.edits:
        raise ApplyRejected(
            "the patch contains no edit Autopack can apply: "
            + ("; ".join(str(d) for d in parsed.diagnostics) or "empty"),
            failures=[{"index": None, "reason": str(d)} for d in parsed.diagnostics],
            run_id=phase.run_id,
            phase_id=phase.phase_id,
        )
    policy = ApplyPolicy.for_phase(
        Scope.model_validate(phase.scope),
        run_protected=run_spec(phase.run).protected_paths,
        deletion_approved=deletion_approved,
    )
    result = apply_edits(
        workspace.path, parsed.edits, policy, workspace=workspace, commit_message=message
    )
    if not result.ok and not result.requires_approval:
        raise ApplyRejected(
            f"governed apply rejected the patch: {result.reason or result.status}",
            failures=result.failures(),
            run_id=phase.run_id,
            phase_id=phase.phase_id,
            diagnostics=[str(d) for d in parsed.diagnostics],
        )
    return result.model_dump(mode="json")


def apply_approved(
    session: Session, phase: Phase, approval: Approval, *, settings: Settings
) -> dict[str, Any] | None:
    """Apply a change held for approval, if the approval holds one (API submissions).
    Changes held by the executor are applied by the executor when the run resumes."""
    patch = approval.details.get("patch")
    if not patch:
        return None
    return apply_patch(
        session,
        phase,
        patch,
        approval.details.get("message", "approved change"),
        settings=settings,
        deletion_approved=True,
    )


def integration_status(session: Session, run_id: str, settings: Settings) -> dict[str, Any]:
    """Branch, commits, savepoints and cleanliness of the run's worktree. A read: a run
    whose worktree does not exist yet has none (creating it here would race the executor
    that is about to)."""
    run = get_run(session, run_id)
    exists = bool(run.worktree_path) and Path(str(run.worktree_path)).is_dir()
    workspace = workspace_for(run, settings) if exists else None
    if workspace is None:
        return {
            "run_id": run_id,
            "has_workspace": False,
            "branch": None,
            "worktree": None,
            "base_commit": None,
            "commits": [],
            "savepoints": [],
            "clean": None,
            "diff": None,
        }
    stats = workspace.diff_stats()
    return {
        "run_id": run_id,
        "has_workspace": True,
        "branch": workspace.branch_name,
        "worktree": str(workspace.path),
        "repository": run.repo_path,
        "base_commit": workspace.base_commit(),
        "head": workspace.head(),
        "commits": [c.model_dump(mode="json") for c in workspace.list_commits()],
        "savepoints": [s.model_dump(mode="json") for s in workspace.list_savepoints()],
        "clean": workspace.is_clean(),
        "diff": {
            "files_changed": stats.files_changed,
            "insertions": stats.insertions,
            "deletions": stats.deletions,
        },
    }
