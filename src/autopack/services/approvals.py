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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.orm import Approval, DecisionLog, Phase, PhaseAttempt, utcnow
from autopack.domain.states import ApprovalStatus, PhaseState
from autopack.errors import IllegalTransition, NotFoundError
from autopack.services import notifications
from autopack.services.phases import get_phase, set_phase_state

#: Applies an approved change: (session, phase, approval) -> apply result dict.
ApproveHook = Callable[[Session, Phase, Approval], dict[str, Any] | None]


def request_approval(
    session: Session, phase: Phase, *, kind: str, reason: str, details: dict[str, Any]
) -> Approval:
    """Park ``phase`` in AWAITING_APPROVAL with a pending approval (flush only)."""
    approval = Approval(
        run_id=phase.run_id,
        phase_id=phase.phase_id,
        kind=kind,
        status=ApprovalStatus.PENDING.value,
        reason=reason,
        details=details,
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


def decide(
    session: Session,
    approval_id: int,
    *,
    approve: bool,
    by: str,
    note: str = "",
    apply: ApproveHook | None = None,
) -> Approval:
    """Approve or reject a pending approval; IllegalTransition if it was already decided."""
    approval = get_approval(session, approval_id)
    if approval.status != ApprovalStatus.PENDING.value:
        raise IllegalTransition(
            f"approval {approval_id} was already {approval.status}",
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
    }
