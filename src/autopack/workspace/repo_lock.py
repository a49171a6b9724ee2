"""One lock per repository, for the git operations that concurrent runs would race on.

Git makes each single ref update atomic (``<ref>.lock``), but not everything runs do:
``git worktree add`` writes ``.git/worktrees/<name>/`` in several steps that a concurrent
``git worktree prune`` (run by every other run's start) can see half-made and delete;
deleting tags and refs rewrites ``packed-refs`` under one lock that a second writer then
fails on; a commit may start ``git gc --auto``. Autopack therefore holds
``<git common dir>/autopack.lock`` (``fcntl.flock``, exclusive, released by the kernel when
a process dies) around worktree add/remove/prune and around every command that writes
refs. The lock is per repository, so runs on different repositories never wait for each
other, and it is held only for the git command itself (milliseconds), never for a phase.

Reentrant within a thread (a guarded command may call another), blocking across threads
and processes: each holder opens its own descriptor, and flock locks belong to the open
file description.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "autopack.lock"
_held = threading.local()


@contextlib.contextmanager
def repo_lock(common_dir: Path) -> Iterator[None]:
    """Hold the repository's Autopack lock (``common_dir`` is git's common dir, the
    ``.git`` directory that worktrees share) until the block ends."""
    key = str(Path(common_dir).resolve())
    depth: dict[str, int] = getattr(_held, "depth", None) or {}
    _held.depth = depth
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    fd = os.open(Path(key) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
    finally:
        os.close(fd)  # closing the descriptor releases the lock
