"""Read-side queries behind /metrics, /reports and the dashboard's run status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from autopack.db.orm import Phase, ProjectIssue, Run, Tier
from autopack.domain.states import IssueStatus, PhaseState, RunState, TierState
from autopack.services.issues import backlog_view
from autopack.services.run_overview import read_run_summary
from autopack.services.run_status import read_run_status
from autopack.services.runs import get_run

BUDGET_FAILURE_STATES = (
    RunState.DONE_FAILED_BUDGET_EXHAUSTED,
    RunState.DONE_FAILED_PHASE_LIMIT_EXCEEDED,
    RunState.DONE_FAILED_TOKEN_CAP_EXCEEDED,
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _utilization(run: Run) -> float:
    return run.tokens_used / run.token_cap if run.token_cap > 0 else 0.0


def run_metrics(session: Session, state: RunState | None = None) -> dict[str, Any]:
    query = select(Run).options(selectinload(Run.phases), selectinload(Run.tiers))
    if state is not None:
        query = query.where(Run.state == state.value)
    runs = session.scalars(query.order_by(Run.created_at)).all()
    items = [
        {
            "run_id": r.id,
            "state": r.state,
            "safety_profile": r.safety_profile,
            "tokens_used": r.tokens_used,
            "token_cap": r.token_cap,
            "token_utilization": _utilization(r),
            "minor_issues_count": r.minor_issues_count,
            "major_issues_count": r.major_issues_count,
            "max_minor_issues_total": r.max_minor_issues_total,
            "phase_count": len(r.phases),
            "tier_count": len(r.tiers),
            "started_at": _iso(r.started_at),
            "completed_at": _iso(r.completed_at),
        }
        for r in runs
    ]
    return {"total_runs": len(items), "runs": items}


def _tier_phases(run: Run, tier: Tier) -> list[Phase]:
    return [p for p in run.phases if p.tier_pk == tier.id]


def tier_metrics(session: Session, run_id: str) -> dict[str, Any]:
    run = get_run(session, run_id)
    tiers = []
    for tier in run.tiers:
        phases = _tier_phases(run, tier)
        states: dict[str, int] = {}
        for p in phases:
            states[p.state] = states.get(p.state, 0) + 1
        tiers.append(
            {
                "tier_id": tier.tier_id,
                "tier_index": tier.tier_index,
                "name": tier.name,
                "state": tier.state,
                "cleanliness": tier.cleanliness,
                "minor_issues_count": tier.minor_issues_count,
                "major_issues_count": tier.major_issues_count,
                "phase_count": len(phases),
                "phase_states": states,
                "tokens_used": sum(p.tokens_used for p in phases),
            }
        )
    return {"run_id": run_id, "tier_count": len(tiers), "tiers": tiers}


def issue_backlog_summary(session: Session) -> dict[str, Any]:
    entries = session.scalars(select(ProjectIssue)).all()
    ordered = sorted(entries, key=lambda e: (-e.age_in_runs, -e.age_in_tiers, e.issue_key))
    views = [backlog_view(e) for e in ordered]
    return {
        "total_issues": len(views),
        "open_count": sum(1 for v in views if v["status"] == IssueStatus.OPEN.value),
        "needs_cleanup_count": sum(
            1 for v in views if v["status"] == IssueStatus.NEEDS_CLEANUP.value
        ),
        "closed_count": sum(1 for v in views if v["status"] == IssueStatus.CLOSED.value),
        "top_aging_issues": views[:10],
        "needs_cleanup": [v for v in views if v["status"] == IssueStatus.NEEDS_CLEANUP.value],
    }


def budget_analysis(session: Session) -> dict[str, Any]:
    runs = session.scalars(
        select(Run)
        .where(Run.state.in_([s.value for s in BUDGET_FAILURE_STATES]))
        .options(selectinload(Run.phases))
        .order_by(Run.created_at)
    ).all()
    failures: list[dict[str, Any]] = [
        {
            "run_id": r.id,
            "state": r.state,
            "failure_reason": r.failure_reason,
            "tokens_used": r.tokens_used,
            "token_cap": r.token_cap,
            "token_utilization": _utilization(r),
            "phase_count": len(r.phases),
            "max_phases": r.max_phases,
            "minor_issues_count": r.minor_issues_count,
            "max_minor_issues_total": r.max_minor_issues_total,
            "started_at": _iso(r.started_at),
            "completed_at": _iso(r.completed_at),
        }
        for r in runs
    ]
    average = (sum(f["token_utilization"] for f in failures) / len(failures)) if failures else 0.0
    return {
        "total_budget_failures": len(failures),
        "average_token_utilization": average,
        "failures": failures,
    }


def run_summary(session: Session, run_id: str) -> dict[str, Any]:
    """The run's summary (see :func:`autopack.services.run_overview.read_run_summary`,
    which `autopack status` calls without the ORM). Pending changes are flushed first, as
    an ORM query would (autoflush), so the read sees this session's own writes."""
    session.flush()
    return read_run_summary(session.connection(), run_id)


def dashboard_run_status(session: Session, run_id: str) -> dict[str, Any]:
    """Progress of a run for the dashboard, in the original's DashboardRunStatus shape,
    from the run's status read model (a fixed number of queries, whatever its size)."""
    view = read_run_status(session, run_id)
    current = view.current
    completed_phases = sum(view.phase_counts.get(s, 0) for s in _DONE_PHASES)
    completed_tiers = sum(view.tier_counts.get(s, 0) for s in _DONE_TIERS)
    warnings = []
    if current is not None and current.quality_blocked:
        warnings.append(f"Phase {current.phase_id} is blocked by quality gate")
    elif current is not None and current.quality_level == "needs_review":
        warnings.append(f"Phase {current.phase_id} needs human review")
    if current is not None and current.state == PhaseState.AWAITING_APPROVAL.value:
        warnings.append(f"Phase {current.phase_id} is waiting for approval")
    total_phases, total_tiers = view.total_phases, view.total_tiers
    return {
        "run_id": view.run_id,
        "state": view.state,
        "current_tier_name": current.tier_name if current else None,
        "current_phase_name": current.name if current else None,
        "current_tier_index": current.tier_index if current else None,
        "current_phase_index": current.phase_index if current else None,
        "total_tiers": total_tiers,
        "total_phases": total_phases,
        "completed_tiers": completed_tiers,
        "completed_phases": completed_phases,
        "percent_complete": round(100.0 * completed_phases / total_phases, 2)
        if total_phases
        else 0.0,
        "tiers_percent_complete": round(100.0 * completed_tiers / total_tiers, 2)
        if total_tiers
        else 0.0,
        "tokens_used": view.tokens_used,
        "token_cap": view.token_cap,
        "token_utilization": view.tokens_used / view.token_cap if view.token_cap > 0 else 0.0,
        "minor_issues_count": view.minor_issues_count,
        "major_issues_count": view.major_issues_count,
        "quality_level": current.quality_level if current else None,
        "quality_blocked": current.quality_blocked if current else False,
        "quality_warnings": warnings,
    }


_DONE_PHASES = (PhaseState.COMPLETE.value, PhaseState.SKIPPED.value)
_DONE_TIERS = (TierState.COMPLETE.value, TierState.SKIPPED.value)


def tiers_with_phases(session: Session, run_id: str) -> list[Tier]:
    return list(
        session.scalars(
            select(Tier)
            .where(Tier.run_id == run_id)
            .options(selectinload(Tier.phases))
            .order_by(Tier.tier_index)
        ).all()
    )
