"""Read-only views of several runs at once: what a combined live display and a batch
report show (state, the phase in flight, tokens, cost)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from autopack.db.orm import LlmUsageEvent, Phase, Run
from autopack.domain.states import PhaseState

_IN_FLIGHT = (
    PhaseState.EXECUTING.value,
    PhaseState.GATE.value,
    PhaseState.CI_RUNNING.value,
    PhaseState.AWAITING_APPROVAL.value,
)


class RunProgress(BaseModel):
    """One run as a live display or a report shows it."""

    run_id: str
    state: str
    phase: str | None  # the phase in flight (or parked for approval), if any
    phases_done: int
    phases_total: int
    tokens_used: int
    cost_usd: float | None  # None when no call had a known price
    cost_complete: bool  # False when some calls had no price
    failure_reason: str | None
    branch: str | None


def runs_progress(session: Session, run_ids: Sequence[str]) -> list[RunProgress]:
    """The runs ``run_ids`` in that order (unknown ids are left out)."""
    runs = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(run_ids)))}
    phases: dict[str, list[tuple[str, str]]] = {}
    for run_id, phase_id, state in session.execute(
        select(Phase.run_id, Phase.phase_id, Phase.state)
        .where(Phase.run_id.in_(run_ids))
        .order_by(Phase.phase_index, Phase.id)
    ):
        phases.setdefault(run_id, []).append((phase_id, state))
    costs = {
        row[0]: (row[1], row[2], row[3])
        for row in session.execute(
            select(
                LlmUsageEvent.run_id,
                func.sum(LlmUsageEvent.cost_usd),
                func.count(LlmUsageEvent.id),
                func.count(LlmUsageEvent.cost_usd),
            )
            .where(LlmUsageEvent.run_id.in_(run_ids))
            .group_by(LlmUsageEvent.run_id)
        )
    }
    out: list[RunProgress] = []
    for run_id in run_ids:
        run = runs.get(run_id)
        if run is None:
            continue
        own = phases.get(run_id, [])
        flying = [p for p, s in own if s in _IN_FLIGHT]
        cost, calls, priced = costs.get(run_id, (None, 0, 0))
        out.append(
            RunProgress(
                run_id=run_id,
                state=run.state,
                phase=flying[0] if flying else None,
                phases_done=sum(
                    1 for _, s in own if s in (PhaseState.COMPLETE.value, PhaseState.SKIPPED.value)
                ),
                phases_total=len(own),
                tokens_used=run.tokens_used,
                cost_usd=float(cost) if cost is not None else None,
                cost_complete=calls == priced,
                failure_reason=run.failure_reason,
                branch=run.branch,
            )
        )
    return out
