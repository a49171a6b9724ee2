"""Dashboard indexes: the board's newest runs, phase counts by state per run and per
tier (covering), a phase's LLM calls and a run's cost, pending approvals.

With 10,000 phases the counts by state scanned every phase row of the runs shown; these
indexes answer them from the index alone (see benchmarks/dashboard.py).

Revision ID: 0011
Revises: 0006 (the integrator rechains it)
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    ("ix_runs_created", "runs", ["created_at"]),
    ("ix_phases_run_state", "phases", ["run_id", "state"]),
    ("ix_phases_run_tier_state", "phases", ["run_id", "tier_pk", "state"]),
    ("ix_llm_usage_events_run_phase", "llm_usage_events", ["run_id", "phase_id"]),
    ("ix_llm_usage_events_run_cost", "llm_usage_events", ["run_id", "cost_usd"]),
    ("ix_approvals_status", "approvals", ["status"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
