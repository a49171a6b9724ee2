"""A run's git workspace: a worktree on branch ``autopack/<run_id>``, over the git CLI.

The user's checkout is never touched: the run works in ``git worktree add`` output under
the data dir. Commands run through :func:`~autopack.workspace.git_cli.run_git` (fixed
identity, no prompts or hooks, failures as :class:`~autopack.errors.WorkspaceError`);
what the executor does every phase (read HEAD and refs, the clean check, stage and commit,
savepoint tags, the squash's branch move) runs in-process through one long-lived libgit2
handle (:mod:`autopack.workspace.git_lib`), under the same repository lock and ref guard.
With :meth:`GitWorkspace.track_worktree` (the executor's), a clean check that follows a
walk which found or made the worktree clean is answered without walking again, as long as
an inotify watch (:mod:`autopack.workspace.watch`) saw nothing written since.

Refs it owns, all named after the run:

- ``refs/heads/autopack/<run_id>``: the run branch;
- ``refs/autopack/<run_id>/base``: the commit the run started from;
- ``refs/autopack/<run_id>/save/<n>``: savepoints, annotated tag objects named
  ``autopack/<run_id>/save/<n>``. A savepoint of a dirty worktree points to a snapshot
  commit (parent: HEAD) holding the uncommitted files too; the tag message records HEAD,
  so :meth:`GitWorkspace.reset_to` restores both.

Savepoints are not under ``refs/tags/``: there ``git describe --tags`` took them for
releases (a hatch-vcs or setuptools-scm project could no longer compute its version, in
the run's worktree and in the user's checkout after a merge) and ``git tag`` listed them
among the project's own. Savepoints an older Autopack made as tags are still read and
deleted (:data:`~autopack.workspace.git_cli.SAVEPOINT_NAMESPACES`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from autopack.domain.slugs import check_slug
from autopack.errors import ValidationError, WorkspaceError
from autopack.workspace.git_cli import (
    AUTOPACK_EMAIL,
    AUTOPACK_NAME,
    DEFAULT_TIMEOUT,
    SAVEPOINT_NAMESPACES,
    delete_refs,
    run_git,
    run_refs,
)
from autopack.workspace.repo_lock import repo_lock
from autopack.workspace.watch import WorktreeWatch

if TYPE_CHECKING:
    from autopack.workspace.git_lib import LibRepo, TreeFiles

_log = logging.getLogger(__name__)

__all__ = [
    "AUTOPACK_EMAIL",
    "AUTOPACK_NAME",
    "CommitInfo",
    "DiffStats",
    "FileStat",
    "GitWorkspace",
    "Savepoint",
    "StatusEntry",
    "run_git",
]

#: Git commands that write refs (the run branch, its tags, its base ref) or the repository's
#: shared metadata: run under the repository lock, and only while the run's lease holds.
REF_WRITERS = frozenset(
    {
        "am",
        "branch",
        "cherry-pick",
        "commit",
        "gc",
        "maintenance",
        "merge",
        "pack-refs",
        "rebase",
        "reset",
        "revert",
        "stash",
        "tag",
        "update-ref",
        "worktree",
    }
)

_HEAD_LINE = re.compile(r"^head: ([0-9a-f]{40,64})$", re.MULTILINE)

#: In-process commits and tags between two maintenance runs (:meth:`GitWorkspace.maintain`).
MAINTAIN_EVERY = 100


class Savepoint(BaseModel):
    """A savepoint tag: ``commit`` is what it restores, ``head`` the branch tip then."""

    model_config = ConfigDict(frozen=True)

    name: str
    number: int
    commit: str
    head: str


class CommitInfo(BaseModel):
    """One commit on the run branch."""

    model_config = ConfigDict(frozen=True)

    sha: str
    subject: str
    author: str
    date: str


class StatusEntry(BaseModel):
    """One line of ``git status``: ``code`` is git's two-letter XY code (``??`` untracked)."""

    model_config = ConfigDict(frozen=True)

    code: str
    path: str


class FileStat(BaseModel):
    """Lines added and removed in one file (binary files count none)."""

    model_config = ConfigDict(frozen=True)

    path: str
    added: int
    removed: int
    binary: bool = False


class DiffStats(BaseModel):
    """Totals of a diff against ``base``, and the per-file numbers."""

    model_config = ConfigDict(frozen=True)

    base: str
    files_changed: int
    insertions: int
    deletions: int
    files: tuple[FileStat, ...] = ()


def _check_run_id(run_id: str) -> str:
    try:
        return check_slug(run_id)
    except ValueError as exc:
        raise ValidationError(str(exc), field="run_id") from exc


class GitWorkspace:
    """A git working tree Autopack edits: a run's worktree, or a checkout it was pointed at.

    ``run_id`` names the branch, base ref and savepoint tags.
    """

    def __init__(
        self,
        path: Path,
        *,
        run_id: str,
        timeout: float = DEFAULT_TIMEOUT,
        common_dir: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.run_id = _check_run_id(run_id)
        self.timeout = timeout
        self._common = common_dir
        #: Called before every ref-writing command, under the repository lock; raising
        #: stops the command. The executor sets it to its lease check, so an executor that
        #: lost its run never moves the run's branch again.
        self.ref_guard: Callable[[], None] | None = None
        self._lib: LibRepo | None = None
        #: The next savepoint number, once known: savepoint tags are only made here, so
        #: counting on from the first listing keeps a savepoint O(1) in the run's length.
        self._next_savepoint: int | None = None
        #: Commits and tags written in-process since the last :meth:`maintain`.
        self._written = 0
        #: How many times :meth:`maintain` asked git to tidy up (tests read it).
        self.maintenance_runs = 0
        #: Of those, how many git refused (logged; the write before it stands).
        self.maintenance_failures = 0
        #: The inotify watch of :meth:`track_worktree` (``None``: every clean check walks).
        self._watch: WorktreeWatch | None = None
        #: ``(HEAD, index stamp)`` when a status walk last found the worktree clean, or
        #: made it so (a full ``add -A`` and commit, or a squash that found it still
        #: HEAD's tree), with the watch settled before that walk: while HEAD, the index
        #: and the watch say nothing changed since, the worktree is still clean
        #: (:meth:`_known_clean`).
        self._clean: tuple[str, tuple[int, int, int] | None] | None = None
        #: The index stamp at which the index held the worktree but for the paths the
        #: watch names since it was last settled: set by a walk that found or made the
        #: worktree clean, carried over the workspace's own path commits, lost to any
        #: other index write. While it holds, the squash tells whether the worktree is
        #: still clean from those paths, not from a walk.
        self._synced: tuple[int, int, int] | None = None

    @property
    def branch_name(self) -> str:
        """``autopack/<run_id>``."""
        return f"autopack/{self.run_id}"

    @property
    def base_ref(self) -> str:
        """The ref that records the commit the run started from."""
        return f"refs/autopack/{self.run_id}/base"

    @property
    def savepoint_prefix(self) -> str:
        """Savepoints are named this prefix plus a number; the ref is ``refs/`` + name
        (``refs/tags/`` + name for a legacy one)."""
        return f"autopack/{self.run_id}/save/"

    def _savepoint_refs(self) -> list[str]:
        """Full names of this run's savepoint refs, both namespaces."""
        return [
            ref
            for namespace in SAVEPOINT_NAMESPACES
            for ref in self.lib.ref_names(f"{namespace}{self.savepoint_prefix}")
        ]

    @classmethod
    def create(
        cls,
        repo: Path,
        run_id: str,
        worktrees_dir: Path,
        base_ref: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> GitWorkspace:
        """The run's worktree at ``worktrees_dir/<run_id>`` on ``autopack/<run_id>``.

        Creates branch and worktree from ``base_ref`` (default: the repo's HEAD) without
        changing the repo's checkout. Called again for the same run it returns the existing
        worktree (resume), recreating it from the branch if only the directory was lost.
        """
        run_id = _check_run_id(run_id)
        repo = Path(repo).resolve()
        common = cls._common_dir(repo)
        path = Path(worktrees_dir).resolve() / run_id
        ws = cls(path, run_id=run_id, timeout=timeout, common_dir=common)
        if path.exists():
            ours = (path / ".git").exists() and cls._common_dir(path) == common
            if ours and ws.current_branch() == ws.branch_name:
                return ws
            raise WorkspaceError(
                f"{path} exists but is not the worktree of run {run_id!r} in {repo}",
                path=str(path),
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        # Worktree metadata and the new refs are written under the repository lock: a
        # concurrent run's `worktree prune` must not see this worktree half-made.
        with repo_lock(common):
            run_git(repo, "worktree", "prune", timeout=timeout)
            branch_ref = f"refs/heads/{ws.branch_name}"
            exists = run_git(repo, "show-ref", "--verify", "--quiet", branch_ref, check=False)
            if exists.returncode == 0:
                run_git(repo, "worktree", "add", str(path), ws.branch_name, timeout=timeout)
                return ws
            base = run_git(
                repo,
                "rev-parse",
                "--verify",
                "--quiet",
                f"{base_ref or 'HEAD'}^{{commit}}",
                check=False,
            )
            if base.returncode != 0:
                raise WorkspaceError(
                    f"base ref {base_ref or 'HEAD'!r} is not a commit in {repo}"
                    + ("" if base_ref else " (does the repository have a commit yet?)"),
                    command=base.args,
                    stderr=base.stderr.strip(),
                )
            sha = base.stdout.strip()
            run_git(repo, "worktree", "add", "-b", ws.branch_name, str(path), sha, timeout=timeout)
            run_git(repo, "update-ref", ws.base_ref, sha, timeout=timeout)
            return ws

    @classmethod
    def open(cls, path: Path, *, run_id: str = "apply") -> GitWorkspace:
        """An existing git working tree at ``path`` (``WorkspaceError`` if it is not one)."""
        path = Path(path).resolve()
        inside = run_git(path, "rev-parse", "--is-inside-work-tree", check=False)
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            raise WorkspaceError(
                f"{path} is not inside a git working tree",
                command=inside.args,
                stderr=inside.stderr.strip(),
            )
        return cls(path, run_id=run_id, common_dir=cls._common_dir(path))

    @staticmethod
    def _common_dir(path: Path) -> Path:
        out = run_git(path, "rev-parse", "--path-format=absolute", "--git-common-dir")
        return Path(out.stdout.strip()).resolve()

    def git(
        self, *args: str, input_text: str | None = None, env: dict[str, str] | None = None
    ) -> str:
        """Run git in the workspace and return its stdout. Ref-writing commands
        (:data:`REF_WRITERS`) hold the repository lock and pass :attr:`ref_guard` first."""
        if not args or args[0] not in REF_WRITERS:
            return run_git(
                self.path, *args, input_text=input_text, env=env, timeout=self.timeout
            ).stdout
        with repo_lock(self.common_dir):
            if self.ref_guard is not None:
                self.ref_guard()
            return run_git(
                self.path, *args, input_text=input_text, env=env, timeout=self.timeout
            ).stdout

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The repository lock and the ref guard, for a ref write made in-process."""
        with repo_lock(self.common_dir):
            if self.ref_guard is not None:
                self.ref_guard()
            yield

    @property
    def lib(self) -> LibRepo:
        """The in-process git handle on this working tree (opened once, kept)."""
        if self._lib is None:
            # Imported on first use: pygit2 takes tens of milliseconds to import, which a
            # command that never touches git in-process (a dry-run apply) need not pay.
            from autopack.workspace.git_lib import LibRepo

            self._lib = LibRepo(self.path)
        return self._lib

    @property
    def common_dir(self) -> Path:
        """Git's common directory (the ``.git`` that the run's worktree shares)."""
        if self._common is None:
            self._common = self._common_dir(self.path)
        return self._common

    def toplevel(self) -> Path:
        """The root of the working tree (``path`` may be a directory inside it)."""
        return Path(self.git("rev-parse", "--show-toplevel").strip())

    def head(self) -> str:
        """The sha of HEAD."""
        return self.lib.head()

    def current_branch(self) -> str | None:
        """The checked-out branch, or ``None`` on a detached HEAD."""
        done = run_git(self.path, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return (done.stdout.strip() or None) if done.returncode == 0 else None

    def base_commit(self) -> str | None:
        """The commit the run started from, if this workspace was made by :meth:`create`."""
        return self.lib.ref_target(self.base_ref)

    def ref_target(self, ref: str) -> str | None:
        """The commit a full ref name (``refs/...``) points to, or ``None`` if it is absent."""
        return self.lib.ref_target(ref)

    def committed_files(self) -> TreeFiles | None:
        """What HEAD's commit holds, read like a directory: what a phase's squash commits
        (``None`` before the first commit)."""
        return self.lib.head_files()

    def head_subject(self) -> str | None:
        """The subject of HEAD's commit, ``None`` when HEAD is the run's base (no commit of
        the run on top)."""
        return self.lib.head_subject(self.base_commit())

    def status(self) -> list[StatusEntry]:
        """Changed and untracked files (ignored ones excluded), relative to :meth:`toplevel`."""
        out = self.git("status", "--porcelain=v1", "-z", "--untracked-files=all")
        entries: list[StatusEntry] = []
        fields = out.split("\0")
        i = 0
        while i < len(fields):
            item = fields[i]
            i += 1
            if len(item) < 4:
                continue
            code, path = item[:2], item[3:]
            if code[0] in "RC":
                i += 1  # the rename's source path follows
            entries.append(StatusEntry(code=code, path=path))
        return entries

    def track_worktree(self) -> bool:
        """Watch the worktree (:mod:`autopack.workspace.watch`) so that a clean check
        after a walk that found or made it clean, with nothing written since, needs no
        walk of its own: the savepoint right after the previous phase's squash, or the
        repository map's file list. Returns whether the watch is on (Linux, within the
        kernel's limits); without it every check walks. :meth:`close` stops it."""
        if self._watch is None:
            self._watch = WorktreeWatch.start(self.path)
        return self._watch is not None

    def close(self) -> None:
        """Stop watching the worktree (the workspace stays usable, walking every time)."""
        if self._watch is not None:
            self._watch.close()
        self._watch = self._clean = self._synced = None

    def _index_stamp(self) -> tuple[int, int, int] | None:
        """The index file's size, modification time and inode: a git command that
        changed the index (``git add``, ``reset``) without writing a file changed these."""
        try:
            st = (Path(self.lib.repo.path) / "index").stat()
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns, st.st_ino

    def _walk_starts(self) -> None:
        """Before a status walk: forget what an earlier walk found; from here on the
        watch reports any write, so a clean result of this walk can be kept."""
        self._clean = self._synced = None
        if self._watch is not None:
            self._watch.settle()

    def _walk_found_clean(self) -> None:
        """After a walk that found (or a commit that made) the worktree clean."""
        if self._watch is not None and not self.lib.repo.head_is_unborn:
            stamp = self._index_stamp()
            self._clean, self._synced = (self.lib.head(), stamp), stamp

    def _written_since_synced(self) -> set[str] | None:
        """The paths written in the worktree since the index last held it whole (the
        watch's epoch, taken and begun anew), or ``None`` when that is not known: no
        watch, no walk that found the worktree clean since, an index written by anyone
        but this workspace's own path commits, or a watch that cannot name them."""
        if self._watch is None or self._synced is None or self._synced != self._index_stamp():
            return None
        return self._watch.take_touched()

    def _known_clean(self) -> bool:
        """Clean without a walk: a walk since the watch settled found it clean, and since
        then nothing wrote in the worktree (the watch), HEAD did not move and the index
        was not rewritten. Anything else (a file dropped in by anyone, a commit, a reset)
        and the caller walks."""
        return (
            self._clean is not None
            and self._watch is not None
            and self._watch.undisturbed()
            and not self.lib.repo.head_is_unborn
            and self._clean == (self.lib.head(), self._index_stamp())
        )

    def is_clean(self) -> bool:
        """No changed or untracked files (ignored files do not count).

        One status walk of the worktree, unless :meth:`track_worktree`'s watch proves
        that nothing changed since a walk that found or made it clean."""
        if self._known_clean():
            return True
        self._walk_starts()
        clean = not self.lib.changed_paths()
        if clean:
            self._walk_found_clean()
        return clean

    def worktree_files(self, keep: Callable[[str], bool] | None = None) -> frozenset[str] | None:
        """The worktree's files as ``git ls-files --cached --others --exclude-standard``
        lists them (those ``keep`` accepts), when that is known without a walk or a git
        process: the worktree is known clean (:meth:`is_clean`), so they are HEAD's tree's
        paths, listed from the previous listing and a tree diff. ``None`` when not known
        (the caller asks git). Pass the same ``keep`` each time: the listing is kept per
        filter, so what is unchanged is not filtered again."""
        if not self._known_clean() or self._clean is None:
            return None
        return self.lib.tree_paths(self._clean[0], keep)

    def commit(self, message: str, *, paths: list[str] | None = None) -> str | None:
        """Commit changes (only ``paths`` when given); the new sha, or ``None`` if none.

        Paths that .gitignore excludes are left out rather than failing the commit.
        Staged and committed in-process unless the repository configures a filter driver
        (Git LFS and the like), which only the git command line runs.
        """
        if not self.lib.has_filter_drivers():
            if paths is not None:
                paths = [p for p in paths if not self.lib.is_ignored(p)]
                if not paths:
                    return None
            everything = paths is None
            if everything:
                self._walk_starts()
            # Staging some paths from the worktree keeps the index in step with it for
            # those paths, and leaves the others as they were.
            stamp = self._index_stamp()
            synced = not everything and stamp is not None and self._synced == stamp
            tree = self.lib.stage(paths)
            if synced:
                self._synced = self._index_stamp()
            # Everything the walk named staged, and the staged tree committed (or HEAD's
            # already): the worktree is clean at the new HEAD.
            clean_after = everything and self.lib.staged_exactly
            if tree == self.lib.head_tree():
                if clean_after:
                    self._walk_found_clean()
                return None
            with self._writing():
                sha = self.lib.commit(tree, message)
            if clean_after:
                self._walk_found_clean()
            self._wrote()
            return sha
        if paths is not None:
            ignored = (
                run_git(
                    self.path, "check-ignore", "--no-index", "--", *paths, check=False
                ).stdout.splitlines()
                if paths
                else []
            )
            paths = [p for p in paths if p not in set(ignored)]
            if not paths:
                return None
        spec = ["--", *paths] if paths is not None else []
        self.git("add", "-A", *spec)
        staged = run_git(self.path, "diff", "--cached", "--quiet", *spec, check=False)
        if staged.returncode == 0:
            return None
        self.git("commit", "--no-verify", "--quiet", "-m", message, *spec)
        return self.head()

    def squash(self, base: str, message: str) -> str | None:
        """The commits on top of ``base`` as one commit on ``base`` with HEAD's tree (the
        new sha; ``None``, the branch put at ``base``, when that tree is ``base``'s): one
        move of the branch, from the tip read here.

        HEAD's tree is what the attempts committed (the Builder's edits by path, and the
        hardening fixes), which is what the Auditor read as ``diff(base)``. Nothing else
        in the worktree is swept in: a file the project's tests wrote, or a person
        dropped in, stays uncommitted in the worktree, so no unreviewed line reaches the
        branch through the squash.

        The squash changes neither the worktree nor the index, so it is clean afterwards
        exactly when it was before. That is known without a walk when the watch names
        every path written since the index last held the worktree and, those paths taken
        as ``git add -A`` would take them, the tree is still HEAD's; otherwise the next
        clean check walks."""
        tree = self.lib.head_tree()
        if tree is None:
            raise WorkspaceError(f"cannot squash onto {base}: the branch has no commit")
        written = self._written_since_synced()
        unchanged = (
            written is not None
            and not self.lib.has_filter_drivers()
            and self.lib.touched_tree(written) == tree
        )
        with self._writing():
            sha = self.lib.squash(tree, base, message)
        if unchanged:
            self._walk_found_clean()
        else:
            # The paths the watch named were taken, and some of them differ (or only a
            # walk could tell): nothing is known about the worktree until the next walk.
            self._clean = self._synced = None
        self._wrote()
        return sha

    def savepoint(self) -> str:
        """Save the current state, uncommitted files included; returns the savepoint's name."""
        if self._next_savepoint is None:
            taken = [
                int(suffix)
                for ref in self._savepoint_refs()
                if (suffix := ref.rpartition("/")[2]).isdigit()
            ]
            self._next_savepoint = max(taken, default=0) + 1
        number = self._next_savepoint
        head = self.head()
        target = head
        if not self.is_clean():
            with tempfile.TemporaryDirectory(prefix="autopack-index-") as tmp:
                # A private index, so the snapshot never disturbs the real one.
                env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
                self.git("read-tree", "HEAD", env=env)
                self.git("add", "-A", env=env)
                tree = self.git("write-tree", env=env).strip()
            target = self.git(
                "commit-tree",
                tree,
                "-p",
                head,
                "-m",
                f"autopack savepoint {number} (uncommitted changes)",
            ).strip()
        name = f"{self.savepoint_prefix}{number}"
        with self._writing():
            self.lib.create_annotated_ref(
                f"refs/{name}", name, target, f"autopack savepoint {number}\n\nhead: {head}"
            )
        self._next_savepoint = number + 1
        self._wrote()
        return name

    def _wrote(self) -> None:
        self._written += 1
        if self._written >= MAINTAIN_EVERY:
            self.maintain()

    def maintain(self) -> None:
        """``git maintenance run --auto`` with the ``loose-objects`` and ``gc`` tasks: what
        keeps a repository tidy when ``git commit`` (which runs ``gc --auto``) is not the
        one writing. With 100 or more loose objects (``maintenance.loose-objects.auto``)
        they are packed into a small pack, and the loose copies an earlier run packed are
        deleted; the ``gc`` task runs only past git's own thresholds (``gc.auto`` loose
        objects, ``gc.autoPackLimit`` packs), so the packs do not pile up. A long run thus
        leaves at most about two batches of loose objects, not thousands. In the foreground
        (``gc.autoDetach=false``), under the repository lock and the ref guard like every
        ref write; the user's settings (``0`` turns either off) are respected."""
        self._written = 0
        self.maintenance_runs += 1
        try:
            self.git(
                "maintenance",
                "run",
                "--auto",
                "--task=loose-objects",
                "--task=gc",
                "--quiet",
                env={
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": "gc.autoDetach",
                    "GIT_CONFIG_VALUE_0": "false",
                },
            )
        except WorkspaceError as exc:
            # Housekeeping after a write that already landed: its failure (a bad setting
            # in the user's config, a full disk) is logged, never the write's failure.
            self.maintenance_failures += 1
            _log.warning("git maintenance failed in %s (the write stands): %s", self.path, exc)

    def get_savepoint(self, savepoint: str) -> Savepoint | None:
        """One savepoint by name or number (one ref read, however many the run has)."""
        name = savepoint if "/" in savepoint else f"{self.savepoint_prefix}{savepoint}"
        suffix = name.removeprefix(self.savepoint_prefix)
        found = None
        for namespace in SAVEPOINT_NAMESPACES if suffix.isdigit() else ():
            found = self.lib.annotated_ref(f"{namespace}{name}")
            if found is not None:
                break
        if found is None:
            return None
        commit, message = found
        head = _HEAD_LINE.search(message)
        return Savepoint(
            name=name, number=int(suffix), commit=commit, head=head.group(1) if head else commit
        )

    def changed_between(self, old: str, new: str) -> list[str]:
        """Paths that differ between two commits (an in-process tree diff)."""
        return self.lib.changed_between(old, new)

    def reset_soft(self, commit: str) -> None:
        """Move the branch to ``commit`` keeping index and files (``git reset --soft``)."""
        with self._writing():
            self.lib.reset_soft(commit)

    def list_savepoints(self) -> list[Savepoint]:
        """This run's savepoints, oldest first."""
        fmt = "%(refname)%00%(*objectname)%00%(contents)%00%00"
        out = self.git(
            "for-each-ref",
            f"--format={fmt}",
            *(f"{namespace}{self.savepoint_prefix}" for namespace in SAVEPOINT_NAMESPACES),
        )
        found: list[Savepoint] = []
        for record in out.split("\0\0"):
            parts = record.strip("\n").split("\0")
            if len(parts) < 3 or not parts[0]:
                continue
            ref, commit, contents = parts[0], parts[1], parts[2]
            name = ref.removeprefix("refs/tags/").removeprefix("refs/")
            suffix = name.removeprefix(self.savepoint_prefix)
            head = _HEAD_LINE.search(contents)
            if suffix.isdigit() and commit:
                found.append(
                    Savepoint(
                        name=name,
                        number=int(suffix),
                        commit=commit,
                        head=head.group(1) if head else commit,
                    )
                )
        return sorted(found, key=lambda s: s.number)

    def reset_to(self, savepoint: str) -> None:
        """Put branch, index and files back as they were at ``savepoint`` (name or number).

        Commits made since are dropped from the branch (the tags keep them reachable);
        untracked files created since are removed; ignored files are left alone.
        """
        match = self.get_savepoint(savepoint)
        if match is None:
            raise WorkspaceError(f"no savepoint {savepoint!r} for run {self.run_id!r}")
        self.git("reset", "--quiet", "--hard", match.head)
        self.git("clean", "-fdq")
        if match.commit != match.head:
            self.git("read-tree", "-u", "--reset", match.commit)
            self.git("reset", "--quiet", match.head)

    def diff(self, base: str, head: str = "HEAD") -> str:
        """``git diff base head``: what the Auditor and a reviewing person read. In-process
        (no git process per review) unless the repository configures a diff driver only
        the git command line runs."""
        patch = self.lib.patch(base, head)
        return self.git("diff", base, head) if patch is None else patch

    def diff_stats(self, base: str | None = None) -> DiffStats:
        """Lines added/removed in tracked files between ``base`` (default: the run's base,
        else HEAD) and the working tree, committed or not."""
        base = base or self.base_commit() or "HEAD"
        out = self.git("diff", "--numstat", "--no-renames", "-z", base, "--")
        files: list[FileStat] = []
        for record in out.split("\0"):
            cols = record.split("\t", 2)
            if len(cols) != 3:
                continue
            binary = cols[0] == "-"
            files.append(
                FileStat(
                    path=cols[2],
                    added=0 if binary else int(cols[0]),
                    removed=0 if binary else int(cols[1]),
                    binary=binary,
                )
            )
        return DiffStats(
            base=base,
            files_changed=len(files),
            insertions=sum(f.added for f in files),
            deletions=sum(f.removed for f in files),
            files=tuple(files),
        )

    def list_commits(self, base: str | None = None, *, limit: int = 500) -> list[CommitInfo]:
        """Commits on HEAD since ``base`` (default: the run's base), newest first."""
        base = base or self.base_commit()
        rev = f"{base}..HEAD" if base else "HEAD"
        out = self.git("log", f"--max-count={limit}", "--format=%H%x00%s%x00%an%x00%aI", rev)
        commits = []
        for line in out.splitlines():
            sha, subject, author, date = [*line.split("\0"), "", "", ""][:4]
            if sha:
                commits.append(CommitInfo(sha=sha, subject=subject, author=author, date=date))
        return commits

    def cleanup(self, *, delete_branch: bool = False) -> None:
        """Remove the worktree; with ``delete_branch`` also its branch, base ref and
        savepoints."""
        common = self._common or (self._common_dir(self.path) if self.path.exists() else None)
        if common is None:
            raise WorkspaceError(f"{self.path} does not exist and its repository is unknown")
        repo = common.parent if common.name == ".git" else common
        with repo_lock(common):
            if self.path.exists():
                run_git(repo, "worktree", "remove", "--force", str(self.path), timeout=self.timeout)
            run_git(repo, "worktree", "prune", timeout=self.timeout)
            if delete_branch:
                run_git(repo, "branch", "-D", self.branch_name, check=False)
                delete_refs(repo, run_refs(repo, self.run_id))
                self._next_savepoint = None
