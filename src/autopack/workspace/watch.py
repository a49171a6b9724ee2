"""Whether anything wrote in a working tree since a moment: Linux inotify, through ctypes.

A git status walk is O(files): libgit2 opens and lists every directory and stats every
file. The executor asks whether the run's worktree is clean when a phase starts (its
savepoint) and, in between, writes only the files it commits by path.
:class:`WorktreeWatch` lets the question be answered without the walk, by proving that
nobody else wrote either:
an inotify watch on every directory of the tree (``.git`` excluded) reports any file
created, written, deleted, moved or changed in its metadata, and every directory created.

The protocol: :meth:`WorktreeWatch.settle` right before a walk (the events of what was
written until then are read and dropped, new directories get their watches);
:meth:`WorktreeWatch.undisturbed` later says whether any event arrived since. An event
is never explained away: whatever wrote (a person, a process left over from the tests, a
file dropped by anyone), the caller walks as before. :meth:`WorktreeWatch.take_touched`
settles too, and names the paths written since the last settle, so the squash can tell
from just those whether the worktree is still its commit's tree (``GitWorkspace.squash``)
instead of walking.

What inotify does not see, and so what this cannot vouch for: writes through a shared
memory mapping, through a hard link from outside the tree, and writes made by another
machine on a network filesystem. The watch
is only used on Linux; anywhere else, when the kernel refuses a watch (its per-user
limits), or when the tree has more than :data:`MAX_WATCHED_DIRS` directories,
:meth:`WorktreeWatch.start` returns ``None`` and the caller walks every time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import struct
import sys
import weakref
from pathlib import Path

#: Directories beyond which a tree is not watched (its clean checks walk, as before).
MAX_WATCHED_DIRS = 20_000
#: Paths written since an epoch began beyond which the watch stops naming them (it still
#: says that something was written): staging that many one by one is no longer cheaper
#: than the walk.
MAX_TOUCHED = 2_000

_IN_MODIFY = 0x00000002
_IN_ATTRIB = 0x00000004
_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_FROM = 0x00000040
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_DELETE = 0x00000200
_IN_DELETE_SELF = 0x00000400
_IN_MOVE_SELF = 0x00000800
_IN_Q_OVERFLOW = 0x00004000
_IN_IGNORED = 0x00008000
_IN_ONLYDIR = 0x01000000
_IN_DONT_FOLLOW = 0x02000000
_IN_ISDIR = 0x40000000
_MASK = (
    _IN_MODIFY
    | _IN_ATTRIB
    | _IN_CLOSE_WRITE
    | _IN_MOVED_FROM
    | _IN_MOVED_TO
    | _IN_CREATE
    | _IN_DELETE
    | _IN_DELETE_SELF
    | _IN_MOVE_SELF
    | _IN_ONLYDIR
    | _IN_DONT_FOLLOW
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


class _Unwatchable(Exception):
    """The tree cannot be watched whole (too many directories, a kernel limit)."""


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library with inotify's functions, loaded on first use: every command that
    imports the workspace would otherwise pay for it (``find_library`` runs ``ldconfig``)."""
    if not sys.platform.startswith("linux"):
        return None
    # glibc's soname first; find_library (which runs ldconfig) only where that fails.
    for name in ("libc.so.6", None):
        name = name or ctypes.util.find_library("c")
        if not name:
            continue
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            return libc
        except (OSError, AttributeError):
            continue
    return None


class WorktreeWatch:
    """An inotify watch on every directory of ``root`` except ``.git`` (see the module
    docstring). Close it with :meth:`close` (it is closed when collected, too)."""

    def __init__(self, root: Path, libc: ctypes.CDLL) -> None:
        self.root = root
        self._libc = libc
        self._fd = -1
        self._dirs: dict[int, bytes] = {}
        #: The watch lost track of the tree (a queue overflow, a moved directory): it is
        #: rebuilt at the next :meth:`settle`, and vouches for nothing until then.
        self._stale = False
        #: No event since the last :meth:`settle`.
        self._quiet = False
        #: The paths events named since the last :meth:`settle` (``None``: too many).
        self._touched: set[bytes] | None = set()
        #: Settled at least once since the tree was (re)scanned: only then do the paths
        #: named since say what changed.
        self._epoch = False
        self._finalizer: weakref.finalize[..., WorktreeWatch] | None = None
        self._open()

    @classmethod
    def start(cls, root: Path) -> WorktreeWatch | None:
        """A watch on ``root``, or ``None`` where the tree cannot be watched whole."""
        libc = _libc()
        if libc is None:
            return None
        try:
            return cls(Path(root), libc)
        except (_Unwatchable, OSError):
            return None

    def _open(self) -> None:
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._fd, self._dirs, self._stale, self._quiet = fd, {}, False, False
        self._touched, self._epoch = set(), False
        self._finalizer = weakref.finalize(self, os.close, fd)
        try:
            self._add_tree(os.fsencode(self.root))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop watching (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._fd = -1

    def settle(self) -> None:
        """From now on, any write in the tree is an event :meth:`undisturbed` reports.

        The events until now (the caller's own writes) are read and dropped; directories
        they created are watched (with what they hold). A watch that lost track of the
        tree is rebuilt from a fresh scan; if that fails, the watch closes and vouches for
        nothing any more."""
        self.take_touched()

    def take_touched(self) -> set[str] | None:
        """:meth:`settle`, returning the paths (relative to the root, ``/``-separated)
        that were written, created, deleted, moved or changed in their metadata since the
        last one: for a directory created meanwhile, its own path (what it holds may have
        been written before its watch was added). ``None`` when the watch cannot name
        them all: it lost track of the tree (a queue overflow, a moved directory), more
        than :data:`MAX_TOUCHED` were written, it was never settled, or it is closed."""
        if self._fd < 0:
            return None
        self._drain()
        named = None if self._stale or not self._epoch else self._touched
        taken = None
        if named is not None:
            root = os.fsencode(self.root)
            taken = {os.fsdecode(os.path.relpath(path, root)) for path in named}
        self._touched = set()
        if self._stale:
            self.close()
            try:
                self._open()
            except (_Unwatchable, OSError):
                return None
        self._quiet = self._epoch = True
        return taken

    def undisturbed(self) -> bool:
        """Whether nothing wrote in the tree since the last :meth:`settle` (``False``
        before the first one, and from the first event until the next one)."""
        if self._fd < 0:
            return False
        if self._drain():
            self._quiet = False
        return self._quiet and not self._stale

    def _drain(self) -> int:
        """Read every pending event; keep the set of watched directories up to date.
        Returns the number of events read."""
        count = 0
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return count
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                count += 1
                self._on_event(wd, mask, name)

    def _on_event(self, wd: int, mask: int, name: bytes) -> None:
        if mask & _IN_Q_OVERFLOW:
            self._stale = True  # events were lost: start again from a scan
            return
        if mask & _IN_IGNORED:  # the directory is gone (its removal was an event)
            self._dirs.pop(wd, None)
            return
        parent = self._dirs.get(wd)
        if parent is None:
            return
        if self._touched is not None:
            self._touched.add(parent + b"/" + name if name else parent)
            if len(self._touched) > MAX_TOUCHED:
                self._touched = None
        if mask & _IN_MOVE_SELF or (mask & _IN_ISDIR and mask & _IN_MOVED_FROM):
            self._stale = True  # a directory moved: the paths under it are stale
        elif mask & _IN_ISDIR and mask & (_IN_CREATE | _IN_MOVED_TO) and name != b".git":
            try:
                self._add_tree(parent + b"/" + name)
            except (_Unwatchable, OSError):
                self._stale = True

    def _add_tree(self, top: bytes) -> None:
        """Watch ``top`` and every directory under it (``.git`` and symlinks excluded).

        Each directory is watched before it is listed, so a subdirectory made meanwhile
        is either listed or reported."""
        stack = [top]
        while stack:
            path = stack.pop()
            if len(self._dirs) >= MAX_WATCHED_DIRS:
                raise _Unwatchable(f"more than {MAX_WATCHED_DIRS} directories")
            wd = self._libc.inotify_add_watch(self._fd, path, _MASK)
            if wd < 0:
                code = ctypes.get_errno()
                if code in (errno.ENOENT, errno.ENOTDIR) and path != top:
                    continue  # gone (or replaced) since listed: its parent reported it
                raise _Unwatchable(f"inotify_add_watch {path!r}: {os.strerror(code)}")
            self._dirs[wd] = path
            try:
                with os.scandir(path) as entries:
                    for entry in entries:
                        if entry.name != b".git" and entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
            except (FileNotFoundError, NotADirectoryError):
                continue
