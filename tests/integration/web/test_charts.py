"""Usage charts: the daily aggregation in SQL (SQLite and PostgreSQL) and the SVG drawn
from it, with the recorded series and each provider's cap."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session, sessionmaker

from autopack.config import ProviderQuota
from autopack.db.session import unit_of_work
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.services import usage
from autopack.web import charts

REQUEST = LLMRequest(role="builder", system="s", messages=(Message("user", "u"),), max_tokens=10)


def record(
    factory: sessionmaker[Session], when: datetime, provider: str, model: str, usage_: Usage
) -> None:
    completion = Completion(
        text="x", provider=provider, model=model, usage=usage_, stop_reason="end"
    )
    with unit_of_work(factory) as session:
        usage.record_usage(session, completion=completion, request=REQUEST, at=when)


def seed(factory: sessionmaker[Session]) -> None:
    record(
        factory,
        datetime(2026, 3, 1, 0, 5, tzinfo=UTC),
        "anthropic",
        "claude-sonnet-4-5",
        Usage.reported(1000, 200),
    )
    record(
        factory,
        datetime(2026, 3, 1, 23, 59, tzinfo=UTC),
        "anthropic",
        "claude-sonnet-4-5",
        Usage.reported(3000, 800),
    )
    record(
        factory,
        datetime(2026, 3, 3, 12, 0, tzinfo=UTC),
        "anthropic",
        "claude-sonnet-4-5",
        Usage.total_only(777),
    )
    record(
        factory,
        datetime(2026, 3, 3, 12, 0, tzinfo=UTC),
        "local",
        "my-llama",
        Usage.reported(50, 50),
    )
    # Outside the window on both sides.
    record(
        factory,
        datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
        "anthropic",
        "claude-sonnet-4-5",
        Usage.reported(99999, 1),
    )
    record(
        factory,
        datetime(2026, 3, 4, 0, 0, tzinfo=UTC),
        "anthropic",
        "claude-sonnet-4-5",
        Usage.reported(99999, 1),
    )


def test_daily_usage_groups_by_utc_day_provider_and_model(
    session_factory: sessionmaker[Session],
) -> None:
    seed(session_factory)
    with session_factory() as session:
        rows = usage.daily_usage(session, first_day=date(2026, 3, 1), last_day=date(2026, 3, 3))
    assert [(r.day, r.provider, r.model, r.calls, r.total_tokens) for r in rows] == [
        (date(2026, 3, 1), "anthropic", "claude-sonnet-4-5", 2, 5000),
        (date(2026, 3, 3), "anthropic", "claude-sonnet-4-5", 1, 777),
        (date(2026, 3, 3), "local", "my-llama", 1, 100),
    ]
    first = rows[0]
    assert (first.prompt_tokens, first.completion_tokens) == (4000, 1000)
    assert first.cost_usd is not None and first.cost_usd > 0 and first.cost_complete
    assert (rows[2].cost_usd, rows[2].cost_complete) == (None, False)


def test_the_charts_show_the_recorded_series_and_the_cap(
    session_factory: sessionmaker[Session],
) -> None:
    seed(session_factory)
    caps = {"anthropic": ProviderQuota(daily_token_cap=6000)}
    with session_factory() as session:
        drawn = charts.usage_charts(session, last_day=date(2026, 3, 3), days=3, caps=caps)
    svg = drawn.tokens_svg
    assert svg.startswith("<svg") and "<script" not in svg and "http://kozea" not in svg
    assert "anthropic / claude-sonnet-4-5" in svg and "local / my-llama" in svg
    assert "anthropic daily cap (6,000)" in svg
    values = re.findall(r'<desc class="value">([^<]*)</desc>', svg)
    # Model lines: one point per day, zero on the quiet day; the cap is a dashed line
    # (the third series), without dots.
    assert values == ["5,000", "0", "777", "0", "0", "100"]
    assert ".series.serie-2{stroke-width:2;stroke-dasharray:8,5}" in svg
    assert svg.count('class="line reactive nofill"') == 3
    assert [d.isoformat() for d in charts.window(drawn.first_day, drawn.last_day)] == [
        "2026-03-01",
        "2026-03-02",
        "2026-03-03",
    ]
    assert "Cost per day" in drawn.cost_svg and "(some calls unpriced)" in drawn.cost_svg


def test_an_empty_window_says_so(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        drawn = charts.usage_charts(session, last_day=date(2026, 3, 3), days=7)
    assert "No LLM calls in this window" in drawn.tokens_svg


def test_the_same_numbers_reuse_the_drawing_and_new_numbers_redraw() -> None:
    row = usage.DailyUsage(
        day=date(2026, 3, 1),
        provider="anthropic",
        model="claude-haiku-4-5",
        calls=1,
        total_tokens=1234,
        prompt_tokens=1000,
        completion_tokens=234,
        cost_usd=0.001,
        cost_complete=True,
    )
    days = charts.window(date(2026, 3, 1), date(2026, 3, 2))
    first = charts.tokens_chart([row], days)
    # pygal gives every drawing a random id: the same text means the same drawing.
    assert charts.tokens_chart([row.model_copy()], days) == first
    more = row.model_copy(update={"total_tokens": 4321})
    redrawn = charts.tokens_chart([more], days)
    assert redrawn != first and "4,321" in redrawn and "1,234" not in redrawn
