"""The result of a governed apply, as data: per edit, per file, and for the attempt.

Refusals are results (``status="rejected"``, each failed edit with its code, reason and
nearest candidates), so callers can store them on the attempt and show them to people and
models; :meth:`ApplyResult.raise_for_rejection` turns one into
:class:`~autopack.errors.ApplyRejected` where an exception is wanted.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from autopack.errors import ApplyRejected
from autopack.workspace.matching import Candidate
from autopack.workspace.operations import PlacementMethod

ApplyStatus = Literal["applied", "no_op", "rejected", "requires_approval", "checked"]
OutcomeStatus = Literal["applied", "already_present", "failed", "not_checked"]
ApplyEventKind = Literal[
    "deletion_notice",
    "approval_required",
    "savepoint",
    "savepoint_unavailable",
    "committed",
    "rolled_back",
]


class EditOutcome(BaseModel):
    """What happened to one edit: where it was placed and how, or why it failed."""

    index: int
    kind: str
    path: str
    status: OutcomeStatus
    method: PlacementMethod | None = None
    first_line: int | None = None
    last_line: int | None = None
    code: str | None = None
    reason: str | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class FileChange(BaseModel):
    """One file the attempt creates, modifies or deletes, with its line counts."""

    path: str
    action: Literal["created", "modified", "deleted"]
    lines_added: int
    lines_removed: int


class ApplyEvent(BaseModel):
    """Something a person or the executor should know: notices, savepoints, commits."""

    kind: ApplyEventKind
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class ApplyResult(BaseModel):
    """The outcome of one attempt's apply. ``ok`` when applied, a no-op, or checked."""

    status: ApplyStatus
    applied: bool = False
    no_op: bool = False
    requires_approval: bool = False
    dry_run: bool = False
    reason: str | None = None
    files_changed: list[str] = Field(default_factory=list)
    changes: list[FileChange] = Field(default_factory=list)
    lines_added: int = 0
    lines_removed: int = 0
    net_deleted_lines: int = 0
    outcomes: list[EditOutcome] = Field(default_factory=list)
    events: list[ApplyEvent] = Field(default_factory=list)
    savepoint: str | None = None
    commit_sha: str | None = None

    @property
    def ok(self) -> bool:
        """Applied, a no-op, or a dry run that passed."""
        return self.status in ("applied", "no_op", "checked")

    def failures(self) -> list[dict[str, Any]]:
        """The failed edits as plain dicts: index, kind, path, code, reason, candidates."""
        return [
            o.model_dump(include={"index", "kind", "path", "code", "reason", "candidates"})
            for o in self.outcomes
            if o.status == "failed"
        ]

    def raise_for_rejection(self) -> None:
        """Raise :class:`ApplyRejected` unless the attempt applied, was a no-op or checked."""
        if not self.ok:
            raise ApplyRejected(
                self.reason or self.status, failures=self.failures(), status=self.status
            )
