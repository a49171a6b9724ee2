"""Governance requests and approval expiry.

``governance_requests``: a Builder's request to change protected paths, with the
policy's class (risk) and the decision (automatic, or a person's through an approval).
``approvals`` gain ``expires_at`` and ``on_expiry`` and the status ``expired``.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS_CHECK = "ck_approvals_status_known"


def upgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("on_expiry", sa.String(length=16), nullable=True))
        batch_op.drop_constraint(batch_op.f(_STATUS_CHECK), type_="check")
        batch_op.create_check_constraint(
            batch_op.f(_STATUS_CHECK), "status IN ('pending', 'approved', 'rejected', 'expired')"
        )
    op.create_table(
        "governance_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("phase_id", sa.String(length=128), server_default="", nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("paths", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("risk", sa.String(length=16), server_default="person", nullable=False),
        sa.Column("decision", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("why", sa.Text(), server_default="", nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approval_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "risk IN ('unprotected', 'low', 'person', 'critical')",
            name=op.f("ck_governance_requests_risk_known"),
        ),
        sa.CheckConstraint(
            "decision IN ('not_needed', 'approved', 'pending', 'rejected', 'refused', 'expired')",
            name=op.f("ck_governance_requests_decision_known"),
        ),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name=op.f("fk_governance_requests_approval_id_approvals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_governance_requests_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_requests")),
    )
    with op.batch_alter_table("governance_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_governance_requests_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("governance_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_requests_run_id"))
    op.drop_table("governance_requests")
    # Expired approvals have no status before this revision: they become rejections.
    op.execute("UPDATE approvals SET status = 'rejected' WHERE status = 'expired'")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(_STATUS_CHECK), type_="check")
        batch_op.create_check_constraint(
            batch_op.f(_STATUS_CHECK), "status IN ('pending', 'approved', 'rejected')"
        )
        batch_op.drop_column("on_expiry")
        batch_op.drop_column("expires_at")
