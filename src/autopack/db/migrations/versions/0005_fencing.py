"""Lease fencing: runs.lease_token, the run_leases history, decision_log.lease_token;
and provider_reservations, the provider limits shared by all executors.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-30 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_token", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_token", sa.BigInteger(), nullable=True))
    op.create_table(
        "run_leases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("token", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("owner", sa.String(length=128), server_default="", nullable=False),
        sa.Column(
            "acquired_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_leases_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_leases")),
        sa.UniqueConstraint("run_id", "token", name="uq_run_leases_run_token"),
    )
    with op.batch_alter_table("run_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_leases_run_id"), ["run_id"], unique=False)
    op.create_table(
        "provider_reservations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=64), server_default="", nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("settled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_reservations")),
    )
    with op.batch_alter_table("provider_reservations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provider_reservations_window", ["provider", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("provider_reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_reservations_window")
    op.drop_table("provider_reservations")
    with op.batch_alter_table("run_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_leases_run_id"))
    op.drop_table("run_leases")
    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.drop_column("lease_token")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("lease_token")
