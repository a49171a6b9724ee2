"""Deterministic failure hardening: known failure patterns, matched before any Doctor call.

Each pattern is one small class: ``detect(output, context)`` finds its signature in a
failed command's output, ``mitigate(finding, context)`` says what was done (if anything),
what the next Builder attempt should do, and whether the cause is fixed. Patterns run in
``priority`` order, causes before symptoms: a syntax error is reported before the
"no tests collected" it caused. Adding a pattern is one ``@register``-ed class; the
built-in ones are in :mod:`autopack.verify.failure_patterns`.

Mitigations never touch the network and never install packages. The only change one makes
on its own is marking a script inside the worktree executable (``permission_error``); a
missing dependency is a suggestion to declare it, because installing from a registry in
the middle of a phase would make results depend on the registry, and the plan's install
step is where dependencies come from.

A change to the worktree is also described as data (:class:`WorktreeFix`, on
``Mitigation.worktree_fixes``): the failed attempt's worktree is reset before the next
attempt, which would undo the fix, so the executor applies the fixes again after that reset
(:func:`apply_worktree_fixes`) and commits them on their own. A fix is more than hint text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class FailureContext:
    """What the patterns may consult besides the output. All optional."""

    worktree: Path | None = None
    command: str = ""
    allowed_paths: Sequence[str] = ()
    toolchain: str | None = None


@dataclass(frozen=True)
class Finding:
    """A detector's hit: the matching text and the values it pulled out."""

    evidence: str
    data: dict[str, str] = field(default_factory=dict)


class WorktreeFix(BaseModel):
    """A change a mitigation made to the worktree, described so it can be made again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="Relative to the worktree, '/'-separated.")
    action: Literal["make_executable"]

    def describe(self) -> str:
        return f"chmod +x {self.path}"


def apply_worktree_fixes(worktree: Path, fixes: Sequence[WorktreeFix]) -> list[WorktreeFix]:
    """Make ``fixes`` in ``worktree`` again; returns those that changed something (a fix
    whose file is absent, outside the worktree or already fixed changes nothing)."""
    root = worktree.resolve()
    changed: list[WorktreeFix] = []
    for fix in fixes:
        target = (root / fix.path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            continue
        mode = target.stat().st_mode
        wanted = mode | ((mode & 0o444) >> 2)  # execute where readable
        if wanted != mode:
            target.chmod(wanted)
            changed.append(fix)
    return changed


class Mitigation(BaseModel):
    """What a pattern did and advises. ``fixed`` means the cause is gone: run again as is."""

    model_config = ConfigDict(extra="forbid")

    pattern: str
    evidence: str
    actions_taken: list[str] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list)
    fixed: bool = False
    retry_cwd: str | None = Field(
        default=None, description="Run the command again in this worktree subdirectory."
    )
    worktree_fixes: list[WorktreeFix] = Field(
        default_factory=list,
        description="What the mitigation changed in the worktree, to make again after a reset.",
    )


class FailurePattern(ABC):
    """One known failure: a detector over command output and its mitigation."""

    name: ClassVar[str]
    priority: ClassVar[int]

    @abstractmethod
    def detect(self, output: str, context: FailureContext) -> Finding | None: ...

    @abstractmethod
    def mitigate(self, finding: Finding, context: FailureContext) -> Mitigation: ...

    def _result(
        self,
        finding: Finding,
        *suggestions: str,
        actions: Sequence[str] = (),
        fixed: bool = False,
        retry_cwd: str | None = None,
        worktree_fixes: Sequence[WorktreeFix] = (),
    ) -> Mitigation:
        """A :class:`Mitigation` from this pattern, for ``finding``."""
        return Mitigation(
            pattern=self.name,
            evidence=finding.evidence[:500],
            actions_taken=list(actions),
            suggestions=list(suggestions),
            fixed=fixed,
            retry_cwd=retry_cwd,
            worktree_fixes=list(worktree_fixes),
        )


REGISTRY: list[FailurePattern] = []
P = TypeVar("P", bound=type[FailurePattern])


def register(cls: P) -> P:
    """Class decorator: add a pattern to :data:`REGISTRY`, kept in priority order."""
    REGISTRY.append(cls())
    REGISTRY.sort(key=lambda p: p.priority)
    return cls


def registered() -> list[FailurePattern]:
    """The registry, with the built-in patterns loaded."""
    # Imported here: the built-ins subclass FailurePattern from this module.
    from autopack.verify import failure_patterns  # noqa: F401

    return REGISTRY


@dataclass(frozen=True)
class PatternMatch:
    pattern: FailurePattern
    finding: Finding


def match_failure(
    output: str, context: FailureContext, patterns: Sequence[FailurePattern] | None = None
) -> list[PatternMatch]:
    """Every pattern whose detector fires on ``output``, in priority order. No side effects."""
    ordered = sorted(registered() if patterns is None else patterns, key=lambda p: p.priority)
    return [PatternMatch(p, f) for p in ordered if (f := p.detect(output, context))]


def harden(
    output: str, context: FailureContext, patterns: Sequence[FailurePattern] | None = None
) -> list[Mitigation]:
    """Match and mitigate, in priority order. The executor calls this before the Doctor;
    an empty list means no known pattern applies."""
    return [
        m.pattern.mitigate(m.finding, context) for m in match_failure(output, context, patterns)
    ]
