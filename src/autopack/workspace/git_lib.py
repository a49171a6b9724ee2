"""In-process git (libgit2 through pygit2) for the operations the executor does every phase.

A git subprocess costs 5-30 ms here (a commit with its index refresh the most); the same
read or commit in libgit2 costs well under a millisecond to a few. :class:`LibRepo` is one
long-lived handle per workspace used by :class:`~autopack.workspace.git.GitWorkspace` for
its hot path: reading refs, the clean check, staging and committing, and savepoint tags.
Everything else (worktree add/remove, reset --hard, clean, diff text) stays on the git
command line (:mod:`autopack.workspace.git_cli`).

The handle never trusts a cached copy of what the command line may have changed: the index
is re-read from disk (libgit2 reloads it only if it changed), refs and objects are read
from disk on each lookup. libgit2 takes git's own lock files (``index.lock``,
``<ref>.lock``), so it and the command line exclude each other as two git processes would.

libgit2 applies the built-in filters (``text``/``eol``/``autocrlf``, ``ident``) but not
external filter drivers (Git LFS and the like): :meth:`LibRepo.has_filter_drivers` tells the
caller to stage with the command line in repositories that configure one.

Failures are :class:`~autopack.errors.WorkspaceError`, as from the command line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pygit2

from autopack.errors import WorkspaceError
from autopack.workspace.git_cli import AUTOPACK_EMAIL, AUTOPACK_NAME


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn libgit2's errors into :class:`WorkspaceError` naming the operation."""
    try:
        yield
    except (pygit2.GitError, KeyError, ValueError, OSError) as exc:
        raise WorkspaceError(f"git {what} failed: {exc}") from exc


def clean_message(message: str) -> str:
    """What ``git commit -m`` stores (cleanup mode ``whitespace``): trailing spaces cut,
    runs of blank lines collapsed, leading and trailing blank lines dropped, one final
    newline."""
    lines: list[str] = []
    for line in message.splitlines():
        line = line.rstrip()
        if not line and (not lines or not lines[-1]):
            continue
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def _renames_on(config: pygit2.Config) -> bool:
    """git's ``diff.renames``: on unless set false (``copies`` finds renames too)."""
    if "diff.renames" not in config:
        return True
    try:
        return config.get_bool("diff.renames")
    except (pygit2.GitError, ValueError):
        return True  # "copies" (or "copy"): renames and more


class TreeFiles:
    """A commit's tree read like a directory (the finalizer's ``DeliverableFiles``): what
    a phase's commit holds, whatever else is in the worktree."""

    def __init__(self, tree: pygit2.Tree) -> None:
        self._tree = tree

    def kind(self, rel: str) -> Literal["file", "dir"] | None:
        try:
            found = self._tree[rel] if rel else self._tree
        except KeyError:
            return None
        return "dir" if isinstance(found, pygit2.Tree) else "file"

    def text(self, rel: str) -> str:
        found = self._tree[rel]
        data = found.data if isinstance(found, pygit2.Blob) else b""
        return data.decode("utf-8", errors="replace")


class LibRepo:
    """One libgit2 handle on a working tree (a linked worktree or a checkout)."""

    def __init__(self, path: Path) -> None:
        with translated(f"open of {path}"):
            found = pygit2.discover_repository(str(path))
            if found is None:
                raise WorkspaceError(f"{path} is not inside a git working tree")
            self.repo = pygit2.Repository(found)
        self._filters: bool | None = None
        #: Whether the last ``stage(None)`` staged exactly the paths its status walk named
        #: (then nothing is left unstaged); ``False`` after ``add_all``'s fallback walk.
        self.staged_exactly = False
        #: The last tree listed by :meth:`tree_paths` and its paths, per filter (the next
        #: listing is this one plus a tree diff).
        self._listed: dict[Callable[[str], bool] | None, tuple[pygit2.Oid, frozenset[str]]] = {}

    def signature(self) -> pygit2.Signature:
        return pygit2.Signature(AUTOPACK_NAME, AUTOPACK_EMAIL)

    def has_filter_drivers(self) -> bool:
        """Whether git config names a ``filter.<driver>`` (clean/smudge/process): staging
        then needs the git command line, which runs the driver."""
        if self._filters is None:
            with translated("config"):
                self._filters = any(entry.name.startswith("filter.") for entry in self.repo.config)
        return self._filters

    def patch(self, base: str, head: str) -> str | None:
        """``git diff base head`` (two commits), in-process; ``None`` where only the git
        command line gives git's output: a configured external diff or textconv driver
        (``diff.external``, ``diff.<driver>.command`` or ``.textconv``), which libgit2
        does not run. Like git's defaults, renames are detected (unless ``diff.renames``
        is false) and the indent heuristic places the hunks; the ``index`` lines name
        blobs by 7 hex digits where git may print more."""
        with translated(f"diff {base[:12]} {head[:12]}"):
            config = self.repo.config
            drivers = (".command", ".textconv")
            if any(
                entry.name == "diff.external"
                or (entry.name.startswith("diff.") and entry.name.endswith(drivers))
                for entry in config
            ):
                return None
            diff = self.repo.diff(
                base, head, context_lines=3, flags=pygit2.enums.DiffOption.INDENT_HEURISTIC
            )
            if _renames_on(config):
                diff.find_similar()
            return diff.patch or ""

    def head(self) -> str:
        with translated("rev-parse HEAD"):
            return str(self.repo.head.target)

    def ref_target(self, name: str) -> str | None:
        """The commit (peeled) a ref points to, or ``None`` if there is no such ref."""
        with translated(f"show-ref {name}"):
            ref = self.repo.references.get(name)
            if ref is None:
                return None
            return str(ref.peel(pygit2.Commit).id)

    def annotated_ref(self, ref: str) -> tuple[str, str] | None:
        """``(commit, message)`` of the ref ``ref`` (a full name, ``refs/...``) when it
        exists; the message is its annotated tag object's ("" for a ref to a commit)."""
        with translated(f"show-ref {ref}"):
            found = self.repo.references.get(ref)
            if found is None:
                return None
            target = self.repo[found.target]
            message = target.message if isinstance(target, pygit2.Tag) else ""
            return str(found.peel(pygit2.Commit).id), message or ""

    def ref_names(self, prefix: str) -> list[str]:
        """Full names of the refs that start with ``prefix`` (``refs/...``)."""
        with translated("for-each-ref"):
            return [name for name in self.repo.references if name.startswith(prefix)]

    def changed_paths(self) -> dict[str, int]:
        """Changed and untracked files (ignored excluded) with libgit2's status flags."""
        with translated("status"):
            self.repo.index.read(False)
            return self.repo.status(untracked_files="all", ignored=False)

    def is_ignored(self, path: str) -> bool:
        with translated(f"check-ignore {path}"):
            return self.repo.path_is_ignored(path)

    def head_subject(self, base: str | None) -> str | None:
        """The subject of HEAD if HEAD is not ``base`` (``None`` when nothing is on top)."""
        with translated("log -1"):
            head = self.repo.head.target
            if base is not None and str(head) == base:
                return None
            commit = self.repo[head]
            assert isinstance(commit, pygit2.Commit)
            return commit.message.split("\n", 1)[0]

    def stage(self, paths: list[str] | None) -> pygit2.Oid:
        """``git add -A [-- paths]`` into the real index; returns the tree to commit.

        With ``paths`` the tree is HEAD's with only those paths taken from the index (what
        ``git commit -- paths`` commits), so other staged changes are not swept in."""
        with translated("add"):
            index = self.repo.index
            index.read(False)
            workdir = Path(self.repo.workdir)
            if paths is None:
                self.staged_exactly = self._add_everything(index)
                index.write()
                tree: pygit2.Oid = index.write_tree()
                return tree
            head = self._head_commit()
            # Nothing but these paths staged (the index is HEAD's tree, the usual case):
            # the index after adding them is the tree to commit, with no copy of HEAD's
            # tree to rebuild entry by entry.
            alone = (
                head is not None and index.conflicts is None and index.write_tree() == head.tree_id
            )
            for path in paths:
                if os.path.lexists(workdir / path) and not (workdir / path).is_dir():
                    index.add(path)
                elif path in index:
                    index.remove(path)
                else:
                    index.add_all([path])
            index.write()
            if alone:
                only_paths: pygit2.Oid = index.write_tree()
                return only_paths
            only = pygit2.Index()
            if head is not None:
                only.read_tree(head.tree)
            for path in paths:
                inside = f"{path.rstrip('/')}/"
                for entry in [e for e in only if e.path == path or e.path.startswith(inside)]:
                    only.remove(entry.path)
                for entry in index:
                    if entry.path == path or entry.path.startswith(inside):
                        only.add(entry)
            return only.write_tree(self.repo)

    def _add_everything(self, index: pygit2.Index) -> bool:
        """``git add -A``: new and changed files added, deleted ones removed.

        One status walk names what differs from the index; only those paths are staged
        (adding all and then asking status for deletions walked the worktree twice).
        Anything status reports that a path-by-path add does not cover (a nested
        repository, an unreadable file, a conflict) falls back to the walk of
        ``add_all``. Returns whether every path the walk named was staged path by path
        (``False`` after the fallback, which may leave something unstaged)."""
        status = pygit2.enums.FileStatus
        simple = status.WT_NEW | status.WT_MODIFIED | status.WT_TYPECHANGE | status.WT_DELETED
        staged_only = (
            status.INDEX_NEW
            | status.INDEX_MODIFIED
            | status.INDEX_DELETED
            | status.INDEX_RENAMED
            | status.INDEX_TYPECHANGE
        )
        changed = self.repo.status(untracked_files="all", ignored=False)
        workdir = Path(self.repo.workdir)
        if any(
            path.endswith("/")
            or flags & ~(simple | staged_only)
            or (flags & (simple & ~status.WT_DELETED) and (workdir / path).is_dir())
            for path, flags in changed.items()
        ):
            index.add_all()
            for path, flags in self.repo.status(untracked_files="no").items():
                if flags & status.WT_DELETED:
                    index.remove(path)
            return False
        # Removals first: a file that became a directory (or the reverse) is a removal and
        # an addition, and the index never holds both at once.
        for path, flags in changed.items():
            if flags & status.WT_DELETED:
                index.remove(path)
        for path, flags in changed.items():
            if flags & simple and not flags & status.WT_DELETED:
                index.add(path)
        return True

    def touched_tree(self, paths: set[str]) -> pygit2.Oid | None:
        """The tree ``git add -A`` would stage in a worktree whose index matched it but for
        ``paths`` (what the worktree's watch saw written), worked out in memory: the
        index file is left as it was. Each path is taken as the full walk would take it
        (removed when gone and tracked; added when a file or symlink that is tracked or
        not ignored; a new directory's files that are not ignored added, walking that
        directory alone). What a gone directory held is in ``paths`` too (each deletion
        was an event). ``None`` for what only the walk gets right: a ``.gitignore``
        written (what is ignored changed everywhere), a nested repository or a path
        inside a tracked file or gitlink, a path that changed between file and
        directory, a file that cannot be read."""
        with translated("add --dry-run (written paths)"):
            if any(
                p in (".", ".gitignore") or p.startswith("../") or p.endswith("/.gitignore")
                for p in paths
            ):
                return None  # the worktree's own directory (its metadata), or what is ignored
            index = self.repo.index
            index.read(False)
            workdir = Path(self.repo.workdir)
            present = sorted(p for p in paths if os.path.lexists(workdir / p))
            gone = sorted(set(paths) - set(present))
            nested: dict[str, bool] = {}
            for path in paths:
                for i, c in enumerate(path):
                    if c != "/":
                        continue
                    above = path[:i]
                    if above not in nested:  # inside a tracked file or gitlink, or a repository
                        nested[above] = above in index or (workdir / above / ".git").exists()
                    if nested[above]:
                        return None
            # The directories a gone path was in: a present file at one of them replaced it.
            gone_in = {g[:i] for g in gone for i, c in enumerate(g) if c == "/"}
            files: list[str] = []
            for path in present:
                full = workdir / path
                if full.is_dir() and not full.is_symlink():
                    if path in index:
                        return None  # a tracked file (or gitlink) turned directory
                    try:
                        found = self._files_under(workdir, path)
                    except OSError:
                        return None  # gone or unreadable meanwhile: the walk decides
                    if found is None:
                        return None  # a nested repository
                    files += found
                elif path in gone_in:
                    return None  # a directory turned file
                elif full.is_symlink() or full.is_file():
                    files.append(path)
                elif path in index:
                    return None  # a tracked file turned FIFO, socket or device
                # A FIFO, socket or device: git (and its walk) never stage those, and
                # reading a FIFO to hash it would wait for a writer.
            try:
                # Removals first: a tracked file gone (a file may take a gone one's place).
                for path in gone:
                    if path in index:
                        index.remove(path)
                for path in dict.fromkeys(files):
                    if path in index or not self.repo.path_is_ignored(path):
                        index.add(path)
            except (pygit2.GitError, OSError):
                # A file libgit2 will not stage (one that vanished or became unreadable
                # meanwhile): the walk decides.
                return None
            else:
                tree: pygit2.Oid = index.write_tree()
                return tree
            finally:
                index.read(True)  # what was staged in memory is dropped

    def _files_under(self, workdir: Path, top: str) -> list[str] | None:
        """The files and symlinks under the directory ``top`` that ``add -A`` would add,
        its ignored directories skipped; ``None`` when it holds a nested repository."""
        if self.repo.path_is_ignored(f"{top}/"):
            return []
        found: list[str] = []
        stack = [top]
        while stack:
            current = stack.pop()
            with os.scandir(workdir / current) as entries:
                for entry in entries:
                    rel = f"{current}/{entry.name}"
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name == ".git":
                            return None
                        if not self.repo.path_is_ignored(f"{rel}/"):
                            stack.append(rel)
                    elif entry.name == ".git":
                        return None  # a worktree or submodule's .git file
                    elif entry.is_symlink() or entry.is_file(follow_symlinks=False):
                        found.append(rel)  # not a FIFO, socket or device (never staged)
        return found

    def tree_paths(self, commit: str, keep: Callable[[str], bool] | None = None) -> frozenset[str]:
        """The paths in ``commit``'s tree (files, symlinks, submodules) that ``keep``
        accepts (default: all), as ``git ls-files`` lists them in a checkout of it.
        Listed from the previous listing with the same ``keep`` and a tree diff (unchanged
        subtrees are skipped by id), so a listing costs what changed, ``keep`` included."""
        with translated(f"ls-tree -r {commit[:12]}"):
            tree = self.repo[pygit2.Oid(hex=commit)].peel(pygit2.Tree)
            listed = self._listed.get(keep)
            if listed is not None and listed[0] == tree.id:
                return listed[1]
            if listed is None:
                diff = tree.diff_to_tree(swap=True)  # the empty tree to this one
                paths: set[str] = set()
            else:
                old = self.repo[listed[0]].peel(pygit2.Tree)
                diff = old.diff_to_tree(tree)
                paths = set(listed[1])
            added, deleted = pygit2.enums.DeltaStatus.ADDED, pygit2.enums.DeltaStatus.DELETED
            for delta in diff.deltas:
                if delta.status != added:
                    paths.discard(delta.old_file.path)
                if delta.status != deleted and (keep is None or keep(delta.new_file.path)):
                    paths.add(delta.new_file.path)
            result = frozenset(paths)
            self._listed[keep] = (tree.id, result)
            return result

    def head_files(self) -> TreeFiles | None:
        """HEAD's tree as :class:`TreeFiles` (``None`` before the first commit)."""
        head = self._head_commit()
        return TreeFiles(head.tree) if head is not None else None

    def head_tree(self) -> pygit2.Oid | None:
        head = self._head_commit()
        return head.tree_id if head is not None else None

    def _head_commit(self) -> pygit2.Commit | None:
        if self.repo.head_is_unborn:
            return None
        commit = self.repo[self.repo.head.target]
        assert isinstance(commit, pygit2.Commit)
        return commit

    def commit(self, tree: pygit2.Oid, message: str) -> str:
        """A commit of ``tree`` on HEAD's branch; libgit2 refuses it if the branch moved
        since HEAD was read (its tip must be the new commit's parent)."""
        with translated("commit"):
            parents = [] if self.repo.head_is_unborn else [self.repo.head.target]
            sig = self.signature()
            return str(
                self.repo.create_commit("HEAD", sig, sig, clean_message(message), tree, parents)
            )

    def squash(self, tree: pygit2.Oid, base: str, message: str) -> str | None:
        """``git reset --soft base`` then ``git commit`` of ``tree`` in one move of HEAD's
        branch: a commit of ``tree`` on ``base`` (None, and the branch put at ``base``,
        when ``tree`` is ``base``'s). The move is conditional on the branch's tip as read
        here (libgit2 updates a ref only from the value it loaded)."""
        with translated(f"reset --soft {base[:12]} && commit"):
            branch = self.repo.lookup_reference("HEAD").resolve()
            parent = self.repo.revparse_single(base).peel(pygit2.Commit)
            if tree == parent.tree_id:
                made, target, why = None, parent.id, f"reset: moving to {base}"
            else:
                sig = self.signature()
                text = clean_message(message)
                target = self.repo.create_commit(None, sig, sig, text, tree, [parent.id])
                made, why = str(target), f"commit: {text.partition(chr(10))[0]}"
            if branch.target != target:
                branch.set_target(target, why)
            return made

    def commit_tree(self, tree: pygit2.Oid, parent: str, message: str) -> str:
        """A commit object (no ref moved), like ``git commit-tree``."""
        with translated("commit-tree"):
            sig = self.signature()
            return str(
                self.repo.create_commit(None, sig, sig, clean_message(message), tree, [parent])
            )

    def create_annotated_ref(self, ref: str, name: str, target: str, message: str) -> None:
        """An annotated tag object named ``name`` on commit ``target``, stored at ``ref``
        (a full name, which need not be under ``refs/tags/``, so ``git tag`` and ``git
        describe`` never see it); fails if ``ref`` exists, as ``git tag -a`` would."""
        with translated(f"update-ref {ref}"):
            sig = self.signature()
            offset = sig.offset
            zone = f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
            raw = (
                f"object {target}\ntype commit\ntag {name}\n"
                f"tagger {sig.name} <{sig.email}> {sig.time} {zone}\n\n{clean_message(message)}"
            )
            tag = self.repo.odb.write(pygit2.enums.ObjectType.TAG, raw.encode("utf-8"))
            self.repo.references.create(ref, tag)

    def changed_between(self, old: str, new: str) -> list[str]:
        """Paths whose content differs between two commits (both sides of each change)."""
        with translated(f"diff --name-only {old[:12]} {new[:12]}"):
            paths: dict[str, None] = {}
            for delta in self.repo.diff(pygit2.Oid(hex=old), pygit2.Oid(hex=new)).deltas:
                paths[delta.old_file.path] = None
                paths[delta.new_file.path] = None
            return list(paths)

    def reset_soft(self, target: str) -> None:
        """``git reset --soft target``: move HEAD's branch, keep index and files."""
        with translated("reset --soft"):
            self.repo.reset(pygit2.Oid(hex=target), pygit2.enums.ResetMode.SOFT)
