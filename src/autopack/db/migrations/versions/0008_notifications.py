"""Notifications: the outbox of deliveries, and the decision tokens already used.

``notifications`` holds one row per (event, channel) delivery, written in the transaction
of what it tells about and sent by the drainer; ``decision_tokens`` remembers each signed
link and Telegram callback that decided an approval, so none decides twice.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event", sa.String(length=32), server_default="approval_needed", nullable=False),
        sa.Column("channel", sa.String(length=64), server_default="", nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("phase_id", sa.String(length=128), nullable=True),
        sa.Column("payload", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sent', 'failed', 'dead')",
            name=op.f("ck_notifications_state_known"),
        ),
        sa.CheckConstraint(
            "event IN ('approval_needed', 'run_finished', 'run_failed', 'phase_failed', 'budget_80', 'test')",
            name=op.f("ck_notifications_event_known"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_notifications_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_notifications_next_attempt_at"), ["next_attempt_at"], unique=False
        )
    op.create_table(
        "decision_tokens",
        sa.Column("token_id", sa.String(length=128), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=False),
        sa.Column("used_by", sa.String(length=128), server_default="", nullable=False),
        sa.Column(
            "used_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name=op.f("fk_decision_tokens_approval_id_approvals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_decision_tokens")),
    )
    with op.batch_alter_table("decision_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_decision_tokens_approval_id"), ["approval_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("decision_tokens")
    op.drop_table("notifications")
