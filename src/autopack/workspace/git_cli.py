"""The git command line as Autopack runs it: fixed identity, no prompts, errors translated.

Every command runs with a fixed identity (``Autopack <autopack@localhost>``) so commits
work where git has no global identity, with prompts, hooks and signing off (an autonomous
commit must not wait for a passphrase or run the user's hooks), and with git's
``GIT_DIR``-style variables removed so an outer git process cannot redirect it. A failing
command becomes :class:`~autopack.errors.WorkspaceError` carrying the command and stderr.

Runs on one repository share its lock files (``index.lock``, ``<ref>.lock``,
``packed-refs.lock``): a command that finds one held (git's "Unable to create
'....lock': File exists") is retried with a growing pause (:data:`LOCK_RETRY_DELAYS`)
before it is reported, because the holder is another git process that finishes within
milliseconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from autopack.errors import WorkspaceError

AUTOPACK_NAME = "Autopack"
AUTOPACK_EMAIL = "autopack@localhost"
DEFAULT_TIMEOUT = 120.0
_CONFIG = (
    f"user.name={AUTOPACK_NAME}",
    f"user.email={AUTOPACK_EMAIL}",
    "commit.gpgsign=false",
    "tag.gpgsign=false",
    f"core.hooksPath={os.devnull}",
)
#: Pauses between tries of a command that found one of git's lock files held (seconds).
LOCK_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
_LOCK_HELD = re.compile(r"\.lock'?: File exists")
#: Variables with which an outer git process (a hook, a rebase) would redirect ours.
_GIT_REDIRECTS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
)


def is_repository(path: Path) -> bool:
    """Whether ``path`` is the top of a git repository: a checkout (it holds ``.git``) or
    a bare repository (``HEAD``, ``objects/`` and ``refs/`` in it, as git tells one). A
    run works in a worktree of its own, so either kind can be built in."""
    if (path / ".git").exists():
        return True
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def is_bare_repository(path: Path) -> bool:
    """A repository with no checkout of its own (:func:`is_repository` without ``.git``)."""
    return not (path / ".git").exists() and is_repository(path)


def run_git(
    cwd: Path,
    *args: str,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``git -C cwd args...`` (a list, never a shell) and translate failures."""
    command = ["git", *(f for c in _CONFIG for f in ("-c", c)), "-C", str(cwd), *args]
    full_env = {k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS}
    full_env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME=AUTOPACK_NAME,
        GIT_AUTHOR_EMAIL=AUTOPACK_EMAIL,
        GIT_COMMITTER_NAME=AUTOPACK_NAME,
        GIT_COMMITTER_EMAIL=AUTOPACK_EMAIL,
        GIT_EDITOR="true",
        LC_ALL="C",
    )
    full_env.update(env or {})
    for delay in (*LOCK_RETRY_DELAYS, None):
        done = _run(command, input_text=input_text, env=full_env, timeout=timeout, args=args)
        if done.returncode == 0 or delay is None or not _LOCK_HELD.search(done.stderr):
            break
        time.sleep(delay)
    if check and done.returncode != 0:
        stderr = done.stderr.strip()
        raise WorkspaceError(
            f"git {args[0]} failed in {cwd}: {stderr or f'exit code {done.returncode}'}",
            command=command,
            stderr=stderr,
        )
    return done


def _run(
    command: list[str],
    *,
    input_text: str | None,
    env: dict[str, str],
    timeout: float,
    args: tuple[str, ...],
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise WorkspaceError("git is not installed or not on PATH", command=command) from exc
    except subprocess.TimeoutExpired as exc:
        raise WorkspaceError(
            f"git {args[0]} timed out after {timeout:.0f}s", command=command
        ) from exc


#: Where a run's savepoints live: ``refs/autopack/<run_id>/save/<n>``, and where an older
#: Autopack put them, as tags (``refs/tags/autopack/<run_id>/save/<n>``), still honoured.
SAVEPOINT_NAMESPACES = ("refs/", "refs/tags/")


def run_refs(repo: Path, run_id: str) -> list[str]:
    """Every ref a run owns besides its branch: ``refs/autopack/<run_id>/...`` (base and
    savepoints) and legacy savepoint tags."""
    out = run_git(
        repo,
        "for-each-ref",
        "--format=%(refname)",
        f"refs/autopack/{run_id}/",
        f"refs/tags/autopack/{run_id}/save/",
    ).stdout
    return out.split()


def delete_refs(repo: Path, refs: list[str]) -> None:
    """Delete ``refs`` in one ref transaction (all or none)."""
    if refs:
        run_git(repo, "update-ref", "--stdin", input_text="".join(f"delete {r}\n" for r in refs))
