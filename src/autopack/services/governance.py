"""Governance requests: recording what a Builder asked to change, and the decisions.

Each request of a Builder attempt is classed path by path by the policy
(:mod:`autopack.workspace.governance`) and stored as one ``governance_requests`` row per
risk, with a decision log row:

- ``unprotected`` -> ``not_needed``; ``low`` -> ``approved``; ``critical`` -> ``refused``,
  all decided by ``policy:governance`` at once;
- ``person`` -> ``pending``, linked to one ``Approval`` of kind ``governance`` for the
  attempt. The approval is decided like any other (services/approvals.decide); the row
  takes the approval's outcome when the executor resumes the attempt (:func:`settle`),
  and views read it from the approval meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.orm import Approval, DecisionLog, GovernanceRequest, Phase
from autopack.domain.governance import (
    GOVERNANCE_KIND,
    POLICY_ACTOR,
    AccessRequest,
    GovernanceDecision,
    Risk,
)
from autopack.domain.states import ApprovalStatus, PhaseState
from autopack.services import approvals as approval_service
from autopack.workspace.governance import Classification

#: What the policy decides at once, per risk (``person`` waits).
_AUTOMATIC: dict[Risk, GovernanceDecision] = {
    Risk.UNPROTECTED: GovernanceDecision.NOT_NEEDED,
    Risk.LOW: GovernanceDecision.APPROVED,
    Risk.CRITICAL: GovernanceDecision.REFUSED,
}
#: A person's decision on the approval, as the request's decision.
_FROM_APPROVAL: dict[str, GovernanceDecision] = {
    ApprovalStatus.APPROVED.value: GovernanceDecision.APPROVED,
    ApprovalStatus.REJECTED.value: GovernanceDecision.REJECTED,
    ApprovalStatus.EXPIRED.value: GovernanceDecision.EXPIRED,
}


def record_request(
    session: Session,
    phase: Phase,
    attempt_id: int,
    request: AccessRequest,
    classes: Sequence[Classification],
    *,
    now: datetime,
) -> list[GovernanceRequest]:
    """Store one request, one row per risk among its paths, with the policy's decisions
    and a decision log row each (flush only)."""
    rows: list[GovernanceRequest] = []
    for risk in Risk:
        group = [c for c in classes if c.risk is risk]
        if not group:
            continue
        decision = _AUTOMATIC.get(risk, GovernanceDecision.PENDING)
        decided = decision is not GovernanceDecision.PENDING
        why = "; ".join(f"{c.path}: {c.why}" for c in group)
        row = GovernanceRequest(
            run_id=phase.run_id,
            phase_id=phase.phase_id,
            attempt_id=attempt_id,
            paths=[c.path for c in group],
            reason=request.reason,
            risk=risk.value,
            decision=decision.value,
            why=why,
            decided_by=POLICY_ACTOR if decided else None,
            decided_at=now if decided else None,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
        session.add(
            DecisionLog(
                run_id=phase.run_id,
                phase_id=phase.phase_id,
                actor=POLICY_ACTOR,
                decision=f"governance_{decision.value}",
                rationale=why,
                details={
                    "attempt_id": attempt_id,
                    "paths": row.paths,
                    "risk": risk.value,
                    "reason": request.reason,
                },
            )
        )
    session.flush()
    return rows


def ask_person(
    session: Session,
    phase: Phase,
    attempt_id: int,
    rows: Sequence[GovernanceRequest],
    *,
    expire_after_minutes: int | None,
    on_expiry: approval_service.OnExpiry,
    now: datetime,
) -> Approval:
    """Park the phase on one ``governance`` approval for the pending ``rows``."""
    paths = [p for row in rows for p in row.paths]
    reasons = "; ".join(dict.fromkeys(row.reason for row in rows if row.reason))
    approval = approval_service.request_approval(
        session,
        phase,
        kind=GOVERNANCE_KIND,
        reason=f"the Builder asks to change protected {', '.join(paths)}"
        + (f": {reasons}" if reasons else ""),
        details={
            "attempt_id": attempt_id,
            "paths": paths,
            "builder_reason": reasons,
            "request_ids": [row.id for row in rows],
            "then_state": PhaseState.EXECUTING.value,
        },
        expire_after_minutes=expire_after_minutes,
        on_expiry=on_expiry,
        now=now,
    )
    for row in rows:
        row.approval_id = approval.id
    session.flush()
    return approval


def requests_for_attempt(session: Session, attempt_id: int) -> list[GovernanceRequest]:
    return list(
        session.scalars(
            select(GovernanceRequest)
            .where(GovernanceRequest.attempt_id == attempt_id)
            .order_by(GovernanceRequest.id)
        ).all()
    )


def settle(session: Session, rows: Sequence[GovernanceRequest]) -> None:
    """Give pending rows the outcome of their decided approval (flush only)."""
    for row in rows:
        if row.decision != GovernanceDecision.PENDING.value or row.approval_id is None:
            continue
        approval = session.get(Approval, row.approval_id)
        if approval is None or approval.status not in _FROM_APPROVAL:
            continue
        row.decision = _FROM_APPROVAL[approval.status].value
        row.decided_by = approval.decided_by
        row.decided_at = approval.decided_at
    session.flush()


def granted_paths(rows: Sequence[GovernanceRequest]) -> tuple[str, ...]:
    """The protected paths the attempt may change: approved rows (never critical ones)."""
    return tuple(
        dict.fromkeys(
            p
            for row in rows
            if row.decision == GovernanceDecision.APPROVED.value and row.risk != Risk.CRITICAL.value
            for p in row.paths
        )
    )


def list_requests(session: Session, run_id: str) -> list[dict[str, Any]]:
    """The run's requests, oldest first, as views (a pending row shows its approval's
    outcome as soon as a person decided)."""
    rows = session.scalars(
        select(GovernanceRequest)
        .where(GovernanceRequest.run_id == run_id)
        .order_by(GovernanceRequest.id)
    ).all()
    ids = {row.approval_id for row in rows if row.approval_id is not None}
    approvals = (
        {a.id: a for a in session.scalars(select(Approval).where(Approval.id.in_(ids))).all()}
        if ids
        else {}
    )
    return [request_view(row, approvals.get(row.approval_id or 0)) for row in rows]


def request_view(row: GovernanceRequest, approval: Approval | None = None) -> dict[str, Any]:
    decision, by, at = row.decision, row.decided_by, row.decided_at
    if (
        decision == GovernanceDecision.PENDING.value
        and approval is not None
        and approval.status in _FROM_APPROVAL
    ):
        decision = _FROM_APPROVAL[approval.status].value
        by, at = approval.decided_by, approval.decided_at
    return {
        "id": row.id,
        "run_id": row.run_id,
        "phase_id": row.phase_id,
        "attempt_id": row.attempt_id,
        "paths": list(row.paths),
        "reason": row.reason,
        "risk": row.risk,
        "why": row.why,
        "decision": decision,
        "decided_by": by,
        "decided_at": at.isoformat() if at else None,
        "approval_id": row.approval_id,
        "requested_at": row.created_at.isoformat(),
    }
