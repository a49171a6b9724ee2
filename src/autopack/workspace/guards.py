"""Guards: what governed apply refuses before any byte is written.

- The path stays inside the worktree: no absolute paths, no ``..``, no symlink that leads
  out, no editing through a symlink.
- The path is inside the phase's allowed paths: files, and directory prefixes ending in
  ``/`` (``\\`` and ``./`` are normalized). Globs follow .gitignore rules
  (:mod:`~autopack.workspace.globs`): ``src/*.py`` is the files directly in ``src``,
  ``src/**/*.py`` those at any depth.
- The path is not protected, unless the attempt was granted it by a governance request
  (``granted_paths``, :mod:`autopack.workspace.governance`). :data:`DEFAULT_PROTECTED`
  always applies; the project's
  list (``protected_paths`` in the repository's ``.autopack.yaml``, read by
  :func:`project_protected_paths`) and the run's and phase's lists add to it. Patterns
  follow .gitignore habits and compare case-insensitively (a case-insensitive file system
  would otherwise open ``.GIT/``): ``name/`` protects a directory of that name at any
  depth (``sub/dir/`` only that path), a pattern without ``/`` matches any path component
  (``*.db``, ``.env.*``), a pattern with ``/`` matches the path from the root, and a
  directory it matches protects everything below.
- Size caps: bytes per file, files per attempt.
- Net deletions: under ``deletion_notify_lines`` pass; up to ``deletion_approval_lines``
  pass with a notification; above that the attempt waits for a person's approval
  (``deletion_approved``). A savepoint precedes any net deletion above
  ``deletion_savepoint_lines``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from autopack.errors import ValidationError
from autopack.workspace.globs import glob_match, glob_match_or_parent, has_glob

if TYPE_CHECKING:
    from autopack.domain.plan import Scope

#: The repository's own Autopack settings, at its root. It holds the project's protected
#: list, so it is protected itself: an edit must not be able to lift its own guards.
PROJECT_FILE = ".autopack.yaml"
#: Larger than any settings file; a bigger one is refused rather than parsed.
_PROJECT_FILE_MAX_BYTES = 1_000_000

DEFAULT_PROTECTED: tuple[str, ...] = (
    ".git/",
    "/" + PROJECT_FILE,
    ".env",
    ".env.*",
    "*.db",
    "*.sqlite*",
    ".autonomous_runs/",
)
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ApplyPolicy(BaseModel):
    """The rules one apply runs under. ``allowed_paths=None`` allows the whole worktree."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_paths: tuple[str, ...] | None = None
    protected_paths: tuple[str, ...] = Field(
        default=(), description="Added to DEFAULT_PROTECTED, which always applies."
    )
    max_file_bytes: int = Field(default=2_000_000, ge=1)
    max_files_per_attempt: int = Field(default=50, ge=1)
    deletion_notify_lines: int = Field(default=100, ge=0)
    deletion_approval_lines: int = Field(default=200, ge=0)
    deletion_savepoint_lines: int = Field(default=50, ge=0)
    deletion_approved: bool = False
    granted_paths: tuple[str, ...] = Field(
        default=(),
        description="Exact relative paths this attempt may change although protected: "
        "governance requests that were approved (never a critical path).",
    )

    @classmethod
    def for_phase(
        cls,
        scope: Scope,
        *,
        run_protected: tuple[str, ...] | list[str] = (),
        project_protected: tuple[str, ...] | list[str] = (),
        deletion_approved: bool = False,
    ) -> ApplyPolicy:
        """The policy for a phase: its scope paths (none listed: the whole worktree) and
        every protected list that applies to it."""
        protected = (*project_protected, *run_protected, *scope.protected_paths)
        return cls(
            allowed_paths=tuple(scope.paths) or None,
            protected_paths=tuple(dict.fromkeys(protected)),
            deletion_approved=deletion_approved,
        )

    def all_protected(self) -> tuple[str, ...]:
        """The defaults plus this policy's own protected patterns."""
        return (*DEFAULT_PROTECTED, *self.protected_paths)


@dataclass(frozen=True)
class GuardViolation:
    """Why a guard refused; ``code`` is stable for programs, ``message`` for people."""

    code: str
    message: str


@dataclass(frozen=True)
class CheckedPath:
    """A path that passed every guard: relative (``/``) and absolute."""

    rel: str
    abs: Path


def normalize_path(raw: str) -> str | GuardViolation:
    """A relative ``/`` path without ``.`` parts, or why ``raw`` cannot be one."""
    path = raw.strip().replace("\\", "/")
    if not path or _CONTROL.search(path):
        return GuardViolation("invalid_path", f"{raw!r} is not a usable file path")
    if path.startswith(("/", "~")) or _DRIVE.match(path):
        return GuardViolation(
            "absolute_path", f"{raw!r} is absolute; paths are relative to the repository root"
        )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        return GuardViolation("path_traversal", f"{raw!r} contains '..'")
    if not parts:
        return GuardViolation("invalid_path", f"{raw!r} names no file")
    return "/".join(parts)


def protected_by(rel: str, patterns: tuple[str, ...] | list[str]) -> str | None:
    """The first pattern that protects ``rel`` (a normalized relative path), if any."""
    parts = rel.lower().split("/")
    for raw in patterns:
        pattern = raw.strip().replace("\\", "/").lower().removeprefix("./")
        if not pattern:
            continue
        body = pattern.rstrip("/")
        if "/" not in body:
            # Directory patterns match a directory component; plain ones any component.
            components = parts[:-1] if pattern.endswith("/") else parts
            if pattern.endswith("/") and body == ".git":
                components = parts  # a worktree's `.git` is a file
            if any(glob_match(part, body) for part in components):
                return raw
        elif glob_match_or_parent("/".join(parts), body.lstrip("/")):
            return raw
    return None


def in_scope(rel: str, allowed: tuple[str, ...] | None) -> bool:
    """Whether ``rel`` is inside the allowed paths (``None``: everything is)."""
    if allowed is None:
        return True
    for raw in allowed:
        entry = raw.strip().replace("\\", "/")
        is_dir = entry.endswith("/") or entry in ("", ".")
        norm = normalize_path(entry) if entry not in ("", ".", "./") else ""
        if isinstance(norm, GuardViolation):
            continue
        if norm == "" and is_dir:
            return True
        if is_dir and rel.startswith(norm + "/"):
            return True
        if rel == norm or (has_glob(norm) and _glob_in_scope(rel, norm, is_dir)):
            return True
    return False


def _glob_in_scope(rel: str, pattern: str, is_dir: bool) -> bool:
    """A glob entry: the file itself, or (``pkg*/``, ``src/**``) a directory it is in."""
    if is_dir:
        return glob_match_or_parent(rel.rsplit("/", 1)[0], pattern) if "/" in rel else False
    return glob_match(rel, pattern)


def project_protected_paths(root: Path) -> tuple[str, ...]:
    """The ``protected_paths`` list of ``root``'s ``.autopack.yaml`` (none: ``()``).

    The file is read, never written. A list that cannot be read is an error rather than
    no protection: a typo must not silently open the files it meant to close.
    """
    path = root / PROJECT_FILE
    if not path.is_file():
        return ()
    import yaml  # only a repository with .autopack.yaml pays for the YAML parser

    problem = f"{path}: protected_paths must be a list of path patterns (strings)"
    try:
        if path.stat().st_size > _PROJECT_FILE_MAX_BYTES:
            raise ValidationError(
                f"{path} is over {_PROJECT_FILE_MAX_BYTES} bytes; it is not read",
                field="protected_paths",
            )
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(
            f"{path} cannot be read ({exc}); fix it so its protected_paths apply",
            field="protected_paths",
        ) from exc
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise ValidationError(f"{path}: expected a mapping at the top", field="protected_paths")
    listed = data.get("protected_paths")
    if listed is None:
        return ()
    if not isinstance(listed, list) or not all(isinstance(p, str) and p.strip() for p in listed):
        raise ValidationError(problem, field="protected_paths")
    return tuple(p.strip() for p in listed)


def check_path(root: Path, raw: str, policy: ApplyPolicy) -> CheckedPath | GuardViolation:
    """Every path guard for one edit's path, ``root`` being the worktree."""
    rel = normalize_path(raw)
    if isinstance(rel, GuardViolation):
        return rel
    problem = _rules(rel, raw, policy)
    if problem:
        return problem
    real_root = root.resolve()
    current = root
    for part in PurePosixPath(rel).parts:
        current = current / part
        if current.is_symlink():
            target = current.resolve()
            if not target.is_relative_to(real_root):
                return GuardViolation(
                    "symlink_escape",
                    f"{raw!r} goes through the symlink "
                    f"{current.relative_to(root).as_posix()!r}, which "
                    "leads outside the repository",
                )
            if current == root / rel:
                return GuardViolation(
                    "symlink", f"{raw!r} is a symlink; edit the file it points to instead"
                )
    resolved = (root / rel).resolve()
    if not resolved.is_relative_to(real_root):
        return GuardViolation("symlink_escape", f"{raw!r} resolves outside the repository")
    real_rel = resolved.relative_to(real_root).as_posix()
    if real_rel != rel:
        problem = _rules(real_rel, raw, policy)
        if problem:
            return problem
    if resolved.is_dir():
        return GuardViolation("is_directory", f"{raw!r} is a directory")
    blocking = next((p for p in resolved.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        return GuardViolation(
            "invalid_path", f"{raw!r} needs {blocking.name!r} to be a directory, but it is a file"
        )
    return CheckedPath(rel=rel, abs=root / rel)


def _rules(rel: str, raw: str, policy: ApplyPolicy) -> GuardViolation | None:
    pattern = protected_by(rel, policy.all_protected())
    if pattern is not None and rel.lower() not in {g.lower() for g in policy.granted_paths}:
        return GuardViolation("protected_path", f"{raw!r} is protected (pattern {pattern!r})")
    if not in_scope(rel, policy.allowed_paths):
        allowed = ", ".join(policy.allowed_paths or ())
        return GuardViolation(
            "outside_scope", f"{raw!r} is outside the allowed paths ({allowed or 'none'})"
        )
    return None


def looks_binary(data: bytes) -> bool:
    """A NUL byte early in the file: git's own test for binary content."""
    return b"\x00" in data[:8192]


DeletionLevel = Literal["ok", "notify", "approval_required"]


class DeletionVerdict(BaseModel):
    """What the net deletion of an attempt calls for."""

    model_config = ConfigDict(frozen=True)

    net_deleted: int
    level: DeletionLevel
    savepoint_required: bool


def assess_deletions(net_deleted: int, policy: ApplyPolicy) -> DeletionVerdict:
    """Classify an attempt's net deleted lines against the policy's thresholds."""
    if net_deleted > policy.deletion_approval_lines and not policy.deletion_approved:
        level: DeletionLevel = "approval_required"
    elif net_deleted >= policy.deletion_notify_lines and net_deleted > 0:
        level = "notify"
    else:
        level = "ok"
    return DeletionVerdict(
        net_deleted=net_deleted,
        level=level,
        savepoint_required=net_deleted > policy.deletion_savepoint_lines,
    )
