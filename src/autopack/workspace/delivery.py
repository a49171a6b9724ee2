"""Git plumbing that delivers a run's branch: its diff, a merge into a user's branch, a push.

Nothing here touches a user's uncommitted work. A merge is computed without any work tree
(``git merge-tree --write-tree``, git >= 2.38), committed with ``git commit-tree`` and
published with ``git update-ref <ref> <new> <old>``, a compare-and-swap that fails if the
branch moved meanwhile. Only when the target branch is checked out somewhere (the user's
checkout, or another worktree) is a work tree updated, and then only when it has no
uncommitted changes to tracked files, by ``git merge --ff-only`` to the new commit, which
also refuses to overwrite untracked files.

Errors: a refusal a person can act on (conflicts, a dirty checkout, a branch that cannot
fast-forward, a missing remote) is a :class:`~autopack.errors.ConflictError` or
:class:`~autopack.errors.ValidationError` naming what to do; a git command that fails for
another reason is a :class:`~autopack.errors.WorkspaceError`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from autopack.errors import ConflictError, ValidationError, WorkspaceError
from autopack.workspace.git_cli import run_git

MergeMode = Literal["ff", "merge", "auto"]
#: A file's patch text is cut after this many characters (the stats stay exact).
MAX_PATCH_CHARS = 200_000
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


class BranchCommit(BaseModel):
    """One commit of the branch (``sha``, first line of its message, author date)."""

    model_config = ConfigDict(frozen=True)

    sha: str
    subject: str
    author: str
    date: str


class FileDiff(BaseModel):
    """One file's change: ``status`` is added, deleted or modified; ``patch`` the unified
    diff text (cut at :data:`MAX_PATCH_CHARS`, then ``truncated``)."""

    model_config = ConfigDict(frozen=True)

    path: str
    status: Literal["added", "deleted", "modified"]
    added: int
    removed: int
    binary: bool
    patch: str
    truncated: bool = False


class MergeOutcome(BaseModel):
    """What :func:`merge_into` did. ``result`` is ``fast_forward``, ``merge_commit`` or
    ``already_merged``; ``sha`` the target's tip afterwards; ``checkout`` the work tree
    that was updated (the target was checked out there), if any."""

    model_config = ConfigDict(frozen=True)

    result: Literal["fast_forward", "merge_commit", "already_merged"]
    target: str
    previous_sha: str
    sha: str
    checkout: str | None = None


class PushOutcome(BaseModel):
    """What :func:`push_branch` did: the remote, its URL without credentials, the sha pushed
    and git's one-line summary."""

    model_config = ConfigDict(frozen=True)

    remote: str
    url: str
    ref: str
    sha: str
    summary: str


def resolve_commit(repo: Path, ref: str) -> str | None:
    """The commit ``ref`` names in ``repo``, or ``None`` when it names none."""
    done = run_git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def current_branch(repo: Path) -> str | None:
    """The branch checked out in ``repo`` (short name), or ``None`` on a detached HEAD."""
    done = run_git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def merge_base(repo: Path, one: str, two: str) -> str | None:
    """The best common ancestor of two commits, or ``None`` when they share none."""
    done = run_git(repo, "merge-base", one, two, check=False)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def is_branch_name(repo: Path, name: str) -> bool:
    """Whether ``name`` is a valid short branch name (``git check-ref-format --branch``)."""
    if not name or name.startswith("-"):
        return False
    done = run_git(repo, "check-ref-format", "--branch", name, check=False)
    return done.returncode == 0


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    """Whether commit ``older`` is reachable from ``newer`` (equal counts)."""
    done = run_git(repo, "merge-base", "--is-ancestor", older, newer, check=False)
    if done.returncode > 1:
        raise WorkspaceError(
            f"git merge-base failed in {repo}: {done.stderr.strip()}",
            command=list(done.args),
            stderr=done.stderr.strip(),
        )
    return done.returncode == 0


def list_commits(repo: Path, base: str, head: str, *, limit: int = 1000) -> list[BranchCommit]:
    """Commits reachable from ``head`` but not ``base``, oldest first."""
    out = run_git(
        repo,
        "log",
        "--reverse",
        f"--max-count={limit}",
        "--format=%H%x00%s%x00%an%x00%aI%x1e",
        f"{base}..{head}",
    ).stdout
    commits = []
    for record in out.split("\x1e"):
        fields = record.strip("\n").split("\0")
        if len(fields) == 4 and fields[0]:
            commits.append(
                BranchCommit(sha=fields[0], subject=fields[1], author=fields[2], date=fields[3])
            )
    return commits


def diff_files(repo: Path, base: str, head: str) -> list[FileDiff]:
    """Each changed file between commits ``base`` and ``head``, in path order.

    Renames are shown as a deletion and an addition, so every entry names one path."""
    options = ("--no-color", "--no-ext-diff", "--no-renames", "--no-textconv")
    numstat = run_git(repo, "diff", *options, "--numstat", "-z", base, head, "--").stdout
    patch = run_git(repo, "diff", *options, "--patch", base, head, "--").stdout
    stats: list[tuple[str, int, int, bool]] = []
    for record in numstat.split("\0"):
        cols = record.split("\t", 2)
        if len(cols) == 3:
            binary = cols[0] == "-"
            stats.append(
                (cols[2], 0 if binary else int(cols[0]), 0 if binary else int(cols[1]), binary)
            )
    # Both commands list files in the same order, one "diff --git" section per file.
    sections = re.split(r"^(?=diff --git )", patch, flags=re.MULTILINE)
    sections = [s for s in sections if s.startswith("diff --git ")]
    if len(sections) != len(stats):
        raise WorkspaceError(
            f"git diff listed {len(stats)} files but {len(sections)} patches between "
            f"{base} and {head}"
        )
    files = []
    for (path, added, removed, binary), text in zip(stats, sections, strict=True):
        header = text[:2000]
        status: Literal["added", "deleted", "modified"] = (
            "added"
            if "\nnew file mode " in header
            else "deleted"
            if "\ndeleted file mode " in header
            else "modified"
        )
        cut = len(text) > MAX_PATCH_CHARS
        files.append(
            FileDiff(
                path=path,
                status=status,
                added=added,
                removed=removed,
                binary=binary,
                patch=text[:MAX_PATCH_CHARS] if cut else text,
                truncated=cut,
            )
        )
    return files


def checkouts_of(repo: Path, branch: str) -> list[Path]:
    """Work trees of ``repo`` (its main checkout and linked worktrees) that have
    ``refs/heads/<branch>`` checked out."""
    out = run_git(repo, "worktree", "list", "--porcelain", "-z").stdout
    found: list[Path] = []
    path: str | None = None
    for field in out.split("\0"):
        if field.startswith("worktree "):
            path = field.removeprefix("worktree ")
        elif field == f"branch refs/heads/{branch}" and path is not None:
            found.append(Path(path))
    return found


def _tracked_changes(checkout: Path) -> list[str]:
    """Paths with staged or unstaged changes to tracked files (untracked ones excluded)."""
    out = run_git(checkout, "status", "--porcelain=v1", "-z", "--untracked-files=no").stdout
    paths = []
    fields = out.split("\0")
    i = 0
    while i < len(fields):
        item = fields[i]
        i += 1
        if len(item) >= 4:
            paths.append(item[3:])
            if item[0] in "RC":
                i += 1
    return paths


def merge_into(
    repo: Path,
    *,
    target: str,
    source: str,
    source_label: str,
    mode: MergeMode,
    message: str,
) -> MergeOutcome:
    """Merge commit ``source`` into branch ``target`` (a short name under ``refs/heads/``).

    ``mode``: ``ff`` fast-forwards or refuses; ``merge`` always makes a merge commit;
    ``auto`` fast-forwards when it can and makes a merge commit otherwise. When ``target``
    already contains ``source`` the outcome is ``already_merged`` and nothing changes.

    Refusals, each changing nothing: a missing target branch (ValidationError); a merge
    that conflicts (ConflictError with ``files``); ``ff`` when the branches diverged; the
    target checked out in a work tree with uncommitted changes to tracked files, or whose
    untracked files the merge would overwrite (ConflictError saying how to proceed); the
    target moved while merging (ConflictError: retry).
    """
    target_ref = f"refs/heads/{target}"
    old = resolve_commit(repo, target_ref)
    if old is None:
        raise ValidationError(
            f"branch {target!r} does not exist in {repo}; name an existing branch with "
            "--into (or `into` in the request)",
            field="into",
        )
    if is_ancestor(repo, source, old):
        return MergeOutcome(result="already_merged", target=target, previous_sha=old, sha=old)
    fast_forward = is_ancestor(repo, old, source)
    if mode == "ff" and not fast_forward:
        raise ConflictError(
            f"cannot fast-forward {target!r} to {source_label}: {target!r} has commits the "
            "run's branch does not have; merge with a merge commit instead (mode auto or "
            "merge, `--no-ff` on the CLI)",
            target=target,
        )
    if fast_forward and mode != "merge":
        new, result = source, "fast_forward"
    else:
        tree = _merged_tree(repo, old, source, target=target, source_label=source_label)
        new = run_git(
            repo, "commit-tree", tree, "-p", old, "-p", source, "-m", message
        ).stdout.strip()
        result = "merge_commit"
    checkouts = checkouts_of(repo, target)
    for checkout in checkouts:
        dirty = _tracked_changes(checkout)
        if dirty:
            shown = ", ".join(dirty[:10]) + (" ..." if len(dirty) > 10 else "")
            raise ConflictError(
                f"{target!r} is checked out in {checkout} with uncommitted changes ({shown}); "
                "Autopack does not touch uncommitted work. Commit or stash them and merge "
                f"again, or merge into another branch (--into) and merge that yourself",
                target=target,
                checkout=str(checkout),
                files=dirty[:100],
            )
    if checkouts:
        # The work tree and its branch move together; git refuses to overwrite untracked
        # files and stops before changing anything.
        checkout = checkouts[0]
        done = run_git(checkout, "merge", "--ff-only", "--no-edit", "--quiet", new, check=False)
        if done.returncode != 0:
            raise ConflictError(
                f"could not update {target!r} checked out in {checkout}: "
                f"{done.stderr.strip() or done.stdout.strip()}; nothing was changed. Move "
                "the files git names out of the way, or merge into another branch (--into)",
                target=target,
                checkout=str(checkout),
            )
        return MergeOutcome(
            result=result, target=target, previous_sha=old, sha=new, checkout=str(checkout)
        )
    swap = run_git(
        repo, "update-ref", "-m", message.splitlines()[0], target_ref, new, old, check=False
    )
    if swap.returncode != 0:
        raise ConflictError(
            f"{target!r} moved while the merge was being made; nothing was changed, merge again",
            target=target,
            stderr=swap.stderr.strip(),
        )
    return MergeOutcome(result=result, target=target, previous_sha=old, sha=new)


def _merged_tree(repo: Path, ours: str, theirs: str, *, target: str, source_label: str) -> str:
    done = run_git(
        repo,
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        "-z",
        ours,
        theirs,
        check=False,
    )
    fields = [f for f in done.stdout.split("\0") if f]
    if done.returncode == 0 and fields:
        return fields[0]
    if done.returncode == 1:
        files = list(dict.fromkeys(fields[1:]))
        raise ConflictError(
            f"merging {source_label} into {target!r} conflicts in {len(files)} file(s): "
            f"{', '.join(files)}; nothing was changed. Resolve it by hand (git merge "
            f"{source_label} in your checkout) or merge into another branch",
            target=target,
            files=files,
        )
    raise WorkspaceError(
        f"git merge-tree failed in {repo}: {done.stderr.strip() or 'exit ' + str(done.returncode)}"
        " (Autopack needs git 2.38 or newer to merge)",
        command=list(done.args),
        stderr=done.stderr.strip(),
    )


def remote_url(repo: Path, remote: str) -> str:
    """``remote``'s push URL with any credentials removed; ValidationError when ``repo``
    has no such remote (the message lists the remotes it has)."""
    names = run_git(repo, "remote").stdout.split()
    if remote not in names:
        have = ", ".join(names) if names else "none"
        raise ValidationError(
            f"the repository {repo} has no remote {remote!r} (its remotes: {have}); add it "
            f"with `git -C {repo} remote add {remote} URL` or name another with --remote",
            field="remote",
        )
    url = run_git(repo, "remote", "get-url", "--push", remote).stdout.strip()
    return _CREDENTIALS.sub("", url)


def push_branch(repo: Path, *, remote: str, branch: str, timeout: float = 300.0) -> PushOutcome:
    """Push ``refs/heads/<branch>`` to the same name on ``remote`` (never forced).

    ValidationError for an unknown remote; ConflictError when the remote refuses (its
    branch has commits ours does not); WorkspaceError for other failures (unreachable)."""
    url = remote_url(repo, remote)
    sha = resolve_commit(repo, f"refs/heads/{branch}")
    if sha is None:
        raise ConflictError(f"branch {branch!r} does not exist in {repo}; nothing to push")
    ref = f"refs/heads/{branch}"
    done = run_git(
        repo,
        "push",
        "--porcelain",
        "--no-verify",
        remote,
        f"{ref}:{ref}",
        check=False,
        timeout=timeout,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(("=", "*", " ", "+", "!"))]
    summary = lines[0].split("\t")[-1] if lines else ""
    if done.returncode != 0:
        stderr = _CREDENTIALS.sub("", done.stderr.strip())
        if "rejected" in done.stdout or "[rejected]" in stderr:
            raise ConflictError(
                f"{remote} refused {branch!r}: its branch has commits this one does not "
                f"({summary or stderr}); Autopack never force-pushes",
                remote=remote,
            )
        raise WorkspaceError(
            f"git push to {remote} ({url}) failed: {stderr or 'exit ' + str(done.returncode)}",
            command=["git", "push", remote, ref],
            stderr=stderr,
        )
    return PushOutcome(remote=remote, url=url, ref=ref, sha=sha, summary=summary or "pushed")
