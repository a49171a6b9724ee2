"""Decisions name people: ``decision_log.actor`` holds a whole identity (``user:<name>``
with a name of up to 64 characters, ``cli:<OS user>``), and a decision that concerns no
single run (a key revoked, a user added or disabled, a global model override) has no run.

Revision ID: 0013
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.alter_column(
            "actor",
            existing_type=sa.String(length=32),
            type_=sa.String(length=128),
            existing_nullable=False,
            existing_server_default="executor",
        )
        batch_op.alter_column("run_id", existing_type=sa.String(length=128), nullable=True)


def downgrade() -> None:
    # Decisions without a run cannot stay once run_id is required again.
    op.execute(sa.text("DELETE FROM decision_log WHERE run_id IS NULL"))
    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.alter_column("run_id", existing_type=sa.String(length=128), nullable=False)
        batch_op.alter_column(
            "actor",
            existing_type=sa.String(length=128),
            type_=sa.String(length=32),
            existing_nullable=False,
            existing_server_default="executor",
        )
