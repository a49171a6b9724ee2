"""Preflight: what is likely wrong with a plan against a repository, before anything runs.

Preflight never raises; it returns findings a person should read. Each has a stable
``code``. Findings whose code is in :data:`ERROR_CODES` are errors: a run of that plan
cannot do what it asks, so ``autopack run`` (and ``autopack plan --strict``) refuse it.

``no_phases``
    the plan has no phases: a run of it would "succeed" having done nothing (error).

``path_not_creatable``
    an allowed path that neither exists nor can be created (its nearest existing ancestor
    is a file, or lies outside the repository).
``protected_path_in_scope``
    an allowed path or deliverable that is protected (``.git/``, ``.env``, ``.env.*``,
    ``*.db``, ``*.sqlite*``, ``.autonomous_runs/`` and the plan's own lists); governed
    apply will refuse every edit there.
``deliverable_outside_scope``
    a deliverable that no allowed path covers, so the Builder cannot create it.
``no_test_command``
    no phase test command, no run-level ``verify``, no recognizable project files and no
    toolchain adapter that finds a test command, so phases cannot be verified.
``not_a_git_repository``
    the repository is not a git checkout, so no worktree can be made from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autopack.domain.plan import PhaseSpec, RunSpec
from autopack.errors import AutopackError
from autopack.toolchains.detect import detect_best
from autopack.workspace.git_cli import is_bare_repository, is_repository
from autopack.workspace.globs import glob_match, glob_match_or_parent

#: Protected whatever the plan says; mirrors governed apply's defaults.
DEFAULT_PROTECTED_PATHS: tuple[str, ...] = (
    ".git/",
    ".env",
    ".env.*",
    "*.db",
    "*.sqlite*",
    ".autonomous_runs/",
)
#: Files whose presence means some toolchain can find and run the project's tests.
PROJECT_MARKERS: tuple[str, ...] = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements*.txt",
    "package.json",
    "go.mod",
    "Cargo.toml",
    "pom.xml",
    "build.gradle*",
)
_TEST_DIRS = ("tests", "test")
_GLOB_CHARS = "*?["


#: Findings that make a plan unrunnable; the others are warnings.
ERROR_CODES = frozenset(
    {"no_phases", "path_not_creatable", "protected_path_in_scope", "deliverable_outside_scope"}
)


@dataclass(frozen=True)
class PreflightWarning:
    """One thing preflight found; ``phase_id`` is None for run-level warnings."""

    code: str
    message: str
    phase_id: str | None = None

    @property
    def is_error(self) -> bool:
        """True when a run of the plan cannot do what it asks (see ERROR_CODES)."""
        return self.code in ERROR_CODES


def plan_errors(findings: Iterable[PreflightWarning]) -> list[PreflightWarning]:
    """The findings that are errors, in order."""
    return [f for f in findings if f.is_error]


def preflight(spec: RunSpec, repo: Path) -> list[PreflightWarning]:
    """Check ``spec`` against the repository at ``repo``; return warnings in plan order."""
    root = repo.resolve()
    warnings: list[PreflightWarning] = []
    if not spec.phases:
        warnings.append(
            PreflightWarning(
                "no_phases",
                "the plan has no phases, so a run would do nothing; add at least one phase "
                "(see docs/plans.md)",
            )
        )
    # A bare repository has no files to look at: whether a path can be created and what
    # the project's tests are are met by the run, in its worktree.
    files = not is_bare_repository(root)
    if files and not is_repository(root):
        warnings.append(
            PreflightWarning(
                "not_a_git_repository",
                f"{root} is not the top of a git repository (it has no .git); each run "
                "works in a git worktree of the target repository, so run `git init` and "
                "commit there first",
            )
        )
    for phase in spec.ordered_phases():
        protected = [*DEFAULT_PROTECTED_PATHS, *spec.protected_paths, *phase.scope.protected_paths]
        if files:
            warnings.extend(_check_paths(phase, root))
        warnings.extend(_check_protected(phase, protected))
        warnings.extend(_check_deliverables(phase))
    warning = _check_tests(spec, root) if files else None
    if warning is not None:
        warnings.append(warning)
    return warnings


def normalize_path(path: str) -> str:
    """A plan path in one spelling: ``/`` separators, no leading ``./``."""
    text = path.strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text


def is_protected(path: str, patterns: Iterable[str]) -> bool:
    """Whether ``path`` (a file, or a directory ending in ``/``) is protected.

    A pattern ending in ``/`` protects that directory and everything below it; a pattern
    with a ``/`` matches the whole path; a pattern without one matches any path component
    (``.env`` protects ``config/.env``), with shell wildcards.
    """
    norm = normalize_path(path)
    parts = [p for p in norm.split("/") if p]
    for raw in patterns:
        pattern = normalize_path(raw)
        if not pattern:
            continue
        if pattern.endswith("/"):
            directory = pattern.rstrip("/")
            if norm.rstrip("/") == directory or norm.startswith(directory + "/"):
                return True
            if "/" not in directory and directory in parts:
                return True
        elif "/" in pattern:
            if glob_match_or_parent(norm.rstrip("/"), pattern):
                return True
        elif any(glob_match(part, pattern) for part in parts):
            return True
    return False


def covers(allowed: str, path: str) -> bool:
    """Whether the allowed path ``allowed`` includes ``path``.

    ``src/`` covers everything below ``src``; ``src/app.py`` covers that file; wildcards
    follow .gitignore rules (``src/*.py`` only files directly in ``src``, ``src/**`` all
    below); ``.`` or ``/`` on its own is the whole repository.
    """
    scope = normalize_path(allowed)
    target = normalize_path(path)
    if scope in ("", ".", "/"):
        return True
    if any(ch in scope for ch in _GLOB_CHARS):
        # As governed apply reads it: `*` stays in one directory, `**` crosses them.
        if scope.endswith("/"):
            return glob_match_or_parent(target.rstrip("/"), scope.rstrip("/"))
        return glob_match(target.rstrip("/"), scope)
    directory = scope.rstrip("/")
    return target == directory or target.startswith(directory + "/")


def _check_paths(phase: PhaseSpec, root: Path) -> Iterator[PreflightWarning]:
    for allowed in phase.scope.paths:
        problem = _creatability_problem(allowed, root)
        if problem:
            yield PreflightWarning(
                "path_not_creatable",
                f"allowed path {allowed!r} {problem}; fix the path in the phase's scope.paths",
                phase.phase_id,
            )


def _creatability_problem(allowed: str, root: Path) -> str | None:
    norm = normalize_path(allowed)
    if norm in ("", ".", "/"):
        return None
    if PurePosixPath(norm).is_absolute() or Path(norm).is_absolute():
        return "is absolute; allowed paths are relative to the repository"
    # A wildcard path is checked up to its first wildcard component.
    literal: list[str] = []
    for part in norm.rstrip("/").split("/"):
        if any(ch in part for ch in _GLOB_CHARS):
            break
        literal.append(part)
    if ".." in literal:
        return "uses '..'; allowed paths must stay inside the repository"
    target = root.joinpath(*literal) if literal else root
    if target.exists():
        resolved = target.resolve()
        if resolved != root and root not in resolved.parents:
            return "leads outside the repository through a symlink"
        if norm.endswith("/") and literal == norm.rstrip("/").split("/") and not target.is_dir():
            return "is written as a directory (ending in '/') but is a file"
        return None
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    resolved = ancestor.resolve()
    if resolved != root and root not in resolved.parents:
        return "would be created outside the repository (an ancestor is a symlink out of it)"
    if not ancestor.is_dir():
        return (
            f"cannot be created: {ancestor.relative_to(root).as_posix()!r} is a file, "
            "not a directory"
        )
    return None


def _check_protected(phase: PhaseSpec, patterns: list[str]) -> Iterator[PreflightWarning]:
    for allowed in phase.scope.paths:
        if is_protected(allowed, patterns):
            yield PreflightWarning(
                "protected_path_in_scope",
                f"allowed path {allowed!r} is protected, so every edit there will be "
                "refused; remove it from scope.paths or from the protected paths",
                phase.phase_id,
            )
    for deliverable in phase.scope.deliverables:
        path = deliverable.split("::", 1)[0]
        if is_protected(path, patterns):
            yield PreflightWarning(
                "protected_path_in_scope",
                f"deliverable {path!r} is protected, so the phase can never produce it; "
                "choose another path",
                phase.phase_id,
            )


def _check_deliverables(phase: PhaseSpec) -> Iterator[PreflightWarning]:
    if not phase.scope.paths:
        return
    for deliverable in phase.scope.deliverables:
        path = deliverable.split("::", 1)[0]
        if not any(covers(allowed, path) for allowed in phase.scope.paths):
            yield PreflightWarning(
                "deliverable_outside_scope",
                f"deliverable {path!r} is outside the allowed paths "
                f"({', '.join(phase.scope.paths)}); add it (or its directory, ending in "
                "'/') to scope.paths",
                phase.phase_id,
            )


def _check_tests(spec: RunSpec, root: Path) -> PreflightWarning | None:
    if spec.verify or not spec.phases:
        return None
    untested = [p.phase_id for p in spec.ordered_phases() if not p.scope.tests]
    if not untested or _has_project_markers(root):
        return None
    which = "any phase" if len(untested) == len(spec.phases) else ", ".join(untested)
    return PreflightWarning(
        "no_test_command",
        f"no test command for {which}: the plan sets no scope.tests or verify, and "
        f"{root} has no project files a toolchain recognizes ({', '.join(PROJECT_MARKERS)}, "
        "or a tests/ directory); set 'verify: <command>' on the run or scope.tests on "
        "each phase",
    )


def _has_project_markers(root: Path) -> bool:
    """Project files from :data:`PROJECT_MARKERS`, or a toolchain adapter that finds a test
    command (detection can also see weaker evidence, such as loose Python sources)."""
    if any((root / name).is_dir() for name in _TEST_DIRS):
        return True
    if any(next(root.glob(marker), None) is not None for marker in PROJECT_MARKERS):
        return True
    try:
        best = detect_best(root)
    except AutopackError:
        return False
    return best is not None and best.test_command is not None
