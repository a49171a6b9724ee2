"""The environments directory: locks, records, listing and pruning.

``AUTOPACK_HOME/envs/<key>/`` is an environment; ``<key>.lock`` beside it is the lock
every build, attach and prune of that key holds (``fcntl.flock``, released by the kernel
when a process dies, so a crashed build never leaves a stale lock). ``env.json`` is
written last and atomically (a temp file renamed): a directory without it is a build that
did not finish, and is removed before the next build, never used. Builds happen at the
final path (virtualenvs are not relocatable) with a ``.building`` marker naming who builds.

A run that uses an environment may hold ``<key>.inuse`` shared (:func:`environment_in_use`)
for as long as it runs its commands there; prune never removes an environment whose
``.inuse`` lock is held, and holding it never blocks another run's prepare.

Lock files are never deleted, not even by prune: deleting a lock file another process
has open would let two builders hold "the" lock at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from autopack.environments.base import Environment

RECORD = "env.json"
BUILDING = ".building"
KEY_PATTERN = re.compile(r"^(python|node|go|rust|java|none)-[0-9a-f]{20}$")


@contextlib.contextmanager
def key_lock(envs_dir: Path, key: str, *, blocking: bool = True) -> Iterator[bool]:
    """Hold the key's lock; yields False (without waiting) when ``blocking`` is False and
    another process holds it."""
    envs_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(envs_dir / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def environment_in_use(envs_dir: Path, key: str) -> Iterator[None]:
    """Mark the environment ``key`` as in use (a shared lock) until the block ends, so
    that ``autopack env prune`` leaves it alone. Any number of holders at once."""
    envs_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(envs_dir / f"{key}.inuse", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _in_use(envs_dir: Path, key: str) -> bool:
    path = envs_dir / f"{key}.inuse"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def lock_is_free(envs_dir: Path, key: str) -> bool:
    with key_lock(envs_dir, key, blocking=False) as free:
        return free


def read_record(root: Path) -> Environment | None:
    """The environment recorded in ``root/env.json``; None when it is not ready."""
    try:
        return Environment.model_validate_json((root / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(root: Path, record: Environment) -> None:
    write_json_atomically(root / RECORD, record.model_dump_json(indent=2))


def directory_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).lstat().st_size
    return total


def list_environments(envs_dir: Path) -> list[Environment]:
    """Every ready environment, most recently used first."""
    found: list[Environment] = []
    if not envs_dir.is_dir():
        return found
    for root in envs_dir.iterdir():
        if root.is_dir() and KEY_PATTERN.match(root.name):
            record = read_record(root)
            if record is not None:
                found.append(record)
    found.sort(key=lambda e: e.last_used_at or "", reverse=True)
    return found


def prune_environments(
    envs_dir: Path,
    older_than_days: float | None,
    *,
    now: datetime | None = None,
) -> list[Environment]:
    """Remove environments last used more than ``older_than_days`` ago (every one when
    None), and every half-built one. Environments being built or prepared right now, and
    those a run holds with :func:`environment_in_use`, are left alone. Returns what was
    removed."""
    now = now or datetime.now(UTC)
    removed: list[Environment] = []
    if not envs_dir.is_dir():
        return removed
    for root in sorted(envs_dir.iterdir()):
        if not (root.is_dir() and KEY_PATTERN.match(root.name)):
            continue
        with key_lock(envs_dir, root.name, blocking=False) as held:
            if not held or _in_use(envs_dir, root.name):
                continue
            record = read_record(root)
            if record is None:
                record = Environment(
                    key=root.name,
                    toolchain=None if root.name.startswith("none-") else root.name.split("-")[0],
                    root=root,
                    notes=["half-built: its build did not finish"],
                )
            elif older_than_days is not None:
                last = _parse_time(record.last_used_at or record.created_at)
                if last is not None and now - last < timedelta(days=older_than_days):
                    continue
            record.size_bytes = directory_size(root)
            shutil.rmtree(root, ignore_errors=True)
            removed.append(record)
    return removed


def utc_now_text(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="seconds")


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
