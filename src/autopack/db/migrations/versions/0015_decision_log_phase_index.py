"""A phase's decisions by index: ``decision_log (run_id, phase_id)``.

The executor reads one phase's decisions several times per phase (the hardening fixes to
make again, the phase's layout, what memory keeps of it). With only ``run_id`` indexed,
each read scanned every decision of the run, so a phase cost more the more phases came
before it (see benchmarks/executor_overhead.py at 1,000 phases).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_decision_log_run_phase", "decision_log", ["run_id", "phase_id"])


def downgrade() -> None:
    op.drop_index("ix_decision_log_run_phase", table_name="decision_log")
