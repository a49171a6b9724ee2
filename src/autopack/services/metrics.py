"""Numbers for ``GET /metrics`` read from the database at scrape time.

Each function is one grouped query, so a scrape costs a handful of queries whatever the
number of runs. Read only.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from autopack.db.orm import LlmUsageEvent, Phase, Run
from autopack.domain.states import PhaseState, RunState


class ModelTotals(BaseModel):
    """Everything recorded for one provider's model: calls, tokens, known cost."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    calls: int
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def runs_by_state(session: Session) -> dict[str, int]:
    """How many runs are in each state; every known state is present (0 when none)."""
    counts = dict.fromkeys((s.value for s in RunState), 0)
    for state, count in session.execute(select(Run.state, func.count(Run.id)).group_by(Run.state)):
        counts[state] = int(count)
    return counts


def phases_by_state(session: Session) -> dict[str, int]:
    """How many phases (of all runs) are in each state; every known state is present."""
    counts = dict.fromkeys((s.value for s in PhaseState), 0)
    for state, count in session.execute(
        select(Phase.state, func.count(Phase.id)).group_by(Phase.state)
    ):
        counts[state] = int(count)
    return counts


def llm_totals(session: Session) -> list[ModelTotals]:
    """Totals of every LLM call ever recorded, per provider and model (cost sums the calls
    whose price was known)."""
    rows = session.execute(
        select(
            LlmUsageEvent.provider,
            LlmUsageEvent.model,
            func.count(LlmUsageEvent.id),
            func.coalesce(func.sum(LlmUsageEvent.total_tokens), 0),
            func.coalesce(func.sum(LlmUsageEvent.prompt_tokens), 0),
            func.coalesce(func.sum(LlmUsageEvent.completion_tokens), 0),
            func.coalesce(func.sum(LlmUsageEvent.cost_usd), 0.0),
        )
        .group_by(LlmUsageEvent.provider, LlmUsageEvent.model)
        .order_by(LlmUsageEvent.provider, LlmUsageEvent.model)
    )
    return [
        ModelTotals(
            provider=provider,
            model=model,
            calls=int(calls),
            total_tokens=int(total),
            prompt_tokens=int(prompt or 0),
            completion_tokens=int(completion or 0),
            cost_usd=float(cost or 0.0),
        )
        for provider, model, calls, total, prompt, completion, cost in rows
    ]
