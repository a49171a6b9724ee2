"""Token usage and cost: recording every LLM call, summaries, estimator telemetry.

Recording functions write in the caller's session and never commit; the caller commits.
For the executor, :func:`make_usage_sink` and :func:`make_estimation_sink` wrap them in
their own unit of work per call, so spend is committed the moment it happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Insert, Table, and_, case, delete, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from autopack.config import ProviderQuota, load_models_config
from autopack.db.orm import (
    LlmUsageDaily,
    LlmUsageEvent,
    Run,
    TokenEstimationEvent,
    utcnow,
)
from autopack.db.session import unit_of_work
from autopack.errors import NotFoundError
from autopack.llm.base import Completion, LLMRequest
from autopack.llm.calibration import DEFAULT_MIN_SAMPLES, CalibrationRow, Sample, calibrate
from autopack.llm.client import EstimationRecord, EstimationSink, UsageSink
from autopack.llm.estimator import EstimatorConfig, TokenEstimator
from autopack.llm.pricing import PriceTable
from autopack.metrics import LLM_LATENCY
from autopack.services.tokens import count_phase_tokens

Period = Literal["day", "week", "month"]
PERIOD_DAYS: dict[str, int] = {"day": 1, "week": 7, "month": 30}


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One LLM call as :func:`record_usage` stored it in ``llm_usage_events``."""

    id: int
    created_at: datetime
    provider: str
    model: str
    role: str
    run_id: str | None
    phase_id: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int
    exact: bool
    cost_usd: float | None
    latency_ms: int
    stop_reason: str | None
    truncated: bool


def record_usage(
    session: Session,
    *,
    completion: Completion,
    request: LLMRequest,
    pricing: PriceTable | None = None,
    at: datetime | None = None,
) -> RecordedCall:
    """Write one ``llm_usage_events`` row (made ``at``, default now), add it to its UTC
    day's ``llm_usage_daily`` row, and add its total to the run's, the phase's and the
    phase's tier's ``tokens_used``, all in the caller's transaction. The only writer of
    LLM calls, so the daily sums always equal the calls' GROUP BY.

    Splits are stored as reported (NULL when the provider gave only a total); the cost
    comes from ``pricing`` (default: the bundled price table) and is NULL when unknown.
    Raises NotFoundError, having written nothing, for a run or phase id that does not
    exist. Core statements, five for a call of a phase (the counters' three UPDATEs,
    the event's INSERT, the day's upsert), none of them a read.
    """
    prices = pricing if pricing is not None else load_models_config().price_table()
    usage = completion.usage
    # The run's row first (its UPDATE also proves the run and its phase exist), as every
    # fenced transaction locks it first.
    if request.run_id is not None and not count_phase_tokens(
        session, run_id=request.run_id, phase_id=request.phase_id, tokens=usage.total_tokens
    ):
        raise _unknown_run_or_phase(session, request.run_id, request.phase_id)
    row: dict[str, Any] = {
        "created_at": at or utcnow(),
        "provider": completion.provider,
        "model": completion.model,
        "role": request.role,
        "run_id": request.run_id,
        "phase_id": request.phase_id,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "exact": usage.exact,
        "cost_usd": prices.cost_usd(completion.model, usage),
        "latency_ms": completion.latency_ms,
        "stop_reason": completion.stop_reason,
        "truncated": completion.truncated,
    }
    event = RecordedCall(id=session.execute(_INSERT_EVENT, row).scalar_one(), **row)
    _add_to_day(session, event)
    LLM_LATENCY.labels(provider=completion.provider, model=completion.model).observe(
        completion.latency_ms / 1000
    )
    return event


_EVENTS = cast(Table, LlmUsageEvent.__table__)
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)


def _unknown_run_or_phase(session: Session, run_id: str, phase_id: str | None) -> NotFoundError:
    """The error for a call whose run, or whose run's phase, does not exist (one read, on
    this rare path only)."""
    if session.scalar(select(Run.id).where(Run.id == run_id)) is None:
        return NotFoundError(f"usage for unknown run {run_id!r}", run_id=run_id)
    return NotFoundError(
        f"usage for unknown phase {phase_id!r} of run {run_id!r}",
        run_id=run_id,
        phase_id=phase_id,
    )


def _add_to_day(session: Session, event: RecordedCall) -> None:
    """Add ``event`` to its day's summary row: one upsert (SQLite and PostgreSQL share
    the ``ON CONFLICT DO UPDATE`` form), atomic under concurrent recorders."""
    session.execute(
        _daily_upsert(session.get_bind().dialect.name),
        {
            "day": event.created_at.astimezone(UTC).date(),
            "provider": event.provider,
            "model": event.model,
            "role": event.role,
            "calls": 1,
            "prompt_tokens": event.prompt_tokens or 0,
            "completion_tokens": event.completion_tokens or 0,
            "total_tokens": event.total_tokens,
            "unsplit_tokens": event.total_tokens if event.prompt_tokens is None else 0,
            "cost_usd": event.cost_usd or 0.0,
            "priced_calls": 0 if event.cost_usd is None else 1,
        },
    )


@cache
def _daily_upsert(dialect: str) -> Insert:
    """The day's upsert for ``dialect``, built once; the values are its parameters."""
    table = cast(Table, LlmUsageDaily.__table__)
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = upsert(table)
    return statement.on_conflict_do_update(
        index_elements=["day", "provider", "model", "role"],
        set_={name: table.c[name] + statement.excluded[name] for name in DAILY_SUMS},
    )


#: The summed columns of ``llm_usage_daily``.
DAILY_SUMS = (
    "calls",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "unsplit_tokens",
    "cost_usd",
    "priced_calls",
)


def rebuild_usage_daily(session: Session) -> int:
    """Sum every recorded call into ``llm_usage_daily`` again (for calls loaded in bulk
    around :func:`record_usage`, as the dashboard benchmark does); returns its rows."""
    session.execute(delete(LlmUsageDaily))
    day = _utc_day(session)
    grouped = select(
        day,
        LlmUsageEvent.provider,
        LlmUsageEvent.model,
        LlmUsageEvent.role,
        *_call_sums(),
    ).group_by(day, LlmUsageEvent.provider, LlmUsageEvent.model, LlmUsageEvent.role)
    session.execute(
        insert(LlmUsageDaily).from_select(
            ["day", "provider", "model", "role", *DAILY_SUMS], grouped
        )
    )
    session.flush()
    return int(session.scalar(select(func.count()).select_from(LlmUsageDaily)) or 0)


def _call_sums() -> tuple[ColumnElement[Any], ...]:
    """The daily sums, computed over calls (in :data:`DAILY_SUMS` order)."""
    return (
        func.count(LlmUsageEvent.id),
        func.coalesce(func.sum(LlmUsageEvent.prompt_tokens), 0),
        func.coalesce(func.sum(LlmUsageEvent.completion_tokens), 0),
        func.coalesce(func.sum(LlmUsageEvent.total_tokens), 0),
        func.coalesce(
            func.sum(
                case((LlmUsageEvent.prompt_tokens.is_(None), LlmUsageEvent.total_tokens), else_=0)
            ),
            0,
        ),
        func.coalesce(func.sum(LlmUsageEvent.cost_usd), 0.0),
        func.count(LlmUsageEvent.cost_usd),
    )


def record_estimation(session: Session, record: EstimationRecord) -> int:
    """Write one ``token_estimation_events`` row (estimate, budget, actual, truncation);
    returns its id. One Core INSERT."""
    estimate = record.estimate
    row = {
        "run_id": record.run_id,
        "phase_id": record.phase_id,
        "model": record.model,
        "task_category": estimate.category,
        "complexity": estimate.complexity,
        "builder_mode": estimate.builder_mode,
        "deliverables_count": estimate.deliverables_count,
        "context_tokens": estimate.context_tokens,
        "estimated_tokens": estimate.estimated,
        "chosen_budget": estimate.budget,
        "actual_output_tokens": record.actual_output_tokens,
        "truncated": record.truncated,
    }
    return int(session.execute(_INSERT_ESTIMATION, row).scalar_one())


_ESTIMATIONS = cast(Table, TokenEstimationEvent.__table__)
_INSERT_ESTIMATION = insert(_ESTIMATIONS).returning(_ESTIMATIONS.c.id)


def make_usage_sink(factory: sessionmaker[Session], pricing: PriceTable) -> UsageSink:
    """A usage sink for :class:`~autopack.llm.client.LLMClient` that commits each call's
    usage event and counters in its own transaction."""

    def sink(request: LLMRequest, completion: Completion) -> None:
        with unit_of_work(factory) as session:
            record_usage(session, completion=completion, request=request, pricing=pricing)

    return sink


def make_estimation_sink(factory: sessionmaker[Session]) -> EstimationSink:
    """An estimation sink that commits each Builder budget record on its own."""

    def sink(record: EstimationRecord) -> None:
        with unit_of_work(factory) as session:
            record_estimation(session, record)

    return sink


def usage_summary(
    session: Session,
    period: Period,
    now: datetime,
    quotas: Mapping[str, ProviderQuota],
) -> dict[str, Any]:
    """Usage in the ``period`` ending at ``now`` (day = 24h, week = 7 days, month = 30
    days), by provider and by model.

    Totals are exact. ``prompt_tokens``/``completion_tokens`` sum the known splits only
    (NULLs are skipped); ``unsplit_tokens`` is the part of the total without splits.
    ``cap_tokens`` is the provider's cap for the period from ``provider_quotas`` (None when
    not set), ``percent_of_cap`` the total against it. ``cost_usd`` sums known costs;
    ``cost_complete`` is False when some calls had no price.

    The whole UTC days inside the window are read from ``llm_usage_daily``; only the
    partial days at its two ends are summed from the calls themselves.
    """
    if period not in PERIOD_DAYS:
        raise ValueError(f"period must be day, week or month, not {period!r}")
    since = now - timedelta(days=PERIOD_DAYS[period])
    by_model = _sums_in_window(session, since, now)
    providers: dict[str, list[float]] = {}
    for (provider, _model), sums in by_model.items():
        into = providers.setdefault(provider, [0.0] * len(DAILY_SUMS))
        for i, value in enumerate(sums):
            into[i] += value
    provider_rows = []
    for provider, sums in sorted(providers.items()):
        calls, prompt, completion, total, unsplit = (int(v) for v in sums[:5])
        quota = quotas.get(provider)
        cap = quota.cap_for(period) if quota else None
        provider_rows.append(
            {
                "provider": provider,
                "period": period,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": total,
                "unsplit_tokens": unsplit,
                "calls": calls,
                "cap_tokens": cap,
                "percent_of_cap": round(100 * total / cap, 2) if cap else None,
            }
        )
    models = []
    for (provider, model), sums in sorted(by_model.items()):
        calls, prompt, completion, total, unsplit = (int(v) for v in sums[:5])
        cost, priced = sums[5], int(sums[6])
        models.append(
            {
                "provider": provider,
                "model": model,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": total,
                "unsplit_tokens": unsplit,
                "calls": calls,
                "cost_usd": round(cost, 6) if priced else None,
                "cost_complete": priced == calls,
            }
        )
    return {
        "period": period,
        "since": since,
        "until": now,
        "providers": provider_rows,
        "models": models,
    }


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _sums_in_window(
    session: Session, since: datetime, now: datetime
) -> dict[tuple[str, str], list[float]]:
    """:data:`DAILY_SUMS` per (provider, model) of the calls made from ``since`` to
    ``now`` (both included): whole days from the summary, the two partial ends from calls."""
    first_full = since.astimezone(UTC).date()
    if since != _midnight(first_full):
        first_full += timedelta(days=1)
    last_full = now.astimezone(UTC).date() - timedelta(days=1)
    made = LlmUsageEvent.created_at
    if first_full > last_full:
        parts = [and_(made >= since, made <= now)]
        days = None
    else:
        parts = [
            and_(made >= since, made < _midnight(first_full)),
            and_(made >= _midnight(last_full + timedelta(days=1)), made <= now),
        ]
        days = (first_full, last_full)
    out: dict[tuple[str, str], list[float]] = {}

    def add(rows: Any) -> None:
        for provider, model, *sums in rows:
            into = out.setdefault((provider, model), [0.0] * len(DAILY_SUMS))
            for i, value in enumerate(sums):
                into[i] += float(value or 0)

    add(
        session.execute(
            select(LlmUsageEvent.provider, LlmUsageEvent.model, *_call_sums())
            .where(or_(*parts))
            .group_by(LlmUsageEvent.provider, LlmUsageEvent.model)
        )
    )
    if days is not None:
        add(
            session.execute(
                select(LlmUsageDaily.provider, LlmUsageDaily.model, *_daily_sums())
                .where(LlmUsageDaily.day >= days[0], LlmUsageDaily.day <= days[1])
                .group_by(LlmUsageDaily.provider, LlmUsageDaily.model)
            )
        )
    return out


def _daily_sums() -> tuple[ColumnElement[Any], ...]:
    return tuple(func.sum(getattr(LlmUsageDaily, name)) for name in DAILY_SUMS)


class DailyUsage(BaseModel):
    """Tokens and cost of one provider's model on one UTC day. ``cost_usd`` sums the known
    costs (None when no call of the group had a price); ``cost_complete`` is False when
    some calls had none."""

    model_config = ConfigDict(frozen=True)

    day: date
    provider: str
    model: str
    calls: int
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    cost_complete: bool


def _utc_day(session: Session) -> ColumnElement[Any]:
    column = LlmUsageEvent.created_at
    if session.get_bind().dialect.name == "postgresql":
        # timestamptz: the day in UTC, whatever the connection's time zone is.
        return func.date(func.timezone("UTC", column))
    # SQLite stores the UTC time as text; date() reads its day.
    return func.date(column)


def daily_usage(session: Session, *, first_day: date, last_day: date) -> list[DailyUsage]:
    """Usage per UTC day, provider and model from ``first_day`` to ``last_day`` (both
    included), ordered by day, provider, model; days without calls are absent.

    Read from ``llm_usage_daily`` (one row per day, provider, model and role), so its
    cost follows the days in the window, not the calls in them."""
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    query = (
        select(LlmUsageDaily.day, LlmUsageDaily.provider, LlmUsageDaily.model, *_daily_sums())
        .where(LlmUsageDaily.day >= first_day, LlmUsageDaily.day <= last_day)
        .group_by(LlmUsageDaily.day, LlmUsageDaily.provider, LlmUsageDaily.model)
        .order_by(LlmUsageDaily.day, LlmUsageDaily.provider, LlmUsageDaily.model)
    )
    rows = []
    for (
        when,
        provider,
        model,
        calls,
        prompt,
        completion,
        total,
        _unsplit,
        cost,
        priced,
    ) in session.execute(query):
        rows.append(
            DailyUsage(
                day=when,
                provider=provider,
                model=model,
                calls=int(calls),
                total_tokens=int(total),
                prompt_tokens=int(prompt),
                completion_tokens=int(completion),
                cost_usd=round(float(cost), 6) if int(priced) else None,
                cost_complete=int(priced) == int(calls),
            )
        )
    return rows


def calibration_table(
    session: Session,
    *,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    estimator_config: EstimatorConfig | None = None,
) -> list[CalibrationRow]:
    """Calibration statistics per task category and complexity from every recorded
    Builder budget (see :mod:`autopack.llm.calibration`)."""
    estimator = TokenEstimator(estimator_config)
    rows = session.execute(
        select(
            TokenEstimationEvent.task_category,
            TokenEstimationEvent.complexity,
            TokenEstimationEvent.estimated_tokens,
            TokenEstimationEvent.chosen_budget,
            TokenEstimationEvent.actual_output_tokens,
            TokenEstimationEvent.truncated,
        )
    )
    samples = [
        Sample(category, complexity, estimated, budget, actual, bool(truncated))
        for category, complexity, estimated, budget, actual, truncated in rows
    ]
    categories = {s.category for s in samples}
    return calibrate(
        samples,
        min_samples=min_samples,
        current_scales=dict(estimator.config.scales),
        group_of={c: estimator.group_for(c) for c in categories},
    )
