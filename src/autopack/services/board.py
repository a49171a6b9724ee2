"""Read models for the dashboard: run cards, a run's timeline, a phase's attempts.

Every function here runs a fixed number of queries whatever the number of runs or
phases (aggregates and column selects, never one query per phase), so pages stay fast
with tens of thousands of phases.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer, joinedload

from autopack.db.orm import (
    Approval,
    DecisionLog,
    HumanNote,
    LlmUsageEvent,
    Phase,
    PhaseAttempt,
    ProjectIssue,
    Run,
    Tier,
    utcnow,
)
from autopack.domain.states import ApprovalStatus, PhaseState, RunState
from autopack.errors import NotFoundError
from autopack.services.issues import backlog_view

#: The board's columns, in order, with their headings.
COLUMNS: dict[str, str] = {
    "queued": "Queued",
    "running": "Running",
    "waiting": "Waiting for a person",
    "done": "Done",
    "failed": "Failed",
}
_ACTIVE_PHASE = (
    PhaseState.EXECUTING.value,
    PhaseState.GATE.value,
    PhaseState.CI_RUNNING.value,
    PhaseState.AWAITING_APPROVAL.value,
)
_DONE_PHASE = (PhaseState.COMPLETE.value, PhaseState.SKIPPED.value)
#: A run's plan is stored whole (``spec``, with every phase): tens of milliseconds of JSON
#: per thousand phases that no page shows, so page reads leave it (and the intention
#: anchor) unloaded.
_LIGHT_RUN = (defer(Run.spec), defer(Run.intention))


def column_for(state: str, *, executing: bool, waiting: bool) -> str:
    """The board column of a run: its terminal state decides, then a pending approval,
    then whether an executor holds it now."""
    if state == RunState.DONE_SUCCESS.value:
        return "done"
    if state.startswith("DONE_"):
        return "failed"
    if waiting:
        return "waiting"
    return "running" if executing else "queued"


def _age(created: datetime, now: datetime) -> str:
    seconds = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def run_cards(
    session: Session,
    *,
    repo: str | None = None,
    column: str | None = None,
    run_ids: list[str] | None = None,
    executing_only: bool = False,
    limit: int = 200,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Cards for the newest ``limit`` runs (filtered by repository path, board column,
    ids, or to runs an executor holds a lease on): state, column, phases complete/total,
    the phase running now, tokens, cost, age. Five queries in all."""
    now = now or utcnow()
    query = select(
        Run.id,
        Run.name,
        Run.state,
        Run.repo_path,
        Run.tokens_used,
        Run.token_cap,
        Run.created_at,
        Run.lease_owner,
        Run.lease_expires_at,
        Run.cancel_requested,
        Run.failure_reason,
    ).order_by(Run.created_at.desc(), Run.id)
    if repo:
        query = query.where(Run.repo_path == repo)
    if run_ids is not None:
        query = query.where(Run.id.in_(run_ids))
    if executing_only:
        query = query.where(Run.lease_owner.is_not(None))
    rows = session.execute(query.limit(limit)).all()
    ids = [r.id for r in rows]
    if not ids:
        return []
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for run_id, state, n in session.execute(
        select(Phase.run_id, Phase.state, func.count())
        .where(Phase.run_id.in_(ids))
        .group_by(Phase.run_id, Phase.state)
    ):
        counts[run_id][state] = n
    current: dict[str, tuple[str, str, str]] = {}
    for run_id, phase_id, name, state in session.execute(
        select(Phase.run_id, Phase.phase_id, Phase.name, Phase.state)
        .join(Tier, Tier.id == Phase.tier_pk)
        .where(Phase.run_id.in_(ids), Phase.state.in_(_ACTIVE_PHASE))
        .order_by(Tier.tier_index, Phase.phase_index)
    ):
        current.setdefault(run_id, (phase_id, name, state))
    costs = dict(
        session.execute(
            select(LlmUsageEvent.run_id, func.coalesce(func.sum(LlmUsageEvent.cost_usd), 0.0))
            .where(LlmUsageEvent.run_id.in_(ids))
            .group_by(LlmUsageEvent.run_id)
        ).all()
    )
    waiting = set(
        session.scalars(
            select(Approval.run_id)
            .where(Approval.run_id.in_(ids), Approval.status == ApprovalStatus.PENDING.value)
            .distinct()
        )
    )
    cards = []
    for r in rows:
        by_state = counts.get(r.id, {})
        executing = r.lease_owner is not None and (
            r.lease_expires_at is None or r.lease_expires_at > now
        )
        col = column_for(r.state, executing=executing, waiting=r.id in waiting)
        if (column and col != column) or (executing_only and not executing):
            continue
        phase = current.get(r.id)
        cards.append(
            {
                "run_id": r.id,
                "name": r.name,
                "state": r.state,
                "column": col,
                "repo": r.repo_path,
                "phases_total": sum(by_state.values()),
                "phases_complete": sum(by_state.get(s, 0) for s in _DONE_PHASE),
                "phases_failed": by_state.get(PhaseState.FAILED.value, 0),
                "current_phase": phase[0] if phase else None,
                "current_phase_name": phase[1] if phase else None,
                "current_phase_state": phase[2] if phase else None,
                "tokens_used": r.tokens_used,
                "token_cap": r.token_cap,
                "cost_usd": round(float(costs.get(r.id) or 0.0), 4),
                "age": _age(r.created_at, now),
                "created_at": r.created_at.isoformat(),
                "executing": executing,
                "cancel_requested": r.cancel_requested,
                "failure_reason": (r.failure_reason or "").splitlines()[0][:200]
                if r.failure_reason
                else None,
            }
        )
    return cards


def run_card(session: Session, run_id: str) -> dict[str, Any] | None:
    """One run's card (what a live event carries), or None for an unknown run."""
    cards = run_cards(session, run_ids=[run_id], limit=1)
    return cards[0] if cards else None


def repositories(session: Session) -> list[str]:
    """Every repository path runs target, for the board's filter."""
    return sorted(p for p in session.scalars(select(Run.repo_path).distinct()) if p is not None)


def _duration(start: datetime | None, end: datetime | None, now: datetime) -> str | None:
    if start is None:
        return None
    return _age(start, end or now)


#: Phases shown per page of a run's timeline (a run may have thousands).
TIMELINE_PAGE = 200


def run_timeline(
    session: Session,
    run_id: str,
    now: datetime | None = None,
    *,
    offset: int = 0,
    limit: int = TIMELINE_PAGE,
) -> dict[str, Any]:
    """A run's header, its tiers with phase counts by state, and one page of its phases
    (``offset``/``limit`` in tier and phase order: state, attempts, tokens, durations), in
    four queries. NotFoundError for an unknown run."""
    now = now or utcnow()
    run = session.get(Run, run_id, options=_LIGHT_RUN)
    if run is None:
        raise NotFoundError(f"run {run_id!r} not found; see the board at /ui/", run_id=run_id)
    tiers = session.execute(
        select(Tier.id, Tier.tier_id, Tier.name, Tier.state, Tier.started_at, Tier.completed_at)
        .where(Tier.run_id == run_id)
        .order_by(Tier.tier_index)
    ).all()
    phases_by_tier: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in session.execute(
        select(
            Phase.tier_pk,
            Phase.phase_id,
            Phase.name,
            Phase.state,
            Phase.builder_attempts,
            Phase.auditor_attempts,
            Phase.doctor_calls,
            Phase.tokens_used,
            Phase.started_at,
            Phase.completed_at,
            Phase.commit_sha,
            Phase.last_failure,
        )
        .join(Tier, Tier.id == Phase.tier_pk)
        .where(Phase.run_id == run_id)
        .order_by(Tier.tier_index, Phase.phase_index)
        .offset(offset)
        .limit(limit)
    ):
        phases_by_tier[p.tier_pk].append(
            {
                "phase_id": p.phase_id,
                "name": p.name,
                "state": p.state,
                "builder_attempts": p.builder_attempts,
                "auditor_attempts": p.auditor_attempts,
                "doctor_calls": p.doctor_calls,
                "tokens_used": p.tokens_used,
                "duration": _duration(p.started_at, p.completed_at, now),
                "commit_sha": p.commit_sha,
                "last_failure": (p.last_failure or "").splitlines()[0][:200]
                if p.last_failure
                else None,
            }
        )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for tier_pk, state, n in session.execute(
        select(Phase.tier_pk, Phase.state, func.count())
        .where(Phase.run_id == run_id)
        .group_by(Phase.tier_pk, Phase.state)
    ):
        counts[tier_pk][state] = n
    phase_total = sum(n for by_state in counts.values() for n in by_state.values())
    phases_done = sum(by_state.get(s, 0) for by_state in counts.values() for s in _DONE_PHASE)
    elapsed = (
        ((run.completed_at or now) - run.started_at).total_seconds() / 60 if run.started_at else 0.0
    )
    return {
        "run": run,
        "tiers": [
            {
                "tier_id": t.tier_id,
                "name": t.name,
                "state": t.state,
                "duration": _duration(t.started_at, t.completed_at, now),
                "phases": phases_by_tier.get(t.id, []),
                "counts": counts.get(t.id, {}),
            }
            for t in tiers
        ],
        "phase_total": phase_total,
        "offset": offset,
        "limit": limit,
        "gauges": [
            _gauge("Tokens", run.tokens_used, run.token_cap),
            _gauge("Time (minutes)", round(elapsed, 1), run.max_duration_minutes),
            _gauge("CI runs", run.ci_runs_used, run.ci_run_cap),
            _gauge("Phases", phases_done, min(run.max_phases, phase_total) or phase_total),
        ],
    }


def _gauge(label: str, used: float, cap: float | None) -> dict[str, Any]:
    percent = min(100.0, 100.0 * used / cap) if cap else None
    return {"label": label, "used": used, "cap": cap, "percent": percent}


def phase_attempts(session: Session, run_id: str, phase_id: str) -> tuple[Phase, list[Any]]:
    """A phase (with its run, loaded without the stored plan) and its attempts (all roles,
    in order); NotFoundError when unknown."""
    phase = session.scalars(
        select(Phase)
        .options(joinedload(Phase.run).options(*_LIGHT_RUN))
        .where(Phase.run_id == run_id, Phase.phase_id == phase_id)
    ).one_or_none()
    if phase is None:
        raise NotFoundError(
            f"phase {phase_id!r} of run {run_id!r} not found", run_id=run_id, phase_id=phase_id
        )
    attempts = list(
        session.scalars(
            select(PhaseAttempt)
            .where(PhaseAttempt.phase_pk == phase.id)
            .order_by(PhaseAttempt.created_at, PhaseAttempt.id)
        )
    )
    return phase, attempts


def phase_calls(session: Session, run_id: str, phase_id: str) -> list[LlmUsageEvent]:
    """The phase's LLM calls (tokens, cost, latency), oldest first."""
    return list(
        session.scalars(
            select(LlmUsageEvent)
            .where(LlmUsageEvent.run_id == run_id, LlmUsageEvent.phase_id == phase_id)
            .order_by(LlmUsageEvent.id)
        )
    )


def decision_log(session: Session, run_id: str | None, limit: int = 200) -> list[DecisionLog]:
    """The newest ``limit`` executor and people's decisions (of one run, or of all)."""
    query = select(DecisionLog).order_by(DecisionLog.id.desc()).limit(limit)
    if run_id:
        query = query.where(DecisionLog.run_id == run_id)
    return list(session.scalars(query))


#: Backlog issues shown per page (a long-lived project collects thousands).
BACKLOG_PAGE = 200


def backlog_page(
    session: Session, *, offset: int = 0, limit: int = BACKLOG_PAGE
) -> tuple[list[dict[str, Any]], int]:
    """One page of the project backlog, oldest (in runs) first, then most seen, then by
    key; and how many issues there are in all."""
    total = session.scalar(select(func.count()).select_from(ProjectIssue)) or 0
    rows = session.scalars(
        select(ProjectIssue)
        .order_by(
            ProjectIssue.age_in_runs.desc(),
            ProjectIssue.occurrence_count.desc(),
            ProjectIssue.issue_key,
        )
        .offset(offset)
        .limit(limit)
    )
    return [backlog_view(r) for r in rows], int(total)


def recent_notes(session: Session, limit: int = 100) -> list[HumanNote]:
    """The newest human notes, for the notes page."""
    return list(session.scalars(select(HumanNote).order_by(HumanNote.id.desc()).limit(limit)))


def recent_decided_approvals(session: Session, limit: int = 20) -> list[Approval]:
    """The newest ``limit`` decided approvals, oldest of them first (the approvals page's
    history; never every approval ever made)."""
    rows = session.scalars(
        select(Approval)
        .where(Approval.status != ApprovalStatus.PENDING.value)
        .order_by(Approval.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


def pending_approvals(session: Session) -> list[tuple[Approval, str]]:
    """Pending approvals, oldest first, each with the Builder's answer of the attempt it
    holds (what a large deletion would write when no diff was stored)."""
    rows = list(
        session.scalars(
            select(Approval)
            .where(Approval.status == ApprovalStatus.PENDING.value)
            .order_by(Approval.id)
        )
    )
    attempt_ids = [a.details.get("attempt_id") for a in rows if a.details.get("attempt_id")]
    texts: dict[int, str] = {}
    if attempt_ids:
        for attempt in session.scalars(
            select(PhaseAttempt).where(PhaseAttempt.id.in_(attempt_ids))
        ):
            texts[attempt.id] = str(attempt.payload.get("text", ""))
    return [(a, texts.get(a.details.get("attempt_id") or -1, "")) for a in rows]
