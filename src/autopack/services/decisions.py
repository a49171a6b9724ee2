"""Decisions people make, recorded with who made them.

Every decision a caller makes through an entry point (an approval, a model override, a
cancel or resume, a merge or push, a human note, a key revoked, a user added or disabled)
lands in ``decision_log`` with ``actor`` = the caller's identity (``user:<name>``,
``config-key:<n>``, ``local``, ``cli:<OS user>``), in the same transaction as the change
it records. Decisions about no single run (keys, users, global overrides) have no run.
How an approval is decided from any entry point is :mod:`autopack.services.approval_decisions`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from autopack.db.orm import DecisionLog


def record_decision(
    session: Session,
    *,
    actor: str,
    decision: str,
    rationale: str = "",
    run_id: str | None = None,
    phase_id: str | None = None,
    **details: Any,
) -> DecisionLog:
    """Add one decision to the log (flushed, not committed: the caller's unit of work
    commits it together with the change)."""
    row = DecisionLog(
        run_id=run_id,
        phase_id=phase_id,
        actor=actor[:128],
        decision=decision[:64],
        rationale=rationale,
        details={"actor": actor, **details} if len(actor) > 128 else dict(details),
    )
    session.add(row)
    session.flush()
    return row
