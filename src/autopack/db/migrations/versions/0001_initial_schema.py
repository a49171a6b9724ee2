"""Initial schema: runs, tiers, phases, attempts, issues, usage, decisions, approvals, keys.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 23:29:58.999836
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("key_hash", sa.String(length=128), server_default="", nullable=False),
        sa.Column("prefix", sa.String(length=16), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "model_overrides",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("role", sa.String(length=32), server_default="builder", nullable=False),
        sa.Column("category", sa.String(length=64), server_default="general", nullable=False),
        sa.Column("complexity", sa.String(length=16), server_default="medium", nullable=False),
        sa.Column("model", sa.String(length=128), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_overrides")),
        sa.UniqueConstraint("role", "category", "complexity", name="uq_model_overrides_key"),
    )
    op.create_table(
        "project_issues",
        sa.Column("issue_key", sa.String(length=200), nullable=False),
        sa.Column("base_severity", sa.String(length=16), server_default="minor", nullable=False),
        sa.Column("category", sa.String(length=64), server_default="general", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("age_in_runs", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("age_in_tiers", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("occurrence_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("seen_in_runs", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("seen_in_tiers", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("first_seen_run_id", sa.String(length=128), server_default="", nullable=False),
        sa.Column("last_seen_run_id", sa.String(length=128), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "base_severity IN ('minor', 'major')",
            name=op.f("ck_project_issues_base_severity_known"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'needs_cleanup', 'closed')",
            name=op.f("ck_project_issues_status_known"),
        ),
        sa.PrimaryKeyConstraint("issue_key", name=op.f("pk_project_issues")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("goal", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.String(length=48), server_default="RUN_CREATED", nullable=False),
        sa.Column("safety_profile", sa.String(length=32), server_default="normal", nullable=False),
        sa.Column("run_scope", sa.String(length=64), server_default="multi_tier", nullable=False),
        sa.Column("spec", sa.JSON(), server_default="{}", nullable=False),
        sa.Column(
            "token_cap", sa.BigInteger(), server_default=sa.text("(5000000)"), nullable=False
        ),
        sa.Column("max_phases", sa.Integer(), server_default=sa.text("(25)"), nullable=False),
        sa.Column(
            "max_duration_minutes", sa.Integer(), server_default=sa.text("(120)"), nullable=False
        ),
        sa.Column("ci_run_cap", sa.Integer(), nullable=True),
        sa.Column(
            "max_minor_issues_total", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("tokens_used", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("ci_runs_used", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("minor_issues_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("major_issues_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("doctor_calls", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("provider_errors", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("apply_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("total_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "promotion_eligible_to_main",
            sa.String(length=8),
            server_default="false",
            nullable=False,
        ),
        sa.Column("debt_status", sa.String(length=64), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("repo_path", sa.Text(), nullable=True),
        sa.Column("base_ref", sa.String(length=256), nullable=True),
        sa.Column("branch", sa.String(length=256), nullable=True),
        sa.Column("worktree_path", sa.Text(), nullable=True),
        sa.Column("baseline", sa.JSON(), nullable=True),
        sa.Column("model_overrides", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("phases_executed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('QUEUED', 'PLAN_BOOTSTRAP', 'RUN_CREATED', 'PHASE_QUEUEING', 'PHASE_EXECUTION', 'GATE', 'CI_RUNNING', 'SNAPSHOT_CREATED', 'DONE_SUCCESS', 'DONE_FAILED_BUDGET_EXHAUSTED', 'DONE_FAILED_TOKEN_CAP_EXCEEDED', 'DONE_FAILED_PHASE_LIMIT_EXCEEDED', 'DONE_FAILED_POLICY_VIOLATION', 'DONE_FAILED_REQUIRES_HUMAN_REVIEW', 'DONE_FAILED_ENVIRONMENT', 'DONE_CANCELLED')",
            name=op.f("ck_runs_state_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runs_state"), ["state"], unique=False)

    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("phase_id", sa.String(length=128), server_default="", nullable=False),
        sa.Column("kind", sa.String(length=32), server_default="large_deletion", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("details", sa.JSON(), server_default="{}", nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decision_note", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name=op.f("ck_approvals_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_approvals_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approvals_run_id"), ["run_id"], unique=False)

    op.create_table(
        "decision_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("phase_id", sa.String(length=128), nullable=True),
        sa.Column("actor", sa.String(length=32), server_default="executor", nullable=False),
        sa.Column("decision", sa.String(length=64), server_default="", nullable=False),
        sa.Column("rationale", sa.Text(), server_default="", nullable=False),
        sa.Column("details", sa.JSON(), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_decision_log_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_log")),
    )
    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decision_log_run_id"), ["run_id"], unique=False)

    op.create_table(
        "human_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_human_notes_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_human_notes")),
    )
    with op.batch_alter_table("human_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_human_notes_run_id"), ["run_id"], unique=False)

    op.create_table(
        "llm_usage_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=64), server_default="", nullable=False),
        sa.Column("model", sa.String(length=128), server_default="", nullable=False),
        sa.Column("role", sa.String(length=32), server_default="", nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("phase_id", sa.String(length=128), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("exact", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("stop_reason", sa.String(length=32), nullable=True),
        sa.Column("truncated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_llm_usage_events_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_usage_events")),
    )
    with op.batch_alter_table("llm_usage_events", schema=None) as batch_op:
        batch_op.create_index("ix_llm_usage_events_created", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_llm_usage_events_run_id"), ["run_id"], unique=False)

    op.create_table(
        "run_issues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("issue_key", sa.String(length=200), server_default="", nullable=False),
        sa.Column("severity", sa.String(length=16), server_default="minor", nullable=False),
        sa.Column("category", sa.String(length=64), server_default="general", nullable=False),
        sa.Column("occurrence_count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("phase_ids", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("tier_ids", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("first_seen_phase_id", sa.String(length=128), server_default="", nullable=False),
        sa.Column("last_seen_phase_id", sa.String(length=128), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "severity IN ('minor', 'major')", name=op.f("ck_run_issues_severity_known")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_issues_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_issues")),
        sa.UniqueConstraint("run_id", "issue_key", name="uq_run_issues_key"),
    )
    with op.batch_alter_table("run_issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_issues_run_id"), ["run_id"], unique=False)

    op.create_table(
        "tiers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("tier_id", sa.String(length=100), server_default="", nullable=False),
        sa.Column("tier_index", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.String(length=32), server_default="PENDING", nullable=False),
        sa.Column("token_cap", sa.BigInteger(), nullable=True),
        sa.Column("ci_run_cap", sa.Integer(), nullable=True),
        sa.Column("max_minor_issues_tolerated", sa.Integer(), nullable=True),
        sa.Column(
            "max_major_issues_tolerated", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("tokens_used", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("ci_runs_used", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("minor_issues_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("major_issues_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("cleanliness", sa.String(length=16), server_default="clean", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('PENDING', 'IN_PROGRESS', 'COMPLETE', 'FAILED', 'SKIPPED')",
            name=op.f("ck_tiers_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_tiers_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tiers")),
        sa.UniqueConstraint("run_id", "tier_id", name="uq_tiers_run_tier"),
    )
    with op.batch_alter_table("tiers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tiers_run_id"), ["run_id"], unique=False)

    op.create_table(
        "token_estimation_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("phase_id", sa.String(length=128), nullable=True),
        sa.Column("model", sa.String(length=128), server_default="", nullable=False),
        sa.Column("task_category", sa.String(length=64), server_default="feature", nullable=False),
        sa.Column("complexity", sa.String(length=16), server_default="medium", nullable=False),
        sa.Column("builder_mode", sa.String(length=64), nullable=True),
        sa.Column("deliverables_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("context_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("estimated_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("chosen_budget", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("actual_output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("truncated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_token_estimation_events_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_estimation_events")),
    )
    with op.batch_alter_table("token_estimation_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_token_estimation_events_run_id"), ["run_id"], unique=False
        )

    op.create_table(
        "phases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("tier_pk", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.String(length=128), server_default="", nullable=False),
        sa.Column("phase_index", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.String(length=32), server_default="QUEUED", nullable=False),
        sa.Column("task_category", sa.String(length=64), server_default="feature", nullable=False),
        sa.Column("complexity", sa.String(length=16), server_default="medium", nullable=False),
        sa.Column("builder_mode", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.JSON(), server_default="{}", nullable=False),
        sa.Column(
            "max_builder_attempts", sa.Integer(), server_default=sa.text("5"), nullable=False
        ),
        sa.Column(
            "max_auditor_attempts", sa.Integer(), server_default=sa.text("2"), nullable=False
        ),
        sa.Column("incident_token_cap", sa.BigInteger(), nullable=True),
        sa.Column("builder_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("auditor_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("doctor_calls", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("replans", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("escalation_level", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("tokens_used", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("minor_issues_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("major_issues_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("issue_state", sa.String(length=32), server_default="no_issues", nullable=False),
        sa.Column("quality_level", sa.String(length=32), nullable=True),
        sa.Column("quality_blocked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("last_failure", sa.Text(), nullable=True),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("savepoint", sa.String(length=256), nullable=True),
        sa.Column("hints", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "complexity IN ('low', 'medium', 'high')", name=op.f("ck_phases_complexity_known")
        ),
        sa.CheckConstraint(
            "state IN ('QUEUED', 'EXECUTING', 'GATE', 'CI_RUNNING', 'AWAITING_APPROVAL', 'COMPLETE', 'FAILED', 'SKIPPED')",
            name=op.f("ck_phases_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_phases_run_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tier_pk"], ["tiers.id"], name=op.f("fk_phases_tier_pk_tiers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phases")),
        sa.UniqueConstraint("run_id", "phase_id", name="uq_phases_run_phase"),
    )
    with op.batch_alter_table("phases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phases_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_phases_tier_pk"), ["tier_pk"], unique=False)

    op.create_table(
        "phase_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("phase_pk", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), server_default="builder", nullable=False),
        sa.Column("attempt_number", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("status", sa.String(length=32), server_default="", nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("tokens_used", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("payload", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("apply_status", sa.String(length=32), nullable=True),
        sa.Column("apply_result", sa.JSON(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('builder', 'auditor', 'doctor')", name=op.f("ck_phase_attempts_role_known")
        ),
        sa.ForeignKeyConstraint(
            ["phase_pk"],
            ["phases.id"],
            name=op.f("fk_phase_attempts_phase_pk_phases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_phase_attempts_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_attempts")),
    )
    with op.batch_alter_table("phase_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phase_attempts_phase_pk"), ["phase_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_phase_attempts_run_id"), ["run_id"], unique=False)

    op.create_table(
        "phase_issues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("phase_pk", sa.Integer(), nullable=False),
        sa.Column("issue_key", sa.String(length=200), server_default="", nullable=False),
        sa.Column("severity", sa.String(length=16), server_default="minor", nullable=False),
        sa.Column("source", sa.String(length=64), server_default="builder", nullable=False),
        sa.Column("category", sa.String(length=64), server_default="general", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("evidence_refs", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("occurrence_count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "severity IN ('minor', 'major')", name=op.f("ck_phase_issues_severity_known")
        ),
        sa.ForeignKeyConstraint(
            ["phase_pk"],
            ["phases.id"],
            name=op.f("fk_phase_issues_phase_pk_phases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_phase_issues_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_issues")),
        sa.UniqueConstraint("phase_pk", "issue_key", name="uq_phase_issues_key"),
    )
    with op.batch_alter_table("phase_issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phase_issues_run_id"), ["run_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("phase_issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phase_issues_run_id"))

    op.drop_table("phase_issues")
    with op.batch_alter_table("phase_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phase_attempts_run_id"))
        batch_op.drop_index(batch_op.f("ix_phase_attempts_phase_pk"))

    op.drop_table("phase_attempts")
    with op.batch_alter_table("phases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phases_tier_pk"))
        batch_op.drop_index(batch_op.f("ix_phases_run_id"))

    op.drop_table("phases")
    with op.batch_alter_table("token_estimation_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_token_estimation_events_run_id"))

    op.drop_table("token_estimation_events")
    with op.batch_alter_table("tiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tiers_run_id"))

    op.drop_table("tiers")
    with op.batch_alter_table("run_issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_issues_run_id"))

    op.drop_table("run_issues")
    with op.batch_alter_table("llm_usage_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_usage_events_run_id"))
        batch_op.drop_index("ix_llm_usage_events_created")

    op.drop_table("llm_usage_events")
    with op.batch_alter_table("human_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_human_notes_run_id"))

    op.drop_table("human_notes")
    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decision_log_run_id"))

    op.drop_table("decision_log")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approvals_run_id"))

    op.drop_table("approvals")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_state"))

    op.drop_table("runs")
    op.drop_table("project_issues")
    op.drop_table("model_overrides")
    op.drop_table("api_keys")
