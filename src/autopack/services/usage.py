"""Token usage and cost: recording every LLM call, summaries, estimator telemetry.

Recording functions take the caller's session and only ``flush()``; the caller commits.
For the executor, :func:`make_usage_sink` and :func:`make_estimation_sink` wrap them in
their own unit of work per call, so spend is committed the moment it happens.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, sessionmaker

from autopack.config import ProviderQuota, load_models_config
from autopack.db.orm import LlmUsageEvent, Phase, Run, TokenEstimationEvent
from autopack.db.session import unit_of_work
from autopack.errors import NotFoundError
from autopack.llm.base import Completion, LLMRequest
from autopack.llm.calibration import DEFAULT_MIN_SAMPLES, CalibrationRow, Sample, calibrate
from autopack.llm.client import EstimationRecord, EstimationSink, UsageSink
from autopack.llm.estimator import EstimatorConfig, TokenEstimator
from autopack.llm.pricing import PriceTable
from autopack.metrics import LLM_LATENCY
from autopack.services.tokens import count_tokens

Period = Literal["day", "week", "month"]
PERIOD_DAYS: dict[str, int] = {"day": 1, "week": 7, "month": 30}


def record_usage(
    session: Session,
    *,
    completion: Completion,
    request: LLMRequest,
    pricing: PriceTable | None = None,
) -> LlmUsageEvent:
    """Write one ``llm_usage_events`` row and add its total to the run's, the phase's and
    the phase's tier's ``tokens_used``, in the caller's transaction.

    Splits are stored as reported (NULL when the provider gave only a total); the cost
    comes from ``pricing`` (default: the bundled price table) and is NULL when unknown.
    Raises NotFoundError for a run or phase id that does not exist.
    """
    prices = pricing if pricing is not None else load_models_config().price_table()
    usage = completion.usage
    tier_pk: int | None = None
    phase_pk: int | None = None
    if request.run_id is not None:
        # The id alone: the run's row carries its whole plan, which this needs none of.
        if session.scalar(select(Run.id).where(Run.id == request.run_id)) is None:
            raise NotFoundError(f"usage for unknown run {request.run_id!r}", run_id=request.run_id)
        if request.phase_id is not None:
            row = session.execute(
                select(Phase.id, Phase.tier_pk).where(
                    Phase.run_id == request.run_id, Phase.phase_id == request.phase_id
                )
            ).first()
            if row is None:
                raise NotFoundError(
                    f"usage for unknown phase {request.phase_id!r} of run {request.run_id!r}",
                    run_id=request.run_id,
                    phase_id=request.phase_id,
                )
            phase_pk, tier_pk = row[0], row[1]
    event = LlmUsageEvent(
        provider=completion.provider,
        model=completion.model,
        role=request.role,
        run_id=request.run_id,
        phase_id=request.phase_id,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        exact=usage.exact,
        cost_usd=prices.cost_usd(completion.model, usage),
        latency_ms=completion.latency_ms,
        stop_reason=completion.stop_reason,
        truncated=completion.truncated,
    )
    session.add(event)
    LLM_LATENCY.labels(provider=completion.provider, model=completion.model).observe(
        completion.latency_ms / 1000
    )
    if request.run_id is not None:
        count_tokens(
            session,
            run_id=request.run_id,
            phase_pk=phase_pk,
            tier_pk=tier_pk,
            tokens=usage.total_tokens,
        )
    session.flush()
    return event


def record_estimation(session: Session, record: EstimationRecord) -> TokenEstimationEvent:
    """Write one ``token_estimation_events`` row (estimate, budget, actual, truncation)."""
    estimate = record.estimate
    event = TokenEstimationEvent(
        run_id=record.run_id,
        phase_id=record.phase_id,
        model=record.model,
        task_category=estimate.category,
        complexity=estimate.complexity,
        builder_mode=estimate.builder_mode,
        deliverables_count=estimate.deliverables_count,
        context_tokens=estimate.context_tokens,
        estimated_tokens=estimate.estimated,
        chosen_budget=estimate.budget,
        actual_output_tokens=record.actual_output_tokens,
        truncated=record.truncated,
    )
    session.add(event)
    session.flush()
    return event


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
    """
    if period not in PERIOD_DAYS:
        raise ValueError(f"period must be day, week or month, not {period!r}")
    since = now - timedelta(days=PERIOD_DAYS[period])
    window = (LlmUsageEvent.created_at >= since, LlmUsageEvent.created_at <= now)
    unsplit = func.sum(
        case((LlmUsageEvent.prompt_tokens.is_(None), LlmUsageEvent.total_tokens), else_=0)
    )
    sums = (
        func.coalesce(func.sum(LlmUsageEvent.prompt_tokens), 0),
        func.coalesce(func.sum(LlmUsageEvent.completion_tokens), 0),
        func.coalesce(func.sum(LlmUsageEvent.total_tokens), 0),
        func.coalesce(unsplit, 0),
        func.count(LlmUsageEvent.id),
    )
    providers = []
    for provider, prompt, completion, total, unsplit_total, calls in session.execute(
        select(LlmUsageEvent.provider, *sums)
        .where(*window)
        .group_by(LlmUsageEvent.provider)
        .order_by(LlmUsageEvent.provider)
    ):
        quota = quotas.get(provider)
        cap = quota.cap_for(period) if quota else None
        providers.append(
            {
                "provider": provider,
                "period": period,
                "prompt_tokens": int(prompt),
                "completion_tokens": int(completion),
                "total_tokens": int(total),
                "unsplit_tokens": int(unsplit_total),
                "calls": int(calls),
                "cap_tokens": cap,
                "percent_of_cap": round(100 * int(total) / cap, 2) if cap else None,
            }
        )
    models = []
    for (
        provider,
        model,
        prompt,
        completion,
        total,
        unsplit_total,
        calls,
        cost,
        priced,
    ) in session.execute(
        select(
            LlmUsageEvent.provider,
            LlmUsageEvent.model,
            *sums,
            func.sum(LlmUsageEvent.cost_usd),
            func.count(LlmUsageEvent.cost_usd),
        )
        .where(*window)
        .group_by(LlmUsageEvent.provider, LlmUsageEvent.model)
        .order_by(LlmUsageEvent.provider, LlmUsageEvent.model)
    ):
        models.append(
            {
                "provider": provider,
                "model": model,
                "prompt_tokens": int(prompt),
                "completion_tokens": int(completion),
                "total_tokens": int(total),
                "unsplit_tokens": int(unsplit_total),
                "calls": int(calls),
                "cost_usd": round(float(cost), 6) if cost is not None else None,
                "cost_complete": int(priced) == int(calls),
            }
        )
    return {
        "period": period,
        "since": since,
        "until": now,
        "providers": providers,
        "models": models,
    }


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


#: Grouped usage by (dialect, window, fingerprint): calls are only ever appended, so the
#: same number of calls with the same newest id in a window means the same numbers.
_DAILY_CACHE: dict[tuple[Any, ...], tuple[DailyUsage, ...]] = {}
_DAILY_CACHE_SIZE = 64
_DAILY_CACHE_LOCK = threading.Lock()


def _window(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    since = datetime.combine(first_day, time.min, tzinfo=UTC)
    until = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC)
    return since, until


def usage_fingerprint(session: Session, *, first_day: date, last_day: date) -> tuple[int, int]:
    """(number of calls, newest call id) in the window: read from the ``created_at``
    index alone, so it costs a few milliseconds where grouping every call costs hundreds
    with tens of thousands of calls."""
    since, until = _window(first_day, last_day)
    count, newest = session.execute(
        select(func.count(LlmUsageEvent.id), func.coalesce(func.max(LlmUsageEvent.id), 0)).where(
            LlmUsageEvent.created_at >= since, LlmUsageEvent.created_at < until
        )
    ).one()
    return int(count), int(newest)


def clear_usage_cache() -> None:
    """Forget every cached grouping (for a database whose ids were reset, as tests do)."""
    with _DAILY_CACHE_LOCK:
        _DAILY_CACHE.clear()


def daily_usage_cached(
    session: Session, *, first_day: date, last_day: date
) -> tuple[DailyUsage, ...]:
    """:func:`daily_usage`, grouped again only when the window's calls changed (see
    :func:`usage_fingerprint`); the usage page reads this."""
    bind = session.get_bind()
    key = (
        bind.dialect.name,
        str(bind.engine.url),
        first_day,
        last_day,
        usage_fingerprint(session, first_day=first_day, last_day=last_day),
    )
    with _DAILY_CACHE_LOCK:
        rows = _DAILY_CACHE.get(key)
    if rows is None:
        rows = tuple(daily_usage(session, first_day=first_day, last_day=last_day))
        with _DAILY_CACHE_LOCK:
            while len(_DAILY_CACHE) >= _DAILY_CACHE_SIZE:
                _DAILY_CACHE.pop(next(iter(_DAILY_CACHE)))
            _DAILY_CACHE[key] = rows
    return rows


def daily_usage(session: Session, *, first_day: date, last_day: date) -> list[DailyUsage]:
    """Usage per UTC day, provider and model from ``first_day`` to ``last_day`` (both
    included), ordered by day, provider, model; days without calls are absent.

    One query grouped in the database (no row per call is loaded)."""
    day = _utc_day(session).label("day")
    since, until = _window(first_day, last_day)
    query = (
        select(
            day,
            LlmUsageEvent.provider,
            LlmUsageEvent.model,
            func.count(LlmUsageEvent.id),
            func.coalesce(func.sum(LlmUsageEvent.total_tokens), 0),
            func.coalesce(func.sum(LlmUsageEvent.prompt_tokens), 0),
            func.coalesce(func.sum(LlmUsageEvent.completion_tokens), 0),
            func.sum(LlmUsageEvent.cost_usd),
            func.count(LlmUsageEvent.cost_usd),
        )
        .where(LlmUsageEvent.created_at >= since, LlmUsageEvent.created_at < until)
        .group_by(day, LlmUsageEvent.provider, LlmUsageEvent.model)
        .order_by(day, LlmUsageEvent.provider, LlmUsageEvent.model)
    )
    rows = []
    for when, provider, model, calls, total, prompt, completion, cost, priced in session.execute(
        query
    ):
        rows.append(
            DailyUsage(
                day=when if isinstance(when, date) else date.fromisoformat(str(when)),
                provider=provider,
                model=model,
                calls=int(calls),
                total_tokens=int(total),
                prompt_tokens=int(prompt),
                completion_tokens=int(completion),
                cost_usd=round(float(cost), 6) if cost is not None else None,
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
