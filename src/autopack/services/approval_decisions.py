"""Deciding an approval, from any entry point: record it, then continue the run.

The API, the dashboard, the CLI, a Telegram button and a signed link all decide through
:func:`decide_and_continue`: the decision (and, for a one-time token, the token's use)
commits in one transaction; then a run that was parked for it (no executor holds its
lease) is handed to ``continue_run``, the entry point's way of executing runs (its pool,
or the job queue), so it continues wherever this deployment executes runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from autopack.db.orm import Approval, DecisionToken, Run
from autopack.db.session import unit_of_work
from autopack.domain.states import ApprovalStatus, RunState
from autopack.errors import AutopackError, IllegalTransition
from autopack.services import approvals as approval_service
from autopack.services.approvals import ApproveHook

log = logging.getLogger("autopack.decisions")

#: Starts a parked run where this deployment executes runs.
RunContinuer = Callable[[str], Any]


def use_token(session: Session, token_id: str, approval_id: int, by: str) -> None:
    """Record that ``token_id`` decided ``approval_id``; IllegalTransition if it already
    did (a replayed link or callback changes nothing)."""
    if session.get(DecisionToken, token_id) is not None:
        raise IllegalTransition(
            "this decision was already made with this link or button; nothing changed",
            current="used",
            requested="used",
            allowed=[],
        )
    session.add(DecisionToken(token_id=token_id, approval_id=approval_id, used_by=by))
    session.flush()


def is_parked(run: Run | None) -> bool:
    """A run that waits, with no executor, in PHASE_EXECUTION (parked for a decision)."""
    return (
        run is not None
        and run.state == RunState.PHASE_EXECUTION.value
        and run.lease_owner is None
        and run.repo_path is not None
    )


def decide_and_continue(
    factory: sessionmaker[Session],
    approval_id: int,
    *,
    approve: bool,
    by: str,
    note: str = "",
    apply: ApproveHook | None = None,
    continue_run: RunContinuer | None = None,
    token_id: str | None = None,
) -> dict[str, Any]:
    """Decide ``approval_id`` as ``by`` and continue its run if it was parked for it.
    Returns the approval's view with ``continued`` (whether the run was handed on).
    IllegalTransition when it was already decided (or the token used)."""
    with unit_of_work(factory) as session:
        if token_id is not None:
            use_token(session, token_id, approval_id, by)
        approval = approval_service.decide(
            session, approval_id, approve=approve, by=by, note=note, apply=apply
        )
        view = approval_service.approval_view(approval)
        parked = is_parked(session.get(Run, approval.run_id))
    continued = False
    # Committed: the run goes on in the background; the decision stands even if it cannot.
    if parked and continue_run is not None:
        try:
            continue_run(view["run_id"])
            continued = True
        except AutopackError as exc:
            log.warning("run %s was not continued after the approval: %s", view["run_id"], exc)
    view["continued"] = continued
    return view


def pending_approval(session: Session, approval_id: int) -> Approval:
    """The approval, if it still waits; IllegalTransition naming who decided otherwise."""
    approval = approval_service.get_approval(session, approval_id)
    if approval.status != ApprovalStatus.PENDING.value:
        raise IllegalTransition(
            f"approval {approval_id} was already {approval.status} by {approval.decided_by}",
            current=approval.status,
            requested=approval.status,
            allowed=[],
        )
    return approval
