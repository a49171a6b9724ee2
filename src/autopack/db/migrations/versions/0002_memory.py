"""Memory: retrieval documents with their full-text index, the embedding cache, rules.

The full-text index is database-specific and not expressible in the ORM, so it is made
here with SQL: on SQLite an FTS5 table ``memory_fts`` (external content over
``memory_documents``, porter stemming, kept in step by triggers); on PostgreSQL a
generated ``search_vector`` tsvector column with a GIN index. Vectors are created by
``memory.vectors`` when the database can hold them (their dimension is the model's).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("(CURRENT_TIMESTAMP)")

_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE memory_fts USING fts5(title, text, content='memory_documents', "
    "content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER memory_documents_fts_insert AFTER INSERT ON memory_documents BEGIN "
    "INSERT INTO memory_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    "CREATE TRIGGER memory_documents_fts_delete AFTER DELETE ON memory_documents BEGIN "
    "INSERT INTO memory_fts(memory_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); END",
    "CREATE TRIGGER memory_documents_fts_update AFTER UPDATE ON memory_documents BEGIN "
    "INSERT INTO memory_fts(memory_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); "
    "INSERT INTO memory_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
]
_POSTGRES_FTS = [
    "ALTER TABLE memory_documents ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
    "(setweight(to_tsvector('english', title), 'A') || to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_memory_documents_search ON memory_documents USING gin (search_vector)",
]


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=None if nullable else _NOW,
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "memory_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("collection", sa.String(length=32), server_default="code", nullable=False),
        sa.Column("repo_key", sa.String(length=200), server_default="", nullable=False),
        sa.Column("key", sa.String(length=600), server_default="", nullable=False),
        sa.Column("source", sa.String(length=600), server_default="", nullable=False),
        sa.Column("source_hash", sa.String(length=64), server_default="", nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("meta", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("content_hash", sa.String(length=64), server_default="", nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_documents")),
        sa.UniqueConstraint("collection", "repo_key", "key", name="uq_memory_documents_key"),
    )
    op.create_index(
        "ix_memory_documents_repo_source",
        "memory_documents",
        ["repo_key", "collection", "source"],
        unique=False,
    )
    op.create_table(
        "memory_embeddings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("content_hash", sa.String(length=64), server_default="", nullable=False),
        sa.Column("model", sa.String(length=200), server_default="", nullable=False),
        sa.Column("dimension", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("vector", sa.JSON(), server_default="[]", nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_embeddings")),
        sa.UniqueConstraint("content_hash", "model", name="uq_memory_embeddings_key"),
    )
    op.create_table(
        "memory_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repo_key", sa.String(length=200), server_default="", nullable=False),
        sa.Column("rule_key", sa.String(length=64), server_default="", nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("category", sa.String(length=64), server_default="", nullable=False),
        sa.Column("failure_kind", sa.String(length=64), server_default="", nullable=False),
        sa.Column("paths", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("evidence", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("times_seen", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("hit_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _timestamp("created_at"),
        _timestamp("last_seen_at"),
        _timestamp("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_rules")),
        sa.UniqueConstraint("repo_key", "rule_key", name="uq_memory_rules_key"),
    )
    op.create_index(op.f("ix_memory_rules_repo_key"), "memory_rules", ["repo_key"], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_FTS if dialect == "sqlite" else _POSTGRES_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS memory_vec")
        op.execute("DROP TABLE IF EXISTS memory_fts")
    else:
        op.execute("DROP TABLE IF EXISTS memory_vectors")
    op.drop_index(op.f("ix_memory_rules_repo_key"), table_name="memory_rules")
    op.drop_table("memory_rules")
    op.drop_table("memory_embeddings")
    op.drop_index("ix_memory_documents_repo_source", table_name="memory_documents")
    op.drop_table("memory_documents")
