"""Run use cases: create, read, list, change state, and the lease that makes one executor
per run."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from autopack.db.orm import DecisionLog, Phase, Run, Tier, utcnow
from autopack.domain.plan import RunSpec
from autopack.domain.states import PhaseState, RunState, TierState
from autopack.domain.transitions import transition
from autopack.errors import (
    DuplicateError,
    IllegalTransition,
    NotFoundError,
    PlanError,
)
from autopack.executor.artifacts import RunArtifacts
from autopack.memory.intention import build_anchor
from autopack.services import notifications
from autopack.services.decisions import record_decision
from autopack.services.leases import acquire_lease as acquire_lease
from autopack.services.leases import release_lease as release_lease
from autopack.services.run_overview import known_state as known_state
from autopack.services.run_summary import summary_body
from autopack.services.trajectory import context_report

_Row = TypeVar("_Row", Tier, Phase)


def check_run_states(run: Run) -> None:
    """Raise InvalidStoredState if the run, a tier or a phase holds an unknown state."""
    known_state(RunState, run.state, table="runs", row_id=run.id)
    for tier in run.tiers:
        known_state(TierState, tier.state, table="tiers", row_id=f"{run.id}/{tier.tier_id}")
    for phase in run.phases:
        known_state(PhaseState, phase.state, table="phases", row_id=f"{run.id}/{phase.phase_id}")


def create_run(
    session: Session, spec: RunSpec, *, runs_dir: Path, repo_path: str | None = None
) -> Run:
    """Create a run with its tiers and phases in the caller's transaction, and lay out its
    artifact directory in the data dir. Raises DuplicateError for an existing run id."""
    if session.get(Run, spec.run_id) is not None:
        raise DuplicateError(
            f"run {spec.run_id!r} already exists; choose another run_id or "
            f"resume it with `autopack run --resume {spec.run_id}`",
            run_id=spec.run_id,
        )
    if len(spec.phases) > spec.budgets.max_phases:
        raise PlanError(
            f"the plan has {len(spec.phases)} phases but budgets.max_phases is "
            f"{spec.budgets.max_phases}; raise the cap or split the plan",
            field="budgets.max_phases",
        )
    spec_data = spec.model_dump(mode="json")
    run = Run(
        id=spec.run_id,
        name=spec.name,
        goal=spec.goal,
        intention=build_anchor(spec),
        state=RunState.RUN_CREATED.value,
        safety_profile=spec.safety_profile.value,
        run_scope=spec.run_scope,
        spec=spec_data,
        token_cap=spec.budgets.token_cap,
        max_phases=spec.budgets.max_phases,
        max_duration_minutes=spec.budgets.max_duration_minutes,
        ci_run_cap=spec.budgets.ci_run_cap,
        max_minor_issues_total=spec.effective_max_minor_issues(),
        repo_path=repo_path or spec.repo,
        base_ref=spec.base_ref,
    )
    session.add(run)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create with the same id
        raise DuplicateError(f"run {spec.run_id!r} already exists", run_id=spec.run_id) from exc
    # Tiers and phases go in as two multi-row INSERTs that return the stored rows as
    # loaded objects: no unit of work, no backref events per object (that was half the
    # cost of creating a 100-phase run). Rows are made in the order a read returns them
    # (tier_index, phase_index: the relationships' order_by) and the collections are set
    # as loaded, so the run in memory is what a reload would give and the API answers
    # POST /runs from it without reading back.
    tier_rows = [
        {
            "run_id": run.id,
            "tier_id": t.tier_id,
            "tier_index": t.tier_index or 0,
            "name": t.name,
            "description": t.description,
            "state": TierState.PENDING.value,
        }
        for t in sorted(spec.tiers, key=lambda t: t.tier_index or 0)
    ]
    tiers = _insert_returning(session, Tier, tier_rows, "tier_id")
    tier_pks = {t.tier_id: t.id for t in tiers}
    scopes = {p["phase_id"]: p["scope"] for p in spec_data["phases"]}
    phase_rows = [
        {
            "run_id": run.id,
            "tier_pk": tier_pks[p.tier_id or ""],
            "phase_id": p.phase_id,
            "phase_index": p.phase_index or 0,
            "name": p.name,
            "description": p.description,
            "state": PhaseState.QUEUED.value,
            "task_category": p.task_category,
            "complexity": p.complexity.value,
            "builder_mode": p.builder_mode,
            "scope": scopes[p.phase_id],
            "max_builder_attempts": p.budgets.max_builder_attempts,
            "max_auditor_attempts": p.budgets.max_auditor_attempts,
            "incident_token_cap": p.budgets.incident_token_cap,
        }
        for p in sorted(spec.phases, key=lambda p: p.phase_index or 0)
    ]
    phases = _insert_returning(session, Phase, phase_rows, "phase_id")
    by_tier: dict[int, list[Phase]] = {t.id: [] for t in tiers}
    tier_by_pk = {t.id: t for t in tiers}
    for phase in phases:
        by_tier[phase.tier_pk].append(phase)
        set_committed_value(phase, "run", run)
        set_committed_value(phase, "tier", tier_by_pk[phase.tier_pk])
        set_committed_value(phase, "attempts", [])  # a new phase has none
    for tier in tiers:
        set_committed_value(tier, "run", run)
        set_committed_value(tier, "phases", by_tier[tier.id])
    set_committed_value(run, "tiers", tiers)
    set_committed_value(run, "phases", phases)
    write_layout(run, runs_dir, fresh=True)
    return run


def _insert_returning(
    session: Session, model: type[_Row], rows: list[dict[str, Any]], key: str
) -> list[_Row]:
    """Insert ``rows`` into ``model``'s table as multi-row INSERTs and return them as
    persistent objects in the order of ``rows``, matched on ``key`` (unique in the run).
    Not ``sort_by_parameter_order``: without a sentinel column SQLAlchemy keeps that
    order on SQLite by inserting one row per statement."""
    if not rows:
        return []
    found = {
        getattr(obj, key): obj for obj in session.scalars(insert(model).returning(model), rows)
    }
    return [found[row[key]] for row in rows]


def write_layout(run: Run, runs_dir: Path, *, fresh: bool = False) -> RunArtifacts:
    """(Re)write the run's summary files from the database rows. ``fresh``: the run was
    just created, so it has no attempts, decisions or issues to read (reading them is
    three queries per phase, most of what creating a large run would cost), and no reader
    can know it before the caller commits, so its files are written in place rather than
    replaced atomically (``RunArtifacts(unpublished=True)``)."""
    artifacts = RunArtifacts(runs_dir, run.id, unpublished=fresh)
    artifacts.ensure()
    artifacts.write_run_summary(
        {
            "run_id": run.id,
            "name": run.name,
            "state": run.state,
            "safety_profile": run.safety_profile,
            "run_scope": run.run_scope,
            "tiers": len(run.tiers),
            "phases": len(run.phases),
            "phases_by_outcome": ", ".join(f"{k} {v}" for k, v in phase_counts(run).items()) or "-",
            "tokens_used": f"{run.tokens_used} / {run.token_cap}",
            "branch": run.branch or "-",
            "failure_reason": run.failure_reason or "-",
            "created_at": run.created_at.isoformat() if run.created_at else "-",
        },
        body=summary_body(run, fresh=fresh),
    )
    if run.intention:
        artifacts.write_intention(run.intention)
    for tier in run.tiers:
        artifacts.write_tier_summary(
            tier.tier_index,
            tier.tier_id,
            {
                "name": tier.name,
                "state": tier.state,
                "cleanliness": tier.cleanliness,
                "phases": len(tier.phases),
                "tokens_used": tier.tokens_used,
                "minor_issues": tier.minor_issues_count,
                "major_issues": tier.major_issues_count,
            },
        )
    for phase in run.phases:
        write_phase_layout(artifacts, phase, history=not fresh)
    session = object_session(run)
    if session is not None and not fresh:
        from autopack.services import issues as issue_service

        index = issue_service.run_issue_index(session, run.id)
        if index["issues_by_key"]:
            artifacts.write_issues("run_issue_index", index)
        for phase in run.phases:
            found = issue_service.phase_issues(session, phase)
            if found:
                artifacts.write_issues(f"phase_{phase.phase_index:02d}_{phase.phase_id}", found)
    return artifacts


def phase_counts(run: Run) -> dict[str, int]:
    """How many of the run's phases are in each state, in the state machine's order
    (only states that occur): what a summary says about the run's outcome."""
    counts = Counter(p.state for p in run.phases)
    return {s.value: counts[s.value] for s in PhaseState if counts[s.value]}


def write_phase_layout(artifacts: RunArtifacts, phase: Phase, *, history: bool = True) -> None:
    artifacts.write_phase_summary(
        phase.phase_index,
        phase.phase_id,
        {
            "name": phase.name,
            "state": phase.state,
            "tier": phase.tier.tier_id,
            "task_category": phase.task_category,
            "complexity": phase.complexity,
            "builder_attempts": phase.builder_attempts,
            "auditor_attempts": phase.auditor_attempts,
            "tokens_used": phase.tokens_used,
            "minor_issues": phase.minor_issues_count,
            "major_issues": phase.major_issues_count,
            "commit": phase.commit_sha or "-",
            "last_failure": (phase.last_failure or "-").splitlines()[0][:200]
            if phase.last_failure
            else "-",
        },
        body=phase_report(phase, history=history),
    )


def get_run(session: Session, run_id: str, *, check_states: bool = True) -> Run:
    """Load a run with its tiers and phases. Raises NotFoundError / InvalidStoredState.

    Collections are reloaded even when the run is already in the session (just created),
    so tiers and phases always come in index order, as any later read returns them."""
    run = session.scalars(
        select(Run)
        .where(Run.id == run_id)
        .options(selectinload(Run.tiers).selectinload(Tier.phases), selectinload(Run.phases))
        .execution_options(populate_existing=True)
    ).one_or_none()
    if run is None:
        raise NotFoundError(
            f"run {run_id!r} not found; list runs with GET /runs or `autopack runs list`",
            run_id=run_id,
        )
    if check_states:
        check_run_states(run)
    return run


def list_runs(
    session: Session, *, state: RunState | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Run], int]:
    """A page of runs, newest first, and the total count for the filter."""
    query = select(Run)
    count = select(func.count()).select_from(Run)
    if state is not None:
        query = query.where(Run.state == state.value)
        count = count.where(Run.state == state.value)
    total = session.scalar(count) or 0
    rows = session.scalars(
        query.order_by(Run.created_at.desc(), Run.id)
        .limit(limit)
        .offset(offset)
        .options(selectinload(Run.phases), selectinload(Run.tiers))
    ).all()
    return list(rows), total


def set_run_state(
    session: Session,
    run: Run,
    requested: RunState,
    *,
    reason: str | None = None,
    via: str | None = None,
    now: datetime | None = None,
) -> None:
    """Move a run through the state machine; IllegalTransition when it refuses."""
    result = transition("run", run.state, requested.value, via=via)
    if not result.accepted:
        raise IllegalTransition(
            result.reason,
            current=run.state,
            requested=requested.value,
            allowed=result.allowed,
            run_id=run.id,
        )
    now = now or utcnow()
    run.state = requested.value
    if requested.is_terminal:
        run.completed_at = now
        run.lease_owner = None
        run.lease_expires_at = None
        if requested.is_failure or requested is RunState.DONE_CANCELLED:
            run.failure_reason = reason or run.failure_reason
    elif run.started_at is None and requested is RunState.PHASE_EXECUTION:
        run.started_at = now
    if via == "resume":
        run.completed_at = None
        run.failure_reason = None
    session.flush()
    if requested.is_terminal:
        # In this transaction: the end and its notification commit together (fencing).
        notifications.run_ended(session, run)


def set_tier_state(
    session: Session,
    tier: Tier,
    requested: TierState,
    *,
    via: str | None = None,
    now: datetime | None = None,
) -> None:
    result = transition("tier", tier.state, requested.value, via=via)
    if not result.accepted:
        raise IllegalTransition(
            result.reason, current=tier.state, requested=requested.value, allowed=result.allowed
        )
    now = now or utcnow()
    tier.state = requested.value
    if requested is TierState.IN_PROGRESS and tier.started_at is None:
        tier.started_at = now
    if requested.is_terminal:
        tier.completed_at = now
    session.flush()


def request_cancel(session: Session, run_id: str, *, actor: str) -> Run:
    """Ask a run to stop at its next step; a run that is not executing is cancelled now.
    The decision log records ``actor`` as who asked."""
    run = get_run(session, run_id)
    if RunState(run.state).is_terminal:
        raise IllegalTransition(
            f"run {run_id!r} already ended in {run.state}; nothing to cancel",
            current=run.state,
            requested=RunState.DONE_CANCELLED.value,
            allowed=[],
        )
    run.cancel_requested = True
    now = utcnow()
    executing = run.lease_owner is not None and (
        run.lease_expires_at is not None and run.lease_expires_at > now
    )
    if not executing:  # no executor, or one whose lease ran out (it died): stop now
        set_run_state(session, run, RunState.DONE_CANCELLED, reason="cancelled by request")
    record_decision(
        session,
        actor=actor,
        decision="cancel_requested",
        rationale="stopping at its next step" if executing else "cancelled at once",
        run_id=run_id,
    )
    session.flush()
    return run


def run_spec(run: Run) -> RunSpec:
    """The RunSpec the run was created from."""
    data: dict[str, Any] = dict(run.spec or {})
    if not data:  # a run written by an older tool: rebuild from rows
        data = {
            "run_id": run.id,
            "name": run.name or run.id,
            "tiers": [
                {"tier_id": t.tier_id, "name": t.name or t.tier_id, "tier_index": t.tier_index}
                for t in run.tiers
            ],
            "phases": [
                {
                    "phase_id": p.phase_id,
                    "tier_id": p.tier.tier_id,
                    "name": p.name or p.phase_id,
                    "phase_index": p.phase_index,
                    "scope": p.scope or {},
                }
                for p in run.phases
            ],
        }
    return RunSpec.model_validate(data)


def phase_report(phase: Phase, *, history: bool = True) -> str:
    """The readable part of a phase summary: attempts (with apply and test outcomes),
    decisions, files changed and the last failure. ``history=False`` skips reading the
    decision log (a phase that has none yet)."""
    lines = [
        "## Attempts",
        "",
        "| # | role | status | model | tokens | apply | tests |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for a in phase.attempts:
        payload = a.payload or {}
        tests = (payload.get("tests") or {}).get("summary", "")
        lines.append(
            f"| {a.attempt_number} | {a.role} | {a.status} | {a.model or '-'} | "
            f"{a.tokens_used} | {a.apply_status or '-'} | "
            f"{str(tests).replace('|', '/')[:160] or '-'} |"
        )
    session = object_session(phase) if history else None
    if session is not None:
        decisions = session.scalars(
            select(DecisionLog)
            .where(DecisionLog.run_id == phase.run_id, DecisionLog.phase_id == phase.phase_id)
            .order_by(DecisionLog.id)
        ).all()
        if decisions:
            lines += ["", "## Decisions", ""]
            lines += [
                f"- {d.created_at:%H:%M:%S} {d.actor}: **{d.decision}** {d.rationale}"
                for d in decisions
            ]
    lines += context_report(phase.attempts)
    files = sorted({f for a in phase.attempts for f in (a.payload or {}).get("files_changed", [])})
    if files:
        lines += ["", "## Files changed", "", *[f"- {f}" for f in files]]
    if phase.last_failure:
        lines += ["", "## Last failure", "", phase.last_failure]
    return "\n".join(lines)
