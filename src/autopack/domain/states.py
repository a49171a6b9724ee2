"""The state vocabularies of runs, tiers and phases.

These enums are the single source of truth: the database CHECK constraints, the API
schemas and `autopack db check` are all generated from them.
"""

from __future__ import annotations

from enum import StrEnum

from autopack.domain.access import Role
from autopack.domain.governance import GovernanceDecision, Risk


class RunState(StrEnum):
    QUEUED = "QUEUED"
    PLAN_BOOTSTRAP = "PLAN_BOOTSTRAP"
    RUN_CREATED = "RUN_CREATED"
    PHASE_QUEUEING = "PHASE_QUEUEING"
    PHASE_EXECUTION = "PHASE_EXECUTION"
    GATE = "GATE"
    CI_RUNNING = "CI_RUNNING"
    SNAPSHOT_CREATED = "SNAPSHOT_CREATED"
    DONE_SUCCESS = "DONE_SUCCESS"
    DONE_FAILED_BUDGET_EXHAUSTED = "DONE_FAILED_BUDGET_EXHAUSTED"
    DONE_FAILED_TOKEN_CAP_EXCEEDED = "DONE_FAILED_TOKEN_CAP_EXCEEDED"
    DONE_FAILED_PHASE_LIMIT_EXCEEDED = "DONE_FAILED_PHASE_LIMIT_EXCEEDED"
    DONE_FAILED_POLICY_VIOLATION = "DONE_FAILED_POLICY_VIOLATION"
    DONE_FAILED_REQUIRES_HUMAN_REVIEW = "DONE_FAILED_REQUIRES_HUMAN_REVIEW"
    DONE_FAILED_ENVIRONMENT = "DONE_FAILED_ENVIRONMENT"
    DONE_CANCELLED = "DONE_CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self.value.startswith("DONE_")

    @property
    def is_failure(self) -> bool:
        return self.value.startswith("DONE_FAILED_")


class TierState(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    @property
    def is_terminal(self) -> bool:
        return self in (TierState.COMPLETE, TierState.FAILED, TierState.SKIPPED)


class PhaseState(StrEnum):
    QUEUED = "QUEUED"
    EXECUTING = "EXECUTING"
    GATE = "GATE"
    CI_RUNNING = "CI_RUNNING"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    @property
    def is_terminal(self) -> bool:
        return self in (PhaseState.COMPLETE, PhaseState.FAILED, PhaseState.SKIPPED)


class IssueStatus(StrEnum):
    OPEN = "open"
    NEEDS_CLEANUP = "needs_cleanup"
    CLOSED = "closed"


class IssueSeverity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"


class AttemptRole(StrEnum):
    BUILDER = "builder"
    AUDITOR = "auditor"
    DOCTOR = "doctor"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    #: Nobody decided within the policy's time (``approvals.expire_after_minutes``).
    EXPIRED = "expired"


class NotificationState(StrEnum):
    """An outbox row's delivery: waiting (or between retries), delivered, failed for good
    on a permanent error, or given up after the last retry."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"


class NotificationEvent(StrEnum):
    """What a person can be told about (``.autopack.yaml`` ``notifications: events``)."""

    APPROVAL_NEEDED = "approval_needed"
    RUN_FINISHED = "run_finished"
    RUN_FAILED = "run_failed"
    PHASE_FAILED = "phase_failed"
    BUDGET_80 = "budget_80"
    #: Sent by `autopack notify test CHANNEL` only; never queued by a run.
    TEST = "test"


class Complexity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class SafetyProfile(StrEnum):
    NORMAL = "normal"
    SAFETY_CRITICAL = "safety_critical"


#: Every state-like column in the database and the enum that governs it. The ORM's CHECK
#: constraints and `autopack db check` both read this table, so they cannot disagree.
STATE_COLUMNS: dict[tuple[str, str], type[StrEnum]] = {
    ("runs", "state"): RunState,
    ("tiers", "state"): TierState,
    ("phases", "state"): PhaseState,
    ("phase_attempts", "role"): AttemptRole,
    ("phase_issues", "severity"): IssueSeverity,
    ("run_issues", "severity"): IssueSeverity,
    ("project_issues", "status"): IssueStatus,
    ("project_issues", "base_severity"): IssueSeverity,
    ("approvals", "status"): ApprovalStatus,
    ("users", "role"): Role,
    ("governance_requests", "risk"): Risk,
    ("governance_requests", "decision"): GovernanceDecision,
    ("notifications", "state"): NotificationState,
    ("notifications", "event"): NotificationEvent,
}
