"""Issue tracking at three levels: the phase, the run's index, and the project backlog.

Issue keys are de-duplicated at every level. The backlog ages an issue once per run and
once per tier it is seen in; an issue seen in too many runs or tiers becomes
``needs_cleanup``. A closed issue that is seen again is reopened.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.orm import Phase, PhaseIssue, ProjectIssue, Run, RunIssue
from autopack.domain.states import IssueSeverity, IssueStatus

#: An issue seen in this many runs, or this many tiers, needs cleanup.
CLEANUP_AFTER_RUNS = 3
CLEANUP_AFTER_TIERS = 3
#: Major issues need cleanup sooner.
CLEANUP_AFTER_RUNS_MAJOR = 2


def _append_unique(values: list[Any], value: Any) -> tuple[list[Any], bool]:
    if value in values:
        return values, False
    return [*values, value], True


def record_issue(
    session: Session,
    phase: Phase,
    *,
    issue_key: str,
    severity: IssueSeverity,
    source: str,
    category: str,
    description: str = "",
    evidence_refs: list[str] | None = None,
) -> dict[str, Any]:
    """Record one issue for ``phase`` at phase, run and project level (flush only).

    Returns the three entries, shaped like the original's record_issue response.
    """
    run: Run = phase.run
    tier_key = f"{run.id}:{phase.tier.tier_id}"
    evidence = list(evidence_refs or [])

    phase_issue = session.scalars(
        select(PhaseIssue).where(PhaseIssue.phase_pk == phase.id, PhaseIssue.issue_key == issue_key)
    ).one_or_none()
    if phase_issue is None:
        phase_issue = PhaseIssue(
            run_id=run.id,
            phase_pk=phase.id,
            issue_key=issue_key,
            severity=severity.value,
            source=source,
            category=category,
            description=description,
            evidence_refs=evidence,
            occurrence_count=1,
        )
        session.add(phase_issue)
    else:
        phase_issue.occurrence_count += 1
        if severity is IssueSeverity.MAJOR:
            phase_issue.severity = severity.value
        phase_issue.evidence_refs = sorted({*phase_issue.evidence_refs, *evidence})
        phase_issue.description = description or phase_issue.description

    run_issue = session.scalars(
        select(RunIssue).where(RunIssue.run_id == run.id, RunIssue.issue_key == issue_key)
    ).one_or_none()
    if run_issue is None:
        run_issue = RunIssue(
            run_id=run.id,
            issue_key=issue_key,
            severity=severity.value,
            category=category,
            occurrence_count=0,
            phase_ids=[],
            tier_ids=[],
            first_seen_phase_id=phase.phase_id,
        )
        session.add(run_issue)
    run_issue.occurrence_count += 1
    run_issue.last_seen_phase_id = phase.phase_id
    run_issue.phase_ids, _ = _append_unique(list(run_issue.phase_ids), phase.phase_id)
    run_issue.tier_ids, _ = _append_unique(list(run_issue.tier_ids), phase.tier.tier_id)
    if severity is IssueSeverity.MAJOR:
        run_issue.severity = severity.value

    backlog = session.get(ProjectIssue, issue_key)
    if backlog is None:
        backlog = ProjectIssue(
            issue_key=issue_key,
            base_severity=severity.value,
            category=category,
            status=IssueStatus.OPEN.value,
            seen_in_runs=[],
            seen_in_tiers=[],
            first_seen_run_id=run.id,
            age_in_runs=0,
            age_in_tiers=0,
            occurrence_count=0,
        )
        session.add(backlog)
    backlog.occurrence_count += 1
    backlog.last_seen_run_id = run.id
    backlog.seen_in_runs, new_run = _append_unique(list(backlog.seen_in_runs), run.id)
    backlog.seen_in_tiers, new_tier = _append_unique(list(backlog.seen_in_tiers), tier_key)
    backlog.age_in_runs += int(new_run)
    backlog.age_in_tiers += int(new_tier)
    if severity is IssueSeverity.MAJOR:
        backlog.base_severity = severity.value
    backlog.status = _backlog_status(backlog).value

    session.flush()
    _refresh_counts(session, phase)
    return {
        "phase_file": issue_view(phase_issue, phase),
        "run_index_entry": run_issue_view(run_issue),
        "project_backlog_entry": backlog_view(backlog),
    }


def _backlog_status(entry: ProjectIssue) -> IssueStatus:
    runs_limit = (
        CLEANUP_AFTER_RUNS_MAJOR
        if entry.base_severity == IssueSeverity.MAJOR.value
        else CLEANUP_AFTER_RUNS
    )
    if entry.age_in_runs >= runs_limit or entry.age_in_tiers >= CLEANUP_AFTER_TIERS:
        return IssueStatus.NEEDS_CLEANUP
    return IssueStatus.OPEN


def _refresh_counts(session: Session, phase: Phase) -> None:
    """Recompute distinct-issue counts for the phase, its tier and its run."""

    def counts(where: Any) -> tuple[int, int]:
        rows = session.scalars(select(PhaseIssue.severity).where(where)).all()
        return (
            sum(1 for s in rows if s == IssueSeverity.MINOR.value),
            sum(1 for s in rows if s == IssueSeverity.MAJOR.value),
        )

    phase.minor_issues_count, phase.major_issues_count = counts(PhaseIssue.phase_pk == phase.id)
    phase.issue_state = (
        "has_major_issues"
        if phase.major_issues_count
        else "has_minor_issues"
        if phase.minor_issues_count
        else "no_issues"
    )
    tier = phase.tier
    tier_phase_ids = [p.id for p in tier.phases]
    tier.minor_issues_count, tier.major_issues_count = counts(
        PhaseIssue.phase_pk.in_(tier_phase_ids)
    )
    minor_ok = (
        tier.max_minor_issues_tolerated is None
        or tier.minor_issues_count <= tier.max_minor_issues_tolerated
    )
    tier.cleanliness = (
        "clean"
        if minor_ok and tier.major_issues_count <= tier.max_major_issues_tolerated
        else "not_clean"
    )
    run = phase.run
    run.minor_issues_count, run.major_issues_count = counts(PhaseIssue.run_id == run.id)
    run.debt_status = (
        "excess_minor_issues"
        if run.minor_issues_count > run.max_minor_issues_total
        else "has_major_issues"
        if run.major_issues_count
        else "has_minor_issues"
        if run.minor_issues_count
        else "clean"
    )
    session.flush()


def close_issue(session: Session, issue_key: str) -> ProjectIssue | None:
    entry = session.get(ProjectIssue, issue_key)
    if entry is not None:
        entry.status = IssueStatus.CLOSED.value
        session.flush()
    return entry


def issue_view(issue: PhaseIssue, phase: Phase) -> dict[str, Any]:
    return {
        "phase_id": phase.phase_id,
        "phase_index": phase.phase_index,
        "tier_id": phase.tier.tier_id,
        "issue_key": issue.issue_key,
        "severity": issue.severity,
        "source": issue.source,
        "category": issue.category,
        "description": issue.description,
        "evidence_refs": list(issue.evidence_refs),
        "occurrence_count": issue.occurrence_count,
        "minor_issue_count": phase.minor_issues_count,
        "major_issue_count": phase.major_issues_count,
        "issue_state": phase.issue_state,
    }


def run_issue_view(entry: RunIssue) -> dict[str, Any]:
    return {
        "issue_key": entry.issue_key,
        "severity": entry.severity,
        "category": entry.category,
        "occurrence_count": entry.occurrence_count,
        "phase_ids": list(entry.phase_ids),
        "tier_ids": list(entry.tier_ids),
        "first_seen_phase_id": entry.first_seen_phase_id,
        "last_seen_phase_id": entry.last_seen_phase_id,
    }


def backlog_view(entry: ProjectIssue) -> dict[str, Any]:
    return {
        "issue_key": entry.issue_key,
        "base_severity": entry.base_severity,
        "category": entry.category,
        "status": entry.status,
        "age_in_runs": entry.age_in_runs,
        "age_in_tiers": entry.age_in_tiers,
        "occurrence_count": entry.occurrence_count,
        "seen_in_runs": list(entry.seen_in_runs),
        "seen_in_tiers": list(entry.seen_in_tiers),
        "first_seen_run_id": entry.first_seen_run_id,
        "last_seen_run_id": entry.last_seen_run_id,
    }


def run_issue_index(session: Session, run_id: str) -> dict[str, Any]:
    rows = session.scalars(
        select(RunIssue).where(RunIssue.run_id == run_id).order_by(RunIssue.issue_key)
    ).all()
    return {"run_id": run_id, "issues_by_key": {r.issue_key: run_issue_view(r) for r in rows}}


def project_backlog(session: Session) -> dict[str, Any]:
    rows = session.scalars(select(ProjectIssue).order_by(ProjectIssue.issue_key)).all()
    return {"issues_by_key": {r.issue_key: backlog_view(r) for r in rows}}


def phase_issues(session: Session, phase: Phase) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(PhaseIssue).where(PhaseIssue.phase_pk == phase.id).order_by(PhaseIssue.id)
    ).all()
    return [issue_view(r, phase) for r in rows]
