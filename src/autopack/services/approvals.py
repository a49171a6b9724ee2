"""Approvals: a person's yes or no on what Autopack will not do alone.

Kinds (``Approval.kind``): ``large_deletion`` (a net deletion over the guard's threshold,
before it is applied), ``auditor_escalation`` (the Auditor asked for a person),
``auditor_budget`` (the Auditor's reviews of the phase are used up and no reviewer approved
the attempt), ``test_removal`` (a phase with ``allow_test_removal`` removed or skipped tests
that passed in the baseline) and ``human_review`` (a ``safety_critical`` run, or a phase
with no Auditor). For the kinds raised after an attempt was applied, the details hold the
attempt's ``diff`` and the Auditor's last notes (``auditor_notes``), and the attempt's
commits wait off the run branch under ``held_ref`` until the run resumes.

A phase that needs approval waits in AWAITING_APPROVAL with one pending approval that
holds what is to be applied. Approving applies it (through the same governed apply, with
the deletion guard lifted for exactly that change) and returns the phase to the state its
result asked for; rejecting discards it and sends the phase back to the Builder with the
reason. Both are recorded in the decision log.

An approval may carry an expiry (``expires_at``, ``on_expiry`` from the plan's
``approvals`` policy or the settings' default). :func:`expire_overdue` expires those
nobody decided in time (status ``expired``, decided by ``policy:expiry``): ``reject``
sends the phase back to the Builder told why, ``fail_phase`` fails the phase (and ends
a parked run) with a reason that says the approval expired. It is called wherever
waiting runs are looked at: the executor meeting a parked phase, the server's and the
workers' maintenance loops, and ``autopack approvals list``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from autopack.db.orm import Approval, DecisionLog, Phase, PhaseAttempt, Run, Tier, utcnow
from autopack.domain.states import ApprovalStatus, PhaseState, RunState, TierState
from autopack.errors import IllegalTransition, NotFoundError
from autopack.services import notifications
from autopack.services.phases import get_phase, set_phase_state
from autopack.services.runs import set_run_state, set_tier_state

#: Who expires an approval, in ``decided_by`` and the decision log.
EXPIRY_ACTOR = "policy:expiry"
OnExpiry = Literal["reject", "fail_phase"]

#: Applies an approved change: (session, phase, approval) -> apply result dict.
ApproveHook = Callable[[Session, Phase, Approval], dict[str, Any] | None]


def request_approval(
    session: Session,
    phase: Phase,
    *,
    kind: str,
    reason: str,
    details: dict[str, Any],
    expire_after_minutes: int | None = None,
    on_expiry: OnExpiry = "reject",
    now: datetime | None = None,
) -> Approval:
    """Park ``phase`` in AWAITING_APPROVAL with a pending approval (flush only); with
    ``expire_after_minutes`` it expires that long after ``now`` (see :func:`expire_overdue`)."""
    requested_at = now or utcnow()
    approval = Approval(
        run_id=phase.run_id,
        phase_id=phase.phase_id,
        kind=kind,
        status=ApprovalStatus.PENDING.value,
        reason=reason,
        details=details,
        requested_at=requested_at,
        expires_at=(
            requested_at + timedelta(minutes=expire_after_minutes) if expire_after_minutes else None
        ),
        on_expiry=on_expiry if expire_after_minutes else None,
    )
    session.add(approval)
    set_phase_state(session, phase, PhaseState.AWAITING_APPROVAL)
    session.add(
        DecisionLog(
            run_id=phase.run_id,
            phase_id=phase.phase_id,
            actor="guard",
            decision="approval_requested",
            rationale=reason,
            details={"kind": kind, **{k: v for k, v in details.items() if k != "patch"}},
        )
    )
    session.flush()
    notifications.approval_requested(session, approval)
    return approval


def list_approvals(
    session: Session, *, status: ApprovalStatus | None = None, run_id: str | None = None
) -> list[Approval]:
    query = select(Approval).order_by(Approval.id)
    if status is not None:
        query = query.where(Approval.status == status.value)
    if run_id is not None:
        query = query.where(Approval.run_id == run_id)
    return list(session.scalars(query).all())


def get_approval(session: Session, approval_id: int) -> Approval:
    approval = session.get(Approval, approval_id)
    if approval is None:
        raise NotFoundError(
            f"approval {approval_id} not found; list them with GET /approvals "
            "or `autopack approvals list`",
            approval_id=approval_id,
        )
    return approval


def is_overdue(approval: Approval, now: datetime) -> bool:
    """Whether ``approval`` is pending past its expiry (what :func:`expire_overdue`
    expires; it locks and reads the approvals again before acting)."""
    return (
        approval.status == ApprovalStatus.PENDING.value
        and approval.expires_at is not None
        and approval.expires_at <= now
    )


def _locked(
    session: Session, *where: ColumnElement[bool], skip_locked: bool = False
) -> list[Approval]:
    """The approvals matching ``where``, read fresh and locked until the transaction ends,
    so a person's decision and the expiry check never both act on one pending approval.

    PostgreSQL: ``SELECT ... FOR UPDATE`` (``skip_locked``: rows another transaction is
    deciding are left out). SQLite has no row locks and reads take none: a no-op UPDATE
    first takes the database's write lock (as the lease fence does), so the rows read
    after it cannot change before commit."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Approval)
            .where(*where)
            .values(status=Approval.status)
            .execution_options(synchronize_session=False)
        )
    query = (
        select(Approval)
        .where(*where)
        .order_by(Approval.id)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(query))


def decide(
    session: Session,
    approval_id: int,
    *,
    approve: bool,
    by: str,
    note: str = "",
    apply: ApproveHook | None = None,
) -> Approval:
    """Approve or reject a pending approval; IllegalTransition, naming who decided, if it
    was already decided or expired. The approval's row is locked first (see
    :func:`_locked`): a decision and an expiry at the same instant are serialized, and
    the second one is told what the first did."""
    found = _locked(session, Approval.id == approval_id)
    if not found:
        get_approval(session, approval_id)  # NotFoundError, saying how to list them
    approval = found[0]
    if approval.status != ApprovalStatus.PENDING.value:
        raise IllegalTransition(
            f"approval {approval_id} was already {approval.status}"
            + (f" by {approval.decided_by}" if approval.decided_by else ""),
            current=approval.status,
            requested=(ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED).value,
            allowed=[],
        )
    phase = get_phase(session, approval.run_id, approval.phase_id)
    approval.status = (ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED).value
    approval.decided_at = utcnow()
    approval.decided_by = by
    approval.decision_note = note
    details = dict(approval.details)
    if approve:
        outcome = apply(session, phase, approval) if apply is not None else None
        if outcome is not None:
            details["apply_result"] = outcome
            attempt = session.get(PhaseAttempt, details.get("attempt_id"))
            if attempt is not None:
                attempt.apply_result = outcome
                attempt.apply_status = (
                    "applied"
                    if outcome.get("applied")
                    else ("no_op" if outcome.get("no_op") else "not_applied")
                )
            if outcome.get("commit_sha"):
                phase.commit_sha = outcome["commit_sha"]
        next_state = PhaseState(details.get("then_state", PhaseState.EXECUTING.value))
    else:
        phase.last_failure = f"a person rejected the change ({approval.reason})" + (
            f": {note}" if note else ""
        )
        # The next Builder attempt is told why (the hints feed its prompt).
        phase.hints = [*list(phase.hints), phase.last_failure][-6:]
        next_state = PhaseState.EXECUTING
    details["decided"] = approval.status
    approval.details = details
    set_phase_state(session, phase, next_state)
    session.add(
        DecisionLog(
            run_id=approval.run_id,
            phase_id=approval.phase_id,
            actor=by,
            decision=f"approval_{approval.status}",
            rationale=note or approval.reason,
            details={"approval_id": approval.id, "kind": approval.kind},
        )
    )
    session.flush()
    return approval


def expire_overdue(session: Session, now: datetime, *, run_id: str | None = None) -> list[Approval]:
    """Expire every pending approval (of ``run_id``, or of all runs) whose ``expires_at``
    is at or before ``now``, as its ``on_expiry`` says (flush only). Returns them.

    ``reject``: the phase goes back to EXECUTING and the Builder's next attempt is told
    the approval expired. ``fail_phase``: the phase fails with that reason; a run that no
    executor holds ends DONE_FAILED_REQUIRES_HUMAN_REVIEW with it (an executor that holds
    the run ends it itself when it meets the failed phase). The approvals are locked
    before they are read (see :func:`_locked`), so one a person decides meanwhile is
    either decided first (and not expired) or expired first (and the person told so).
    """
    due = [
        Approval.status == ApprovalStatus.PENDING.value,
        Approval.expires_at.is_not(None),
        Approval.expires_at <= now,
    ]
    if run_id is not None:
        due.append(Approval.run_id == run_id)
    # Locked (one being decided right now is skipped on PostgreSQL: if the decision
    # fails, the next round expires it).
    expired = _locked(session, *due, skip_locked=True)
    for approval in expired:
        _expire(session, approval, now)
    session.flush()
    return expired


def runs_to_resume(session: Session, expired: list[Approval], now: datetime) -> list[str]:
    """The runs of ``expired`` approvals that should continue: the expiry counted as a
    rejection (the Builder tries again) and no executor holds the run."""
    run_ids: list[str] = []
    for approval in expired:
        run = session.get(Run, approval.run_id)
        if (
            approval.on_expiry == "fail_phase"
            or run is None
            or RunState(run.state).is_terminal
            or _held(run, now)
        ):
            continue
        run_ids.append(run.id)
    return list(dict.fromkeys(run_ids))


def _held(run: Run, now: datetime) -> bool:
    return run.lease_owner is not None and (
        run.lease_expires_at is None or run.lease_expires_at > now
    )


def _expire(session: Session, approval: Approval, now: datetime) -> None:
    phase = get_phase(session, approval.run_id, approval.phase_id)
    assert approval.expires_at is not None
    minutes = max(1, round((approval.expires_at - approval.requested_at).total_seconds() / 60))
    fail = approval.on_expiry == "fail_phase"
    message = (
        f"the approval ({approval.reason}) expired: nobody decided within {minutes} minutes"
        + (
            "; the plan's approvals.on_expiry fails the phase"
            if fail
            else "; it counts as a rejection"
        )
    )
    approval.status = ApprovalStatus.EXPIRED.value
    approval.decided_at = now
    approval.decided_by = EXPIRY_ACTOR
    approval.decision_note = message
    approval.details = {**approval.details, "decided": ApprovalStatus.EXPIRED.value}
    phase.last_failure = message
    if fail:
        set_phase_state(session, phase, PhaseState.FAILED, reason=message, now=now)
        _end_parked_run(session, phase, f"phase {phase.phase_id} failed: {message}", now)
    else:
        phase.hints = [*list(phase.hints), message][-6:]
        set_phase_state(session, phase, PhaseState.EXECUTING, now=now)
    session.add(
        DecisionLog(
            run_id=approval.run_id,
            phase_id=approval.phase_id,
            actor=EXPIRY_ACTOR,
            decision="approval_expired",
            rationale=message,
            details={
                "approval_id": approval.id,
                "kind": approval.kind,
                "on_expiry": approval.on_expiry,
            },
        )
    )


def _end_parked_run(session: Session, phase: Phase, reason: str, now: datetime) -> None:
    """End the run of a phase that failed while parked, unless an executor holds it."""
    run = session.get(Run, phase.run_id)
    if run is None or RunState(run.state).is_terminal:
        return
    if _held(run, now):
        return
    tier = session.get(Tier, phase.tier_pk)
    if tier is not None and tier.state == TierState.IN_PROGRESS.value:
        set_tier_state(session, tier, TierState.FAILED, now=now)
    set_run_state(session, run, RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW, reason=reason, now=now)


def approval_view(approval: Approval) -> dict[str, Any]:
    details = {k: v for k, v in approval.details.items() if k != "patch"}
    return {
        "id": approval.id,
        "run_id": approval.run_id,
        "phase_id": approval.phase_id,
        "kind": approval.kind,
        "status": approval.status,
        "reason": approval.reason,
        "details": details,
        "requested_at": approval.requested_at.isoformat(),
        "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
        "decided_by": approval.decided_by,
        "decision_note": approval.decision_note,
        "expires_at": approval.expires_at.isoformat() if approval.expires_at else None,
        "on_expiry": approval.on_expiry,
    }
