"""The per-day usage summary (``llm_usage_daily``) on SQLite and PostgreSQL: every path
that records an LLM call keeps it equal to a GROUP BY over the calls themselves, and the
usage page and API read it with the same numbers the calls give. (The migration's
backfill: tests/integration/db/test_usage_daily_migration.py.)"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from autopack.agents.builder import BuilderContext, run_builder
from autopack.config import ProviderQuota, load_models_config
from autopack.db.orm import LlmUsageDaily, LlmUsageEvent
from autopack.db.session import unit_of_work
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.llm.factory import build_client
from autopack.llm.router import Routing
from autopack.services.metrics import llm_totals
from autopack.services.usage import (
    daily_usage,
    make_estimation_sink,
    make_usage_sink,
    rebuild_usage_daily,
    record_usage,
    usage_summary,
)
from autopack.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PRICES = load_models_config().price_table()
NOW = datetime.now(UTC)


def _request(role: str = "builder", phase_id: str | None = "p1") -> LLMRequest:
    return LLMRequest(
        role=role,
        system="s",
        messages=(Message("user", "u"),),
        max_tokens=100,
        run_id="run-1" if phase_id else None,
        phase_id=phase_id,
    )


def _completion(usage: Usage, provider: str, model: str) -> Completion:
    return Completion(text="x", provider=provider, model=model, usage=usage, stop_reason="end")


def _record_through_every_path(
    factory: sessionmaker[Session], provider_bodies: Any, tmp_path: Path
) -> None:
    # 1. record_usage in a caller's transaction (the API's and the services' way), on
    #    several UTC days, with splits and without, priced and unpriced, with and without
    #    a run, several roles.
    calls = [
        (Usage.reported(1000, 200), "anthropic", "claude-sonnet-4-5", "builder", 0),
        (Usage.total_only(300), "anthropic", "claude-sonnet-4-5", "builder", 0),
        (Usage.reported(50, 50), "anthropic", "claude-sonnet-4-5", "auditor", 1),
        (Usage.reported(70, 7), "openai", "gpt-5", "doctor", 2),
        (Usage.reported(5, 5), "local", "my-llama", "builder", 2),
        (Usage.total_only(11), "local", "my-llama", "builder", 9),
        (Usage.reported(9, 1), "anthropic", "claude-opus-4-5", "auditor", 40),
    ]
    with unit_of_work(factory) as session:
        for i, (usage, provider, model, role, days_ago) in enumerate(calls):
            record_usage(
                session,
                completion=_completion(usage, provider, model),
                request=_request(role, "p1" if i % 2 else None),
                pricing=PRICES,
                at=NOW - timedelta(days=days_ago, minutes=i),
            )
    # 2. The executor's sink: one transaction per call.
    sink = make_usage_sink(factory, PRICES)
    sink(_request("builder", "p2"), _completion(Usage.reported(40, 4), "openai", "gpt-5"))
    sink(_request("auditor", "p3"), _completion(Usage.total_only(13), "local", "my-llama"))
    # 3. A Builder call through a provider adapter and the client, into that sink.
    config = load_models_config()
    client = build_client(
        Settings(home=tmp_path),
        usage_sink=make_usage_sink(factory, config.price_table()),
        estimation_sink=make_estimation_sink(factory),
        http_client=httpx2.Client(
            transport=httpx2.MockTransport(
                lambda _r: provider_bodies.anthropic(
                    '{"op": "create", "path": "src/a.py", "content": "A = 1\\n"}', 1800, 120
                )
            )
        ),
        environ={"ANTHROPIC_API_KEY": "sk-ant-test", "OPENAI_API_KEY": "sk-test"},
        sleep=lambda _s: None,
    )
    run_builder(
        client,
        BuilderContext(
            run_id="run-1",
            phase_id="p1",
            goal="G",
            phase_name="P1",
            deliverables=["src/a.py"],
            allowed_paths=["src/"],
        ),
        Routing(category="feature", complexity="medium"),
    )


def _grouped_calls(session: Session) -> dict[tuple[date, str, str, str], tuple[Any, ...]]:
    """The oracle: every call read back and grouped here, in Python."""
    out: dict[tuple[date, str, str, str], list[Any]] = defaultdict(lambda: [0] * 6 + [0.0])
    for e in session.scalars(select(LlmUsageEvent)):
        row = out[(e.created_at.astimezone(UTC).date(), e.provider, e.model, e.role)]
        row[0] += 1
        row[1] += e.prompt_tokens or 0
        row[2] += e.completion_tokens or 0
        row[3] += e.total_tokens
        row[4] += e.total_tokens if e.prompt_tokens is None else 0
        row[5] += 0 if e.cost_usd is None else 1
        row[6] += e.cost_usd or 0.0
    return {k: tuple(v) for k, v in out.items()}


def _summary(session: Session) -> dict[tuple[date, str, str, str], tuple[Any, ...]]:
    return {
        (r.day, r.provider, r.model, r.role): (
            r.calls,
            r.prompt_tokens,
            r.completion_tokens,
            r.total_tokens,
            r.unsplit_tokens,
            r.priced_calls,
            pytest.approx(r.cost_usd, abs=1e-9),
        )
        for r in session.scalars(select(LlmUsageDaily))
    }


def test_every_path_that_records_a_call_keeps_the_daily_summary_equal_to_the_calls(
    any_engine, make_factory, seed_run, provider_bodies, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(any_engine)
    seed_run(factory)
    _record_through_every_path(factory, provider_bodies, tmp_path)
    with factory() as session:
        calls = _grouped_calls(session)
        assert sum(v[0] for v in calls.values()) == 10
        assert _summary(session) == calls
        # The same grouping in SQL over the calls agrees too (the UTC day as stored).
        day = (
            func.date(func.timezone("UTC", LlmUsageEvent.created_at))
            if any_engine.dialect.name == "postgresql"
            else func.date(LlmUsageEvent.created_at)
        )
        in_sql = session.execute(
            select(
                day, LlmUsageEvent.provider, LlmUsageEvent.model, LlmUsageEvent.role, func.count()
            ).group_by(day, LlmUsageEvent.provider, LlmUsageEvent.model, LlmUsageEvent.role)
        ).all()
        assert {
            (d if isinstance(d, date) else date.fromisoformat(d), p, m, r): n
            for d, p, m, r, n in in_sql
        } == {k: v[0] for k, v in calls.items()}
    # Summing every call again (after a bulk load) gives the same rows.
    with unit_of_work(factory) as session:
        assert rebuild_usage_daily(session) == len(calls)
    with factory() as session:
        assert _summary(session) == calls


def test_the_usage_page_and_api_read_the_numbers_the_calls_give(
    any_engine, make_factory, seed_run, provider_bodies, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(any_engine)
    seed_run(factory)
    _record_through_every_path(factory, provider_bodies, tmp_path)
    quotas = {"anthropic": ProviderQuota(daily_token_cap=10_000, weekly_token_cap=100_000)}
    with factory() as session:
        events = list(session.scalars(select(LlmUsageEvent)))
        first, last = NOW.date() - timedelta(days=29), NOW.date()
        by_day: dict[tuple[date, str, str], list[Any]] = defaultdict(lambda: [0, 0, 0.0, 0])
        for e in events:
            when = e.created_at.astimezone(UTC).date()
            if first <= when <= last:
                row = by_day[(when, e.provider, e.model)]
                row[0] += 1
                row[1] += e.total_tokens
                row[2] += e.cost_usd or 0.0
                row[3] += e.cost_usd is not None
        assert [
            (r.day, r.provider, r.model, r.calls, r.total_tokens, r.cost_complete)
            for r in daily_usage(session, first_day=first, last_day=last)
        ] == [(k[0], k[1], k[2], v[0], v[1], v[3] == v[0]) for k, v in sorted(by_day.items())]
        # The metrics scrape's all-time totals.
        everything: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for e in events:
            everything[(e.provider, e.model)][0] += 1
            everything[(e.provider, e.model)][1] += e.total_tokens
        assert [(t.provider, t.model, t.calls, t.total_tokens) for t in llm_totals(session)] == [
            (k[0], k[1], v[0], v[1]) for k, v in sorted(everything.items())
        ]
        # The API's rolling windows: whole days from the summary, the ends from calls.
        # A window ending mid-day, and one ending exactly at midnight.
        midnight = datetime.combine(NOW.date(), datetime.min.time(), tzinfo=UTC)
        for until in (NOW + timedelta(seconds=1), midnight):
            for period, days in (("day", 1), ("week", 7), ("month", 30)):
                got = usage_summary(session, period, until, quotas)  # type: ignore[arg-type]
                inside = [
                    e for e in events if until - timedelta(days=days) <= e.created_at <= until
                ]
                models: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
                for e in inside:
                    row = models[(e.provider, e.model)]
                    row[0] += 1
                    row[1] += e.total_tokens
                    row[2] += e.total_tokens if e.prompt_tokens is None else 0
                    row[3] += e.cost_usd is not None
                assert [
                    (m["provider"], m["model"], m["calls"], m["total_tokens"], m["unsplit_tokens"])
                    for m in got["models"]
                ] == [(k[0], k[1], v[0], v[1], v[2]) for k, v in sorted(models.items())], (
                    period,
                    until,
                )
                assert [m["cost_complete"] for m in got["models"]] == [
                    v[3] == v[0] for _, v in sorted(models.items())
                ]
                totals: dict[str, int] = defaultdict(int)
                for e in inside:
                    totals[e.provider] += e.total_tokens
                assert {p["provider"]: p["total_tokens"] for p in got["providers"]} == totals
