"""Deleting runs and choosing what garbage collection may remove.

The rules live here so the CLI (and any future route) applies the same ones:

- a run that is executing (a live lease) is never deleted: cancel it first;
- a DONE_SUCCESS run whose branch is not merged anywhere is deleted only with ``force``
  (its branch holds the only copy of the work);
- ``gc`` considers finished runs whose end lies more than ``older_than_days`` ago.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.orm import Run, utcnow
from autopack.domain.states import RunState
from autopack.errors import ConflictError
from autopack.services.runs import get_run


@dataclass(frozen=True)
class RunFootprint:
    """What a run may have left outside the database."""

    run_id: str
    state: str
    repo_path: str | None
    worktree_path: str | None
    ended_at: datetime | None

    @property
    def succeeded(self) -> bool:
        return self.state == RunState.DONE_SUCCESS.value


def _footprint(run: Run) -> RunFootprint:
    return RunFootprint(
        run_id=run.id,
        state=run.state,
        repo_path=run.repo_path,
        worktree_path=run.worktree_path,
        ended_at=run.completed_at or run.updated_at,
    )


def is_executing(run: Run, now: datetime | None = None) -> bool:
    """True while an executor holds a live lease on the run."""
    now = now or utcnow()
    return bool(run.lease_owner and run.lease_expires_at and run.lease_expires_at > now)


def deletable_run(session: Session, run_id: str) -> RunFootprint:
    """The run's footprint, or ConflictError when it is executing right now."""
    run = get_run(session, run_id, check_states=False)
    if is_executing(run):
        raise ConflictError(
            f"run {run_id!r} is executing ({run.lease_owner}); stop it with "
            f"`autopack cancel {run_id}` and delete it once it has ended"
        )
    return _footprint(run)


def delete_run_rows(session: Session, run_id: str) -> None:
    """Delete the run and everything that belongs to it (tiers, phases, attempts, issues,
    decisions, approvals). Usage events keep their cost history with the run id cleared."""
    run = get_run(session, run_id, check_states=False)
    if is_executing(run):  # checked again inside the deleting transaction
        raise ConflictError(f"run {run_id!r} started executing; cancel it first")
    session.delete(run)
    session.flush()


def finished_runs(
    session: Session, *, older_than_days: float, now: datetime | None = None
) -> list[RunFootprint]:
    """Finished runs that ended more than ``older_than_days`` ago, oldest first."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    terminal = [s.value for s in RunState if s.is_terminal]
    rows = session.scalars(select(Run).where(Run.state.in_(terminal)).order_by(Run.created_at))
    found = [_footprint(r) for r in rows]
    return [f for f in found if f.ended_at is None or f.ended_at <= cutoff]


def known_run_ids(session: Session) -> set[str]:
    """Every run id in the database (to recognise leftovers of deleted runs)."""
    return set(session.scalars(select(Run.id)))
