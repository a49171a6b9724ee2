"""A run's status and its phases page by page, in a fixed number of queries.

Status is polled (by clients, the dashboard, scripts waiting for a run), so it never
loads the run's phases: the run's columns, phase and tier counts by state (one GROUP BY
each, in one statement) and the first unfinished phase (one indexed, limited query).
Three statements whether the run has ten phases or ten thousand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, String, bindparam, func, literal, select, union_all
from sqlalchemy.orm import Session

from autopack.db.orm import Phase, Run, Tier
from autopack.domain.states import PhaseState, RunState, TierState
from autopack.errors import NotFoundError
from autopack.services.runs import known_state

#: A phase in one of these is done with; the first phase in another is the current one.
FINISHED_PHASE_STATES = tuple(s.value for s in PhaseState if s.is_terminal)
_PHASE_STATES = frozenset(s.value for s in PhaseState)
_TIER_STATES = frozenset(s.value for s in TierState)


@dataclass(frozen=True)
class CurrentPhase:
    phase_id: str
    name: str
    phase_index: int
    state: str
    quality_level: str | None
    quality_blocked: bool
    tier_name: str
    tier_index: int


@dataclass(frozen=True)
class RunStatusView:
    run_id: str
    state: str
    failure_reason: str | None
    tokens_used: int
    token_cap: int
    minor_issues_count: int
    major_issues_count: int
    cancel_requested: bool
    executing: bool
    branch: str | None
    started_at: datetime | None
    completed_at: datetime | None
    #: Phases by state, in the state machine's order, only states that occur.
    phase_counts: dict[str, int]
    #: Tiers by state, likewise.
    tier_counts: dict[str, int]
    #: The first phase (by tier, then phase index) not yet COMPLETE, FAILED or SKIPPED.
    current: CurrentPhase | None

    @property
    def total_phases(self) -> int:
        return sum(self.phase_counts.values())

    @property
    def total_tiers(self) -> int:
        return sum(self.tier_counts.values())


# Statements are built once, with the run id as a parameter: building a select costs
# more than SQLite takes to answer it, and this is the most polled read of the API.
_RUN_ID = bindparam("run_id", type_=String)
_RUN_ROW = select(
    Run.id,
    Run.state,
    Run.failure_reason,
    Run.tokens_used,
    Run.token_cap,
    Run.minor_issues_count,
    Run.major_issues_count,
    Run.cancel_requested,
    Run.lease_owner,
    Run.branch,
    Run.started_at,
    Run.completed_at,
).where(Run.id == _RUN_ID)
_COUNTS = union_all(
    select(literal("phase").label("kind"), Phase.state, func.count().label("n"))
    .where(Phase.run_id == _RUN_ID)
    .group_by(Phase.state),
    select(literal("tier").label("kind"), Tier.state, func.count().label("n"))
    .where(Tier.run_id == _RUN_ID)
    .group_by(Tier.state),
)
_CURRENT = (
    select(
        Phase.phase_id,
        Phase.name,
        Phase.phase_index,
        Phase.state,
        Phase.quality_level,
        Phase.quality_blocked,
        Tier.name.label("tier_name"),
        Tier.tier_index,
    )
    .join(Tier, Phase.tier_pk == Tier.id)
    .where(Phase.run_id == _RUN_ID, *(Phase.state != s for s in FINISHED_PHASE_STATES))
    .order_by(Tier.tier_index, Phase.phase_index, Phase.id)
    .limit(1)
)


def _not_found(run_id: str) -> NotFoundError:
    return NotFoundError(
        f"run {run_id!r} not found; list runs with GET /runs or `autopack runs list`",
        run_id=run_id,
    )


def read_run_status(session: Session, run_id: str) -> RunStatusView:
    """The run's status. NotFoundError for an unknown run; InvalidStoredState when the
    run, a tier or a phase holds a state this version does not know."""
    # Core on the session's connection: the ORM's per-statement work would cost more
    # than these rows, and nothing here is an entity.
    db = session.connection()
    row = db.execute(_RUN_ROW, {"run_id": run_id}).one_or_none()
    if row is None:
        raise _not_found(run_id)
    known_state(RunState, row.state, table="runs", row_id=run_id)
    phase_counts, tier_counts = _counts(session, db, run_id)
    unfinished = sum(n for s, n in phase_counts.items() if s not in FINISHED_PHASE_STATES)
    return RunStatusView(
        run_id=row.id,
        state=row.state,
        failure_reason=row.failure_reason,
        tokens_used=row.tokens_used,
        token_cap=row.token_cap,
        minor_issues_count=row.minor_issues_count,
        major_issues_count=row.major_issues_count,
        cancel_requested=row.cancel_requested,
        executing=row.lease_owner is not None,
        branch=row.branch,
        started_at=row.started_at,
        completed_at=row.completed_at,
        phase_counts=phase_counts,
        tier_counts=tier_counts,
        current=_current_phase(db, run_id) if unfinished else None,
    )


def _counts(session: Session, db: Connection, run_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """Phases and tiers by state, checked against the states the code knows."""
    found: dict[str, dict[str, int]] = {"phase": {}, "tier": {}}
    for kind, state, n in db.execute(_COUNTS, {"run_id": run_id}):
        found[kind][state] = n
    for state in found["phase"]:
        if state not in _PHASE_STATES:
            phase_id = session.scalar(
                select(Phase.phase_id)
                .where(Phase.run_id == run_id, Phase.state == state)
                .order_by(Phase.phase_index)
                .limit(1)
            )
            known_state(PhaseState, state, table="phases", row_id=f"{run_id}/{phase_id}")
    for state in found["tier"]:
        if state not in _TIER_STATES:
            tier_id = session.scalar(
                select(Tier.tier_id).where(Tier.run_id == run_id, Tier.state == state).limit(1)
            )
            known_state(TierState, state, table="tiers", row_id=f"{run_id}/{tier_id}")
    return (
        {s.value: found["phase"][s.value] for s in PhaseState if s.value in found["phase"]},
        {s.value: found["tier"][s.value] for s in TierState if s.value in found["tier"]},
    )


def _current_phase(db: Connection, run_id: str) -> CurrentPhase | None:
    row = db.execute(_CURRENT, {"run_id": run_id}).one_or_none()
    if row is None:
        return None
    return CurrentPhase(
        phase_id=row.phase_id,
        name=row.name,
        phase_index=row.phase_index,
        state=row.state,
        quality_level=row.quality_level,
        quality_blocked=bool(row.quality_blocked),
        tier_name=row.tier_name,
        tier_index=row.tier_index,
    )


def phase_page(
    session: Session,
    run_id: str,
    *,
    state: PhaseState | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[tuple[Phase, str]], int]:
    """A page of the run's phases in execution order (tier, then phase index), each with
    its tier's id, and the total for the filter. Three statements for any page size."""
    if session.scalar(select(Run.id).where(Run.id == run_id)) is None:
        raise _not_found(run_id)
    where = [Phase.run_id == run_id]
    if state is not None:
        where.append(Phase.state == state.value)
    total = session.scalar(select(func.count()).select_from(Phase).where(*where)) or 0
    rows = session.execute(
        select(Phase, Tier.tier_id)
        .join(Tier, Phase.tier_pk == Tier.id)
        .where(*where)
        .order_by(Tier.tier_index, Phase.phase_index, Phase.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [(phase, tier_id) for phase, tier_id in rows], total
