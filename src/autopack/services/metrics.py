"""Numbers for ``GET /metrics`` read from the database at scrape time.

Each function is one grouped query, so a scrape costs a handful of queries whatever the
number of runs. Read only.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from autopack.db.orm import LlmUsageDaily, Phase, Run
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
    whose price was known), summed from the per-day summary ``llm_usage_daily``: a scrape
    costs the days recorded, not the calls."""
    daily = LlmUsageDaily
    rows = session.execute(
        select(
            daily.provider,
            daily.model,
            func.coalesce(func.sum(daily.calls), 0),
            func.coalesce(func.sum(daily.total_tokens), 0),
            func.coalesce(func.sum(daily.prompt_tokens), 0),
            func.coalesce(func.sum(daily.completion_tokens), 0),
            func.coalesce(func.sum(daily.cost_usd), 0.0),
        )
        .group_by(daily.provider, daily.model)
        .order_by(daily.provider, daily.model)
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
