"""Migration 0014 fills ``llm_usage_daily`` from the calls recorded before it (by UTC
day, provider, model and role, with the sums the usage reads need), on SQLite and
PostgreSQL, and goes down and up again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, text

from autopack.db import migrate


def test_the_migration_fills_the_summary_from_calls_recorded_before_it(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(empty_engine, "0013")
    rows = [
        ("2026-03-01 00:05:00", "anthropic", "claude-sonnet-4-5", "builder", 1000, 200, 1200, 0.5),
        ("2026-03-01 23:59:00", "anthropic", "claude-sonnet-4-5", "builder", None, None, 300, None),
        ("2026-03-02 00:00:00", "anthropic", "claude-sonnet-4-5", "builder", 10, 5, 15, 0.25),
        ("2026-03-02 12:00:00", "local", "my-llama", "auditor", 3, 4, 7, None),
    ]
    with empty_engine.begin() as conn:
        for when, provider, model, role, prompt, completion, total, cost in rows:
            conn.execute(
                text(
                    "INSERT INTO llm_usage_events (created_at, provider, model, role, "
                    "prompt_tokens, completion_tokens, total_tokens, cost_usd) VALUES "
                    "(:when, :provider, :model, :role, :prompt, :completion, :total, :cost)"
                ),
                {
                    "when": datetime.fromisoformat(when).replace(tzinfo=UTC),
                    "provider": provider,
                    "model": model,
                    "role": role,
                    "prompt": prompt,
                    "completion": completion,
                    "total": total,
                    "cost": cost,
                },
            )
    migrate.upgrade(empty_engine, "0014")
    with empty_engine.connect() as conn:
        got = conn.execute(
            text(
                "SELECT day, provider, model, role, calls, prompt_tokens, completion_tokens, "
                "total_tokens, unsplit_tokens, cost_usd, priced_calls FROM llm_usage_daily "
                "ORDER BY day, provider"
            )
        ).all()
    assert [(str(r[0]), *r[1:]) for r in got] == [
        (
            "2026-03-01",
            "anthropic",
            "claude-sonnet-4-5",
            "builder",
            2,
            1000,
            200,
            1500,
            300,
            0.5,
            1,
        ),
        ("2026-03-02", "anthropic", "claude-sonnet-4-5", "builder", 1, 10, 5, 15, 0, 0.25, 1),
        ("2026-03-02", "local", "my-llama", "auditor", 1, 3, 4, 7, 0, 0.0, 0),
    ]
    migrate.downgrade(empty_engine, "0013")
    migrate.upgrade(empty_engine, "head")
