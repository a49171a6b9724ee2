"""Delivering a run's result: its branch's diff, a merge into the user's branch, a push.

A run works on branch ``autopack/<run_id>`` in the user's repository (``Run.repo_path``),
started from the commit recorded under ``refs/autopack/<run_id>/base``. These use cases
read and deliver that branch through :mod:`autopack.workspace.delivery` (git plumbing that
never touches uncommitted work) and record each merge and push in the decision log.

The caller owns the transaction (these functions only flush); the git side effects of a
merge or push happen before the flush, and repeating a merge that already happened answers
``already_merged`` without changing anything, so a lost transaction is safe to retry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from autopack.db.orm import Run
from autopack.domain.states import RunState
from autopack.errors import ConflictError, ValidationError
from autopack.services.decisions import record_decision
from autopack.services.runs import get_run
from autopack.workspace import delivery as git_delivery
from autopack.workspace.delivery import FileDiff, MergeMode
from autopack.workspace.git_cli import is_repository

__all__ = [
    "BranchDiff",
    "DiffCommit",
    "FileDiff",
    "MergeMode",
    "MergeResult",
    "PushResult",
    "branch_diff",
    "default_target",
    "merge_run",
    "push_run",
]


class DiffCommit(BaseModel):
    """A commit on the run's branch; ``phase_id`` is the phase it completed, when known."""

    model_config = ConfigDict(frozen=True)

    sha: str
    subject: str
    author: str
    date: str
    phase_id: str | None = None


class BranchDiff(BaseModel):
    """The run's branch against its base: commits oldest first, files in path order.

    ``base_ref`` is the ref the run started from as the plan named it (``None``: the
    repository's HEAD then), ``base_sha`` the commit. ``default_target`` is the branch a
    merge goes into when none is named (``None`` when it cannot be told: name one).
    ``merged_into_target`` says whether that branch already contains the run's work."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    state: str
    repository: str
    branch: str
    base_ref: str | None
    base_sha: str
    head_sha: str
    default_target: str | None
    merged_into_target: bool
    commits: list[DiffCommit] = Field(default_factory=list)
    files: list[FileDiff] = Field(default_factory=list)
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0


class MergeResult(BaseModel):
    """The outcome of :func:`merge_run`. ``result``: ``fast_forward``, ``merge_commit`` or
    ``already_merged`` (nothing changed); ``sha`` is the target's tip afterwards;
    ``checkout`` the work tree that was updated because it had the target checked out."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    branch: str
    target: str
    mode: MergeMode
    result: Literal["fast_forward", "merge_commit", "already_merged"]
    previous_sha: str
    sha: str
    checkout: str | None = None
    message: str


class PushResult(BaseModel):
    """The outcome of :func:`push_run`: the remote (URL without credentials), the branch
    and the sha it now has there, and git's summary (``[new branch]``, ``[up to date]``)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    branch: str
    remote: str
    url: str
    sha: str
    summary: str
    message: str


def _repository(run: Run) -> Path:
    if not run.repo_path:
        raise ConflictError(
            f"run {run.id!r} has no repository recorded, so it has no branch to deliver",
            run_id=run.id,
        )
    repo = Path(run.repo_path)
    if not is_repository(repo):
        raise ConflictError(
            f"run {run.id!r}'s repository {repo} is gone or no longer a git repository",
            run_id=run.id,
        )
    return repo


def _branch_and_head(run: Run, repo: Path) -> tuple[str, str]:
    branch = run.branch or f"autopack/{run.id}"
    head = git_delivery.resolve_commit(repo, f"refs/heads/{branch}")
    if head is None:
        raise ConflictError(
            f"run {run.id!r} has no branch {branch!r} in {repo} (the run has not started, "
            "or the branch was deleted)",
            run_id=run.id,
        )
    return branch, head


def _base_sha(run: Run, repo: Path, head: str) -> str:
    recorded = git_delivery.resolve_commit(repo, f"refs/autopack/{run.id}/base")
    if recorded is not None:
        return recorded
    # Runs whose base ref was deleted: the fork point with the ref the plan named.
    named = git_delivery.resolve_commit(repo, run.base_ref or "HEAD")
    if named is None:
        raise ConflictError(
            f"run {run.id!r}'s base ({run.base_ref or 'HEAD'}) no longer exists in {repo}",
            run_id=run.id,
        )
    return git_delivery.merge_base(repo, named, head) or named


def default_target(run: Run) -> str | None:
    """The branch a merge of ``run`` goes into when none is named: the branch the plan's
    ``base_ref`` names, or with no ``base_ref`` the branch checked out in the repository;
    ``None`` when the base is not a local branch (a tag, a sha, a remote branch)."""
    repo = Path(run.repo_path) if run.repo_path else None
    if repo is None or not repo.exists():
        return None
    if not run.base_ref or run.base_ref == "HEAD":
        return git_delivery.current_branch(repo)
    name = run.base_ref.removeprefix("refs/heads/")
    return name if git_delivery.resolve_commit(repo, f"refs/heads/{name}") else None


def _phase_ids(run: Run, commits: list[git_delivery.BranchCommit]) -> list[str | None]:
    by_sha = {p.commit_sha: p.phase_id for p in run.phases if p.commit_sha}
    known = {p.phase_id for p in run.phases}
    found: list[str | None] = []
    for commit in commits:
        prefix = commit.subject.split(":", 1)[0] if ":" in commit.subject else None
        found.append(by_sha.get(commit.sha) or (prefix if prefix in known else None))
    return found


def branch_diff(session: Session, run_id: str) -> BranchDiff:
    """The diff of run ``run_id``'s branch against the commit it started from.

    NotFoundError for an unknown run; ConflictError when the run has no repository or no
    branch yet. Read only."""
    run = get_run(session, run_id, check_states=False)
    repo = _repository(run)
    branch, head = _branch_and_head(run, repo)
    base = _base_sha(run, repo, head)
    commits = git_delivery.list_commits(repo, base, head)
    files = git_delivery.diff_files(repo, base, head)
    target = default_target(run)
    target_sha = git_delivery.resolve_commit(repo, f"refs/heads/{target}") if target else None
    return BranchDiff(
        run_id=run.id,
        state=run.state,
        repository=str(repo),
        branch=branch,
        base_ref=run.base_ref,
        base_sha=base,
        head_sha=head,
        default_target=target,
        merged_into_target=bool(target_sha and git_delivery.is_ancestor(repo, head, target_sha)),
        commits=[
            DiffCommit(**c.model_dump(), phase_id=phase_id)
            for c, phase_id in zip(commits, _phase_ids(run, commits), strict=True)
        ],
        files=files,
        files_changed=len(files),
        insertions=sum(f.added for f in files),
        deletions=sum(f.removed for f in files),
    )


def _record(
    session: Session, run: Run, *, actor: str, decision: str, text: str, **details: Any
) -> None:
    record_decision(
        session, actor=actor, decision=decision, rationale=text, run_id=run.id, **details
    )


def merge_run(
    session: Session,
    run_id: str,
    *,
    into: str | None = None,
    mode: MergeMode = "auto",
    actor: str,
) -> MergeResult:
    """Merge run ``run_id``'s branch into branch ``into`` (default: :func:`default_target`)
    of the run's repository, and record who merged what in the decision log.

    ``mode``: ``ff`` fast-forward only, ``merge`` always a merge commit, ``auto`` a
    fast-forward when possible, else a merge commit. Uncommitted work is never touched:
    the merge is made without a work tree; a checkout that has the target checked out is
    moved along only when it has no uncommitted changes to tracked files.

    Raises NotFoundError (unknown run), ValidationError (no such target branch, no target
    could be told, a bad mode), ConflictError (the run did not end DONE_SUCCESS, the
    merge conflicts: ``context["files"]`` names the files, a dirty checkout of the target,
    ``ff`` impossible); each refusal changes nothing. Merging again returns
    ``already_merged``, records nothing and changes nothing."""
    if mode not in ("ff", "merge", "auto"):
        raise ValidationError(f"mode must be ff, merge or auto, not {mode!r}", field="mode")
    run = get_run(session, run_id, check_states=False)
    if run.state != RunState.DONE_SUCCESS.value:
        raise ConflictError(
            f"run {run.id!r} is {run.state}; only a run that ended DONE_SUCCESS is merged "
            "(its branch can still be read with GET /runs/{run_id}/diff or pushed for review)",
            run_id=run.id,
            state=run.state,
        )
    repo = _repository(run)
    branch, head = _branch_and_head(run, repo)
    target = into.strip().removeprefix("refs/heads/") if into else default_target(run)
    if not target:
        raise ValidationError(
            f"run {run.id!r} started from {run.base_ref or 'a detached HEAD'}, which is not a "
            "local branch; name the branch to merge into (--into BRANCH, or `into`)",
            field="into",
        )
    if target == branch:
        raise ValidationError(
            f"cannot merge the run's branch {branch!r} into itself; name another branch",
            field="into",
        )
    if not git_delivery.is_branch_name(repo, target):
        raise ValidationError(f"{target!r} is not a valid branch name", field="into")
    message = (
        f"Merge {branch} into {target}\n\nAutopack run {run.id}"
        + (f": {run.goal.strip().splitlines()[0]}" if run.goal.strip() else "")
        + f"\nMerged by {actor}\n"
    )
    outcome = git_delivery.merge_into(
        repo, target=target, source=head, source_label=branch, mode=mode, message=message
    )
    what = {
        "fast_forward": f"fast-forwarded {target} to {branch} ({outcome.sha[:12]})",
        "merge_commit": f"merged {branch} into {target} with merge commit {outcome.sha[:12]}",
        "already_merged": f"{target} already contains {branch} ({head[:12]}); nothing to do",
    }[outcome.result]
    if outcome.checkout:
        what += f"; updated the checkout at {outcome.checkout}"
    if outcome.result != "already_merged":
        _record(
            session,
            run,
            actor=actor,
            decision="merged",
            text=what,
            branch=branch,
            head_sha=head,
            target=target,
            mode=mode,
            result=outcome.result,
            previous_sha=outcome.previous_sha,
            sha=outcome.sha,
            checkout=outcome.checkout,
        )
    return MergeResult(
        run_id=run.id,
        branch=branch,
        target=target,
        mode=mode,
        result=outcome.result,
        previous_sha=outcome.previous_sha,
        sha=outcome.sha,
        checkout=outcome.checkout,
        message=what,
    )


def push_run(session: Session, run_id: str, *, remote: str | None = None, actor: str) -> PushResult:
    """Push run ``run_id``'s branch to ``remote`` (a remote of the run's repository by
    name; default ``origin``) under the same name, never forced, and record it.

    The run must have ended (any ``DONE_*`` state: a failed run's branch can be pushed
    for review). Raises NotFoundError (unknown run), ValidationError (no such remote: the
    message lists the repository's remotes), ConflictError (the run still runs, has no
    branch, or the remote's branch has commits ours lacks), WorkspaceError (the remote
    could not be reached)."""
    name = (remote or "origin").strip()
    if not name or name.startswith("-"):
        raise ValidationError(f"{remote!r} is not a remote name", field="remote")
    run = get_run(session, run_id, check_states=False)
    if not run.state.startswith("DONE_"):
        raise ConflictError(
            f"run {run.id!r} is {run.state}; its branch is pushed once the run has ended",
            run_id=run.id,
            state=run.state,
        )
    repo = _repository(run)
    branch, _ = _branch_and_head(run, repo)
    outcome = git_delivery.push_branch(repo, remote=name, branch=branch)
    text = f"pushed {branch} ({outcome.sha[:12]}) to {name} ({outcome.url}): {outcome.summary}"
    _record(
        session,
        run,
        actor=actor,
        decision="pushed",
        text=text,
        branch=branch,
        remote=name,
        url=outcome.url,
        sha=outcome.sha,
        summary=outcome.summary,
    )
    return PushResult(
        run_id=run.id,
        branch=branch,
        remote=name,
        url=outcome.url,
        sha=outcome.sha,
        summary=outcome.summary,
        message=text,
    )
