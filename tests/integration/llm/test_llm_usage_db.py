"""Usage events, token counters, summaries and calibration in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from autopack.config import ProviderQuota, load_models_config
from autopack.db.orm import LlmUsageEvent, Phase, Run, Tier
from autopack.db.session import unit_of_work
from autopack.errors import NotFoundError
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.llm.client import EstimationRecord
from autopack.llm.estimator import TokenEstimator
from autopack.services.usage import (
    calibration_table,
    make_estimation_sink,
    make_usage_sink,
    record_usage,
    usage_summary,
)

PRICES = load_models_config().price_table()


def call(
    phase_id: str | None = "p1", run_id: str | None = "run-1", role: str = "builder"
) -> LLMRequest:
    return LLMRequest(
        role=role,
        system="s",
        messages=(Message("user", "u"),),  # type: ignore[arg-type]
        max_tokens=100,
        run_id=run_id,
        phase_id=phase_id,
    )


def done(usage: Usage, provider: str = "anthropic", model: str = "claude-sonnet-4-5") -> Completion:
    return Completion(
        text="x", provider=provider, model=model, usage=usage, stop_reason="end", latency_ms=12
    )


def test_usage_rows_and_counters(any_engine, make_factory, seed_run) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(any_engine)
    seed_run(factory)
    with unit_of_work(factory) as session:
        exact = record_usage(
            session, completion=done(Usage.reported(1200, 300)), request=call("p1"), pricing=PRICES
        )
        total_only = record_usage(
            session,
            completion=done(Usage.total_only(500), "ollama", "qwen2.5-coder:32b"),
            request=call("p3", role="auditor"),
            pricing=PRICES,
        )
        unpriced = record_usage(
            session,
            completion=done(Usage.total_only(40), "openai", "gpt-5"),
            request=call(None),
            pricing=PRICES,
        )
    assert (exact.prompt_tokens, exact.completion_tokens, exact.total_tokens) == (1200, 300, 1500)
    assert exact.cost_usd == pytest.approx(1200 * 3e-6 + 300 * 15e-6)
    assert total_only.prompt_tokens is None and total_only.completion_tokens is None
    assert total_only.total_tokens == 500 and total_only.cost_usd == 0.0  # free local model
    assert unpriced.cost_usd is None  # a total-only split cannot be priced at 1.25/10

    with unit_of_work(factory) as session:
        run = session.get(Run, "run-1")
        assert run is not None and run.tokens_used == 1500 + 500 + 40
        phases = {p.phase_id: p.tokens_used for p in session.scalars(select(Phase))}
        assert phases == {"p1": 1500, "p2": 0, "p3": 500}
        tiers = {t.tier_id: t.tokens_used for t in session.scalars(select(Tier))}
        assert tiers == {"T1": 1500, "T2": 500}
        stored = session.scalars(select(LlmUsageEvent).order_by(LlmUsageEvent.id)).all()
        assert [e.role for e in stored] == ["builder", "auditor", "builder"]
        assert stored[0].latency_ms == 12 and stored[0].exact


def test_unknown_run_or_phase_is_refused(llm_engine, make_factory, seed_run) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(llm_engine)
    seed_run(factory)
    with pytest.raises(NotFoundError, match="unknown run"), unit_of_work(factory) as session:
        record_usage(session, completion=done(Usage.reported(1, 1)), request=call(run_id="ghost"))
    with pytest.raises(NotFoundError, match="unknown phase"), unit_of_work(factory) as session:
        record_usage(session, completion=done(Usage.reported(1, 1)), request=call("p9"))


def test_sinks_commit_each_record(llm_engine, make_factory, seed_run) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(llm_engine)
    seed_run(factory)
    make_usage_sink(factory, PRICES)(call("p2"), done(Usage.reported(10, 5)))
    estimate = TokenEstimator().estimate("docs", "low", 1, 200)
    make_estimation_sink(factory)(
        EstimationRecord(
            estimate, "claude-haiku-4-5", "run-1", "p2", actual_output_tokens=900, truncated=False
        )
    )
    with unit_of_work(factory) as session:
        assert session.get(Run, "run-1").tokens_used == 15  # type: ignore[union-attr]
        (row,) = calibration_table(session, min_samples=1)
    assert (row.category, row.complexity, row.samples) == ("docs", "low", 1)
    assert row.waste_p50 == pytest.approx(estimate.budget / 900)
    assert row.proposed_scale is not None and row.scale_key == "docs/low"


def test_usage_summary_is_null_safe_with_caps(any_engine, make_factory, seed_run) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(any_engine)
    seed_run(factory)
    now = datetime(2030, 1, 15, 12, tzinfo=UTC)
    with unit_of_work(factory) as session:
        for usage, provider, model, age in [
            (Usage.reported(1000, 200), "anthropic", "claude-sonnet-4-5", timedelta(hours=1)),
            (Usage.total_only(300), "anthropic", "claude-sonnet-4-5", timedelta(hours=2)),
            (Usage.reported(50, 50), "openai", "gpt-5", timedelta(days=3)),
            (Usage.reported(7, 7), "anthropic", "claude-opus-4-5", timedelta(days=40)),
        ]:
            record_usage(
                session,
                completion=done(usage, provider, model),
                request=call("p1"),
                pricing=PRICES,
                at=now - age,
            )
    quotas = {
        "anthropic": ProviderQuota(daily_token_cap=15_000, weekly_token_cap=100_000),
        "openai": ProviderQuota(daily_token_cap=1000),
    }
    with unit_of_work(factory) as session:
        day = usage_summary(session, "day", now, quotas)
        week = usage_summary(session, "week", now, quotas)
        month = usage_summary(session, "month", now, quotas)

    (anthropic_day,) = day["providers"]
    assert anthropic_day == {
        "provider": "anthropic",
        "period": "day",
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "total_tokens": 1500,
        "unsplit_tokens": 300,
        "calls": 2,
        "cap_tokens": 15_000,
        "percent_of_cap": 10.0,
    }
    (sonnet,) = day["models"]
    assert sonnet["cost_usd"] == pytest.approx(1000 * 3e-6 + 200 * 15e-6)
    assert sonnet["cost_complete"] is False  # the total-only call has no known cost
    by_provider = {p["provider"]: p for p in week["providers"]}
    assert by_provider["openai"]["total_tokens"] == 100
    assert by_provider["openai"]["cap_tokens"] is None  # no weekly cap configured
    assert by_provider["openai"]["percent_of_cap"] is None
    assert sum(p["total_tokens"] for p in month["providers"]) == 1600  # 40 days is outside
