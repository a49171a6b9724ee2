"""Request and response schemas. Routes return these, never ORM objects.

The request bodies of the original API (``RunStartRequest``, ``PhaseStatusUpdate``) are
reproduced field for field so its clients keep working.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autopack.db.orm import Phase, Run, Tier
from autopack.domain.plan import MAX_COUNT
from autopack.domain.states import IssueSeverity, PhaseState


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- the original RunStartRequest -------------------------------------------------------
#: A misspelled or invented field is refused (422 naming it), never silently dropped: the
#: client would believe it had set something.
_FORBID = ConfigDict(extra="forbid")


class RunCreate(BaseModel):
    model_config = _FORBID

    run_id: str = Field(..., description="Unique identifier for the run")
    safety_profile: str = Field(default="normal", description="normal or safety_critical")
    run_scope: str = Field(default="multi_tier", description="multi_tier or single_tier")
    token_cap: int | None = Field(default=5_000_000, description="Maximum tokens for this run")
    max_phases: int | None = Field(default=25, description="Maximum phases for this run")
    max_duration_minutes: int | None = Field(default=120, description="Maximum duration")


class TierCreate(BaseModel):
    model_config = _FORBID

    tier_id: str = Field(..., description="Tier identifier (e.g. T1, T2)")
    tier_index: int = Field(..., description="Order index for this tier")
    name: str = Field(..., description="Human-readable tier name")
    description: str | None = Field(None, description="Tier description")


class PhaseCreate(BaseModel):
    model_config = _FORBID

    phase_id: str = Field(..., description="Phase identifier (e.g. F2.3)")
    phase_index: int = Field(..., description="Order index for this phase")
    tier_id: str = Field(..., description="Parent tier identifier")
    name: str = Field(..., description="Human-readable phase name")
    description: str | None = Field(None, description="Phase description")
    task_category: str | None = Field(None, description="Task category (e.g. schema_change)")
    complexity: str | None = Field(None, description="Complexity: low, medium, or high")
    builder_mode: str | None = Field(None, description="Builder mode (e.g. tweak_light)")


class RunStartRequest(BaseModel):
    """The original's request to start a run with tiers and phases."""

    model_config = _FORBID

    run: RunCreate
    tiers: list[TierCreate] = Field(default_factory=list)
    phases: list[PhaseCreate] = Field(default_factory=list)


class PhaseStatusUpdate(BaseModel):
    state: PhaseState = Field(..., description="New phase state")
    builder_attempts: int | None = Field(None, ge=0, le=MAX_COUNT)
    tokens_used: int | None = Field(None, ge=0, le=MAX_COUNT)
    minor_issues_count: int | None = Field(None, ge=0, le=MAX_COUNT)
    major_issues_count: int | None = Field(None, ge=0, le=MAX_COUNT)
    quality_level: Literal["ok", "needs_review", "blocked"] | None = None
    quality_blocked: bool | None = None


class RecordIssueRequest(BaseModel):
    issue_key: str = Field(..., min_length=1, max_length=200)
    severity: IssueSeverity
    source: str = Field(default="api", max_length=64)
    category: str = Field(default="general", max_length=64)
    task_category: str | None = None
    complexity: str | None = None
    description: str = ""
    evidence_refs: list[str] = Field(default_factory=list)


class HumanNoteRequest(BaseModel):
    note: str = Field(..., min_length=1, max_length=20_000)
    run_id: str | None = None


# -- responses --------------------------------------------------------------------------
class PhaseResponse(_Out):
    id: int
    phase_id: str
    name: str
    description: str
    state: str
    tier_id: str
    task_category: str | None
    complexity: str | None
    builder_mode: str | None
    phase_index: int
    builder_attempts: int
    auditor_attempts: int
    tokens_used: int
    minor_issues_count: int
    major_issues_count: int
    issue_state: str
    quality_level: str | None
    quality_blocked: bool
    commit_sha: str | None
    last_failure: str | None
    scope: dict[str, Any]

    @classmethod
    def of(cls, phase: Phase, tier_id: str | None = None) -> PhaseResponse:
        """``tier_id`` when the caller read it already (no lazy load of the tier)."""
        data = {name: getattr(phase, name) for name in cls.model_fields if name != "tier_id"}
        return cls.model_validate({**data, "tier_id": tier_id or phase.tier.tier_id})


class TierResponse(_Out):
    id: int
    tier_id: str
    name: str
    description: str
    state: str
    tier_index: int
    cleanliness: str
    minor_issues_count: int
    major_issues_count: int
    tokens_used: int
    phases: list[PhaseResponse] = Field(default_factory=list)

    @classmethod
    def of(cls, tier: Tier, phases: list[PhaseResponse] | None = None) -> TierResponse:
        """``phases``: the tier's phases when the caller made them already."""
        data = {name: getattr(tier, name) for name in cls.model_fields if name != "phases"}
        if phases is None:
            phases = [PhaseResponse.of(p, tier.tier_id) for p in tier.phases]
        return cls.model_validate({**data, "phases": phases})


class RunResponse(_Out):
    id: str
    run_id: str
    name: str
    goal: str
    state: str
    safety_profile: str
    run_scope: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    token_cap: int
    max_phases: int
    max_duration_minutes: int
    ci_run_cap: int | None
    max_minor_issues_total: int
    tokens_used: int
    ci_runs_used: int
    minor_issues_count: int
    major_issues_count: int
    promotion_eligible_to_main: str
    debt_status: str | None
    failure_reason: str | None
    branch: str | None
    repo_path: str | None
    tiers: list[TierResponse] = Field(default_factory=list)
    phases: list[PhaseResponse] = Field(default_factory=list)

    @classmethod
    def of(cls, run: Run) -> RunResponse:
        skip = {"tiers", "phases", "run_id"}
        data = {name: getattr(run, name) for name in cls.model_fields if name not in skip}
        # Each phase is made once and listed twice (under its tier and in ``phases``).
        tier_ids = {t.id: t.tier_id for t in run.tiers}
        phases = [PhaseResponse.of(p, tier_ids.get(p.tier_pk)) for p in run.phases]
        by_pk = {p.id: p for p in phases}
        return cls.model_validate(
            {
                **data,
                "run_id": run.id,
                "tiers": [TierResponse.of(t, [by_pk[p.id] for p in t.phases]) for t in run.tiers],
                "phases": phases,
            }
        )


class RunListItem(_Out):
    run_id: str
    name: str
    state: str
    created_at: datetime
    tokens_used: int
    token_cap: int
    phase_count: int
    failure_reason: str | None

    @classmethod
    def of(cls, run: Run) -> RunListItem:
        return cls(
            run_id=run.id,
            name=run.name,
            state=run.state,
            created_at=run.created_at,
            tokens_used=run.tokens_used,
            token_cap=run.token_cap,
            phase_count=len(run.phases),
            failure_reason=run.failure_reason,
        )


class RunList(BaseModel):
    total: int
    limit: int
    offset: int
    runs: list[RunListItem]


class PhaseList(BaseModel):
    """A page of a run's phases in execution order, and how many match in all."""

    run_id: str
    total: int
    limit: int
    offset: int
    phases: list[PhaseResponse]


class RunStatus(BaseModel):
    run_id: str
    state: str
    failure_reason: str | None
    tokens_used: int
    token_cap: int
    phase_counts: dict[str, int]
    total_phases: int
    current_phase_id: str | None
    cancel_requested: bool
    executing: bool
    branch: str | None
    started_at: datetime | None
    completed_at: datetime | None


class DashboardRunStatus(BaseModel):
    """A run's progress in the original's DashboardRunStatus shape. The current tier and
    phase are those of the first phase not yet COMPLETE, FAILED or SKIPPED."""

    run_id: str
    state: str
    current_tier_name: str | None
    current_phase_name: str | None
    current_tier_index: int | None
    current_phase_index: int | None
    total_tiers: int
    total_phases: int
    completed_tiers: int
    completed_phases: int
    percent_complete: float
    tiers_percent_complete: float
    tokens_used: int
    token_cap: int
    token_utilization: float
    minor_issues_count: int
    major_issues_count: int
    quality_level: str | None
    quality_blocked: bool
    quality_warnings: list[str]


class PhaseUpdateResponse(BaseModel):
    message: str
    phase: PhaseResponse


class ResultResponse(BaseModel):
    message: str
    attempt_id: int
    phase_state: str
    commit_sha: str | None = None
    apply: dict[str, Any] | None = None
    recommendation: str | None = None
    patches_applied: int | None = None
    commit_shas: list[str] | None = None


class WorkersSummary(BaseModel):
    """Where runs execute, and how many registered workers are alive or stale."""

    execution: Literal["queue", "local"] = Field(
        description="queue: `autopack worker` processes take runs from the PostgreSQL job "
        "queue; local: the server's own pool"
    )
    alive: int = Field(description="Workers whose heartbeat is recent")
    stale: int = Field(
        description="Workers whose heartbeat is older than AUTOPACK_WORKER_STALE_SECONDS "
        "(killed or unreachable); their runs are recovered by the others"
    )
    busy_runs: int = Field(description="Runs the alive workers are executing now")


class WorkerRead(BaseModel):
    """A registered worker process (`autopack worker`)."""

    id: str = Field(description="host:pid:suffix, unique per worker process")
    host: str
    pid: int
    version: str = Field(description="Autopack version the worker runs")
    concurrency: int
    status: Literal["alive", "stale", "stopped"] = Field(
        description="alive: recent heartbeat; stale: heartbeat older than "
        "AUTOPACK_WORKER_STALE_SECONDS; stopped: shut down cleanly"
    )
    current_runs: list[str] = Field(description="Runs it is executing now")
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age_seconds: float
    stopped_at: datetime | None


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    service: Literal["autopack"] = "autopack"
    version: str
    database: dict[str, str | None] = Field(
        description="The database's kind (`driver`); for a caller with a valid API key "
        "also its `host`, `file` and `database` name"
    )
    schema_revision: str | None
    expected_revision: str
    auth: Literal["api_key", "loopback_only", "closed"] = Field(
        description="api_key: keys required; loopback_only: no keys, local access only; "
        "closed: no keys on a non-loopback address, every request is refused"
    )
    workers: WorkersSummary | None = Field(
        default=None,
        description="Where runs execute and the workers' liveness (None when "
        "the database cannot be read)",
    )
