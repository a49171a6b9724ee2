"""The git command line as Autopack runs it: fixed identity, no prompts, errors translated.

Every command runs with a fixed identity (``Autopack <autopack@localhost>``) so commits
work where git has no global identity, with prompts, hooks and signing off (an autonomous
commit must not wait for a passphrase or run the user's hooks), and with git's
``GIT_DIR``-style variables removed so an outer git process cannot redirect it. A failing
command becomes :class:`~autopack.errors.WorkspaceError` carrying the command and stderr.
"""

from __future__ import annotations

import os
import subprocess
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
#: Variables with which an outer git process (a hook, a rebase) would redirect ours.
_GIT_REDIRECTS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
)


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
    try:
        done = subprocess.run(
            command,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=full_env,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise WorkspaceError("git is not installed or not on PATH", command=command) from exc
    except subprocess.TimeoutExpired as exc:
        raise WorkspaceError(
            f"git {args[0]} timed out after {timeout:.0f}s", command=command
        ) from exc
    if check and done.returncode != 0:
        stderr = done.stderr.strip()
        raise WorkspaceError(
            f"git {args[0]} failed in {cwd}: {stderr or f'exit code {done.returncode}'}",
            command=command,
            stderr=stderr,
        )
    return done
