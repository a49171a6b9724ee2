"""The typed ORM (SQLAlchemy 2.0).

Rules that keep the original's failures impossible:

* Every NOT NULL column has a default, so rows are created from a spec with only its ids
  and names; nobody guesses values in raw SQL.
* Token counts are 64-bit (BIGINT): a long-lived deployment passes 2^31 tokens.
* State-like columns are plain strings guarded by CHECK constraints generated from the
  enums in :mod:`autopack.domain.states`; raw SQL cannot write a value the code does not
  know, and a value that got in anyway (constraints switched off, another tool) still
  loads, to be reported by ``autopack db check`` instead of crashing a request.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DefaultClause,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from autopack.db.types import UTCDateTime as UTCDateTime
from autopack.db.types import utcnow as utcnow
from autopack.domain.access import Role
from autopack.domain.governance import GovernanceDecision, Risk
from autopack.domain.states import (
    STATE_COLUMNS,
    ApprovalStatus,
    Complexity,
    IssueStatus,
    PhaseState,
    RunState,
    TierState,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def known_values(enum: type[StrEnum], column: str) -> CheckConstraint:
    """A CHECK constraint that admits exactly the enum's values."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_known")


def _checks(table: str) -> tuple[CheckConstraint, ...]:
    return tuple(
        known_values(enum, col) for (tbl, col), enum in STATE_COLUMNS.items() if tbl == table
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Run(TimestampMixin, Base):
    __tablename__ = "runs"
    # The board lists the newest runs first.
    __table_args__ = (*_checks("runs"), Index("ix_runs_created", "created_at"))

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    goal: Mapped[str] = mapped_column(Text, default="")
    #: The intention anchor (memory/intention.py), built from the plan at creation.
    intention: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(48), default=RunState.RUN_CREATED.value, index=True)
    safety_profile: Mapped[str] = mapped_column(String(32), default="normal")
    run_scope: Mapped[str] = mapped_column(String(64), default="multi_tier")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)

    token_cap: Mapped[int] = mapped_column(BigInteger, default=5_000_000)
    max_phases: Mapped[int] = mapped_column(Integer, default=25)
    max_duration_minutes: Mapped[int] = mapped_column(Integer, default=120)
    ci_run_cap: Mapped[int | None] = mapped_column(Integer)
    max_minor_issues_total: Mapped[int] = mapped_column(Integer, default=0)

    tokens_used: Mapped[int] = mapped_column(BigInteger, default=0)
    ci_runs_used: Mapped[int] = mapped_column(Integer, default=0)
    minor_issues_count: Mapped[int] = mapped_column(Integer, default=0)
    major_issues_count: Mapped[int] = mapped_column(Integer, default=0)
    doctor_calls: Mapped[int] = mapped_column(Integer, default=0)
    provider_errors: Mapped[int] = mapped_column(Integer, default=0)
    apply_failures: Mapped[int] = mapped_column(Integer, default=0)
    total_failures: Mapped[int] = mapped_column(Integer, default=0)

    promotion_eligible_to_main: Mapped[str] = mapped_column(String(8), default="false")
    debt_status: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)

    repo_path: Mapped[str | None] = mapped_column(Text)
    base_ref: Mapped[str | None] = mapped_column(String(256))
    branch: Mapped[str | None] = mapped_column(String(256))
    worktree_path: Mapped[str | None] = mapped_column(Text)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)

    phases_executed: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    #: Fencing token: raised each time a new owner acquires the lease, so a write by an
    #: executor that lost the lease (it still holds an older token) is refused.
    lease_token: Mapped[int] = mapped_column(BigInteger, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()

    tiers: Mapped[list[Tier]] = relationship(
        back_populates="run",
        cascade="all, delete-orphan",
        order_by="Tier.tier_index",
        passive_deletes=True,
    )
    phases: Mapped[list[Phase]] = relationship(
        back_populates="run",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Phase.phase_index",
    )


class Tier(TimestampMixin, Base):
    __tablename__ = "tiers"
    __table_args__ = (
        UniqueConstraint("run_id", "tier_id", name="uq_tiers_run_tier"),
        *_checks("tiers"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    tier_id: Mapped[str] = mapped_column(String(100), default="")
    tier_index: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(32), default=TierState.PENDING.value)

    token_cap: Mapped[int | None] = mapped_column(BigInteger)
    ci_run_cap: Mapped[int | None] = mapped_column(Integer)
    max_minor_issues_tolerated: Mapped[int | None] = mapped_column(Integer)
    max_major_issues_tolerated: Mapped[int] = mapped_column(Integer, default=0)
    tokens_used: Mapped[int] = mapped_column(BigInteger, default=0)
    ci_runs_used: Mapped[int] = mapped_column(Integer, default=0)
    minor_issues_count: Mapped[int] = mapped_column(Integer, default=0)
    major_issues_count: Mapped[int] = mapped_column(Integer, default=0)
    cleanliness: Mapped[str] = mapped_column(String(16), default="clean")

    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()

    run: Mapped[Run] = relationship(back_populates="tiers")
    phases: Mapped[list[Phase]] = relationship(back_populates="tier", order_by="Phase.phase_index")


class Phase(TimestampMixin, Base):
    __tablename__ = "phases"
    __table_args__ = (
        UniqueConstraint("run_id", "phase_id", name="uq_phases_run_phase"),
        # Covering indexes for the dashboard's counts by state (per run on the board,
        # per tier on a run's page): read from the index, never from every phase row.
        Index("ix_phases_run_state", "run_id", "state"),
        Index("ix_phases_run_tier_state", "run_id", "tier_pk", "state"),
        *_checks("phases"),
        known_values(Complexity, "complexity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    tier_pk: Mapped[int] = mapped_column(ForeignKey("tiers.id", ondelete="CASCADE"), index=True)
    phase_id: Mapped[str] = mapped_column(String(128), default="")
    phase_index: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(32), default=PhaseState.QUEUED.value)
    task_category: Mapped[str] = mapped_column(String(64), default="feature")
    complexity: Mapped[str] = mapped_column(String(16), default=Complexity.MEDIUM.value)
    builder_mode: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[dict[str, Any]] = mapped_column(default=dict)

    max_builder_attempts: Mapped[int] = mapped_column(Integer, default=5)
    max_auditor_attempts: Mapped[int] = mapped_column(Integer, default=2)
    incident_token_cap: Mapped[int | None] = mapped_column(BigInteger)

    builder_attempts: Mapped[int] = mapped_column(Integer, default=0)
    auditor_attempts: Mapped[int] = mapped_column(Integer, default=0)
    doctor_calls: Mapped[int] = mapped_column(Integer, default=0)
    replans: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    tokens_used: Mapped[int] = mapped_column(BigInteger, default=0)
    minor_issues_count: Mapped[int] = mapped_column(Integer, default=0)
    major_issues_count: Mapped[int] = mapped_column(Integer, default=0)
    issue_state: Mapped[str] = mapped_column(String(32), default="no_issues")
    quality_level: Mapped[str | None] = mapped_column(String(32))
    quality_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_failure: Mapped[str | None] = mapped_column(Text)
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    savepoint: Mapped[str | None] = mapped_column(String(256))
    hints: Mapped[list[Any]] = mapped_column(default=list)

    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()

    run: Mapped[Run] = relationship(back_populates="phases")
    tier: Mapped[Tier] = relationship(back_populates="phases")
    attempts: Mapped[list[PhaseAttempt]] = relationship(
        back_populates="phase",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PhaseAttempt.id",
    )


class PhaseAttempt(Base):
    """One Builder, Auditor or Doctor result, with its full payload, stored before any use."""

    __tablename__ = "phase_attempts"
    __table_args__ = _checks("phase_attempts")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    phase_pk: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="builder")
    attempt_number: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(32), default="")
    model: Mapped[str | None] = mapped_column(String(128))
    tokens_used: Mapped[int] = mapped_column(BigInteger, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    apply_status: Mapped[str | None] = mapped_column(String(32))
    apply_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    phase: Mapped[Phase] = relationship(back_populates="attempts")


class PhaseIssue(TimestampMixin, Base):
    __tablename__ = "phase_issues"
    __table_args__ = (
        UniqueConstraint("phase_pk", "issue_key", name="uq_phase_issues_key"),
        *_checks("phase_issues"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    phase_pk: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"))
    issue_key: Mapped[str] = mapped_column(String(200), default="")
    severity: Mapped[str] = mapped_column(String(16), default="minor")
    source: Mapped[str] = mapped_column(String(64), default="builder")
    category: Mapped[str] = mapped_column(String(64), default="general")
    description: Mapped[str] = mapped_column(Text, default="")
    evidence_refs: Mapped[list[Any]] = mapped_column(default=list)
    occurrence_count: Mapped[int] = mapped_column(Integer, default=1)


class RunIssue(TimestampMixin, Base):
    """The run's issue index: one row per distinct issue key."""

    __tablename__ = "run_issues"
    __table_args__ = (
        UniqueConstraint("run_id", "issue_key", name="uq_run_issues_key"),
        *_checks("run_issues"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    issue_key: Mapped[str] = mapped_column(String(200), default="")
    severity: Mapped[str] = mapped_column(String(16), default="minor")
    category: Mapped[str] = mapped_column(String(64), default="general")
    occurrence_count: Mapped[int] = mapped_column(Integer, default=1)
    phase_ids: Mapped[list[Any]] = mapped_column(default=list)
    tier_ids: Mapped[list[Any]] = mapped_column(default=list)
    first_seen_phase_id: Mapped[str] = mapped_column(String(128), default="")
    last_seen_phase_id: Mapped[str] = mapped_column(String(128), default="")


class ProjectIssue(TimestampMixin, Base):
    """The project backlog: issues de-duplicated by key and aged across runs and tiers."""

    __tablename__ = "project_issues"
    __table_args__ = _checks("project_issues")

    issue_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    base_severity: Mapped[str] = mapped_column(String(16), default="minor")
    category: Mapped[str] = mapped_column(String(64), default="general")
    status: Mapped[str] = mapped_column(String(16), default=IssueStatus.OPEN.value)
    age_in_runs: Mapped[int] = mapped_column(Integer, default=0)
    age_in_tiers: Mapped[int] = mapped_column(Integer, default=0)
    occurrence_count: Mapped[int] = mapped_column(Integer, default=0)
    seen_in_runs: Mapped[list[Any]] = mapped_column(default=list)
    seen_in_tiers: Mapped[list[Any]] = mapped_column(default=list)
    first_seen_run_id: Mapped[str] = mapped_column(String(128), default="")
    last_seen_run_id: Mapped[str] = mapped_column(String(128), default="")


class LlmUsageEvent(Base):
    """One row per LLM call. Splits are NULL when the provider gave only a total."""

    __tablename__ = "llm_usage_events"
    __table_args__ = (
        Index("ix_llm_usage_events_created", "created_at"),
        # A phase's calls (its page), and a run's cost summed from the index alone.
        Index("ix_llm_usage_events_run_phase", "run_id", "phase_id"),
        Index("ix_llm_usage_events_run_cost", "run_id", "cost_usd"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    provider: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(32), default="")
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    phase_id: Mapped[str | None] = mapped_column(String(128))
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    completion_tokens: Mapped[int | None] = mapped_column(BigInteger)
    total_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    exact: Mapped[bool] = mapped_column(Boolean, default=True)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)


class LlmUsageDaily(Base):
    """LLM calls summed per UTC day, provider, model and role: kept by
    ``services.usage.record_usage`` in the transaction that records each call, so the
    usage page and API read days, not calls. Sums of known splits and costs, as the
    calls' GROUP BY would give them (``unsplit_tokens``: the totals of calls without a
    split; ``priced_calls``: the calls with a cost)."""

    __tablename__ = "llm_usage_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    unsplit_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    priced_calls: Mapped[int] = mapped_column(BigInteger, default=0)


class TokenEstimationEvent(Base):
    __tablename__ = "token_estimation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    phase_id: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128), default="")
    task_category: Mapped[str] = mapped_column(String(64), default="feature")
    complexity: Mapped[str] = mapped_column(String(16), default="medium")
    builder_mode: Mapped[str | None] = mapped_column(String(64))
    deliverables_count: Mapped[int] = mapped_column(Integer, default=0)
    context_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    estimated_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    chosen_budget: Mapped[int] = mapped_column(BigInteger, default=0)
    actual_output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)


class DecisionLog(Base):
    __tablename__ = "decision_log"
    #: A phase's decisions (its layout, its hardening fixes, its memory) are read every
    #: phase: from the index, not by scanning every decision of the run.
    __table_args__ = (Index("ix_decision_log_run_phase", "run_id", "phase_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: None for a decision about no single run (a key, a user, a global model override).
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    phase_id: Mapped[str | None] = mapped_column(String(128))
    #: Who decided: ``executor``, ``guard``, or a caller's identity (``user:<name>``, ...).
    actor: Mapped[str] = mapped_column(String(128), default="executor")
    decision: Mapped[str] = mapped_column(String(64), default="")
    rationale: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The lease token of the executor that recorded the decision (None: not an executor).
    lease_token: Mapped[int | None] = mapped_column(BigInteger)


class RunLease(Base):
    """One row per lease acquisition by a new owner: which executor held which fencing
    token of a run, and when it got and gave it up (the write history's key)."""

    __tablename__ = "run_leases"
    __table_args__ = (UniqueConstraint("run_id", "token", name="uq_run_leases_run_token"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    token: Mapped[int] = mapped_column(BigInteger, default=0)
    owner: Mapped[str] = mapped_column(String(128), default="")
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column()


class ProviderReservation(Base):
    """One admitted call to a provider, shared by every executor of the deployment: what
    per-minute request and token limits and per-period caps are counted against.
    ``tokens`` is the estimate until the call ends (``settled``), then the actual total."""

    __tablename__ = "provider_reservations"
    __table_args__ = (Index("ix_provider_reservations_window", "provider", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    provider: Mapped[str] = mapped_column(String(64), default="")
    run_id: Mapped[str | None] = mapped_column(String(128))
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    settled: Mapped[bool] = mapped_column(Boolean, default=False)


class Approval(Base):
    __tablename__ = "approvals"
    # The approvals page and the board read the pending ones.
    __table_args__ = (*_checks("approvals"), Index("ix_approvals_status", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    phase_id: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(32), default="large_deletion")
    status: Mapped[str] = mapped_column(String(16), default=ApprovalStatus.PENDING.value)
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decision_note: Mapped[str] = mapped_column(Text, default="")
    #: When the approval expires if nobody decides (None: never), and what that means
    #: (``reject`` or ``fail_phase``); set from the plan's ``approvals`` policy.
    expires_at: Mapped[datetime | None] = mapped_column()
    on_expiry: Mapped[str | None] = mapped_column(String(16))


class GovernanceRequest(Base):
    """A Builder's request to change protected paths, classed and decided by the
    governance policy (workspace/governance.py) or, for ``person`` risk, by a person
    through ``approval_id``. One row per request and risk: a request naming a test and a
    migration is two rows, decided apart."""

    __tablename__ = "governance_requests"
    __table_args__ = _checks("governance_requests")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    phase_id: Mapped[str] = mapped_column(String(128), default="")
    #: The Builder attempt (``phase_attempts.id``) whose answer asked.
    attempt_id: Mapped[int | None] = mapped_column(Integer)
    paths: Mapped[list[Any]] = mapped_column(default=list)
    reason: Mapped[str] = mapped_column(Text, default="")
    risk: Mapped[str] = mapped_column(String(16), default=Risk.PERSON.value)
    decision: Mapped[str] = mapped_column(String(16), default=GovernanceDecision.PENDING.value)
    #: Why the policy classed it so (the rule, the pattern), shown to people and the Builder.
    why: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column()
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approvals.id", ondelete="SET NULL"))


class HumanNote(Base):
    __tablename__ = "human_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    note: Mapped[str] = mapped_column(Text, default="")


class User(Base):
    """A person (or a bot account) that owns API keys; ``role`` decides what its keys may
    do (:mod:`autopack.domain.access`). Users are disabled, never deleted: decisions keep
    naming them."""

    __tablename__ = "users"
    __table_args__ = _checks("users")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, default="")
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER.value)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Where notifications reach this person, and how a channel's callback names them.
    email: Mapped[str | None] = mapped_column(String(255))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column()


class Notification(Base):
    """The outbox: one delivery of one event through one channel. Written by services in
    the transaction of what it tells about; sent and retried by the drainer
    (``services/notifications.py``)."""

    __tablename__ = "notifications"
    __table_args__ = _checks("notifications")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(32), default="approval_needed")
    channel: Mapped[str] = mapped_column(String(64), default="")
    #: None only for a notification about no run.
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    phase_id: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class DecisionToken(Base):
    """A used decision token (a signed link's id, a Telegram callback's id): each decides
    at most once, so a replay changes nothing."""

    __tablename__ = "decision_tokens"

    token_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    approval_id: Mapped[int] = mapped_column(
        ForeignKey("approvals.id", ondelete="CASCADE"), index=True
    )
    used_by: Mapped[str] = mapped_column(String(128), default="")
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The user the key acts as; None only for keys created before users existed.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    key_hash: Mapped[str] = mapped_column(String(128), unique=True, default="")
    prefix: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WorkerRecord(Base):
    """A worker process (`autopack worker`) as it registered itself; its heartbeat says
    whether it is alive. ``current_runs`` lists the runs it is executing now."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[str] = mapped_column(String(64), default="")
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default="running")
    current_runs: Mapped[list[Any]] = mapped_column(default=list)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column()


class ModelOverride(Base):
    """A global routing override (scope "global"); per-run overrides live on the run."""

    __tablename__ = "model_overrides"
    __table_args__ = (
        UniqueConstraint("role", "category", "complexity", name="uq_model_overrides_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(32), default="builder")
    category: Mapped[str] = mapped_column(String(64), default="general")
    complexity: Mapped[str] = mapped_column(String(16), default="medium")
    model: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- memory (issue 11): retrieval documents, the embedding cache, learned rules ----------
# The full-text index (SQLite FTS5 table ``memory_fts`` / PostgreSQL ``search_vector``
# column) and the vectors are database-specific and created by migration 0002 and
# memory.vectors; they are not in this metadata (see db.migrate.DATABASE_ONLY).


class MemoryDocument(Base):
    """One retrievable text: a code chunk, a summary, a decision, an error and its fix."""

    __tablename__ = "memory_documents"
    __table_args__ = (
        UniqueConstraint("collection", "repo_key", "key", name="uq_memory_documents_key"),
        Index("ix_memory_documents_repo_source", "repo_key", "collection", "source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection: Mapped[str] = mapped_column(String(32), default="code")
    repo_key: Mapped[str] = mapped_column(String(200), default="")
    key: Mapped[str] = mapped_column(String(600), default="")
    #: The file a code chunk came from (or the run a summary came from): re-indexing
    #: replaces a source's documents together.
    source: Mapped[str] = mapped_column(String(600), default="")
    #: The source's content hash when indexed: an unchanged file is skipped.
    source_hash: Mapped[str] = mapped_column(String(64), default="")
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MemoryEmbedding(Base):
    """The embedding cache: one vector per (content hash, model), shared by documents."""

    __tablename__ = "memory_embeddings"
    __table_args__ = (UniqueConstraint("content_hash", "model", name="uq_memory_embeddings_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    dimension: Mapped[int] = mapped_column(Integer, default=0)
    vector: Mapped[list[float]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MemoryRule(Base):
    """A rule learned from a resolved failure, kept for one repository."""

    __tablename__ = "memory_rules"
    __table_args__ = (UniqueConstraint("repo_key", "rule_key", name="uq_memory_rules_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_key: Mapped[str] = mapped_column(String(200), default="", index=True)
    rule_key: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    failure_kind: Mapped[str] = mapped_column(String(64), default="")
    #: Where the rule applies: the failed phase's scope paths (globs and prefixes).
    paths: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Each time the failure was seen and resolved: run, phase, attempt, error excerpt.
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    times_seen: Mapped[int] = mapped_column(Integer, default=1)
    #: How many Builder prompts the rule was given to.
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()


def _server_default_for(column: Column[Any]) -> Any:
    """The database-side twin of a column's Python default (None when it has none)."""
    default = column.default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if getattr(default, "is_callable", False):
        name = getattr(arg, "__name__", "") or getattr(
            getattr(arg, "__wrapped__", None), "__name__", ""
        )
        if name == "utcnow":
            return func.current_timestamp()
        if "dict" in name:
            return "{}"
        if "list" in name:
            return "[]"
        return None
    if isinstance(arg, bool):
        return true() if arg else false()
    if isinstance(arg, int | float):
        return text(repr(arg))
    if isinstance(arg, str):
        return arg
    return None


def _install_server_defaults(metadata: MetaData) -> None:
    """Give every NOT NULL column a server default, so even raw SQL needs no guesswork.

    A raw ``INSERT INTO runs (id) VALUES ('x')`` gets the same values the ORM would give.
    """
    for table in metadata.tables.values():
        for column in table.columns:
            if (
                column.nullable
                or column.primary_key
                or column.foreign_keys
                or column.server_default is not None
            ):
                continue
            value = _server_default_for(column)
            if value is None:
                raise RuntimeError(f"{table.name}.{column.name} is NOT NULL without a default")
            DefaultClause(value)._set_parent_with_dispatch(column)


_install_server_defaults(Base.metadata)
