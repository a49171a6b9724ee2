"""Schema migrations, driven programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Column, Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: Schema objects that exist only in the database, never in the ORM's metadata, so the
#: ORM-vs-migration comparison and autogenerate must leave them alone: the full-text
#: index of memory (an FTS5 virtual table and its shadow tables on SQLite; a generated
#: tsvector column and its GIN index on PostgreSQL) and the vector tables of
#: ``memory.vectors`` (sqlite-vec's vec0 table and its shadows; pgvector's table), none
#: of which SQLAlchemy's types can describe.
DATABASE_ONLY_PREFIXES: tuple[str, ...] = ("memory_fts", "memory_vec")
DATABASE_ONLY_NAMES: frozenset[str] = frozenset({"search_vector", "ix_memory_documents_search"})


def is_database_only(name: str | None) -> bool:
    """Whether ``name`` (a table, column or index) is one of :data:`DATABASE_ONLY_PREFIXES`
    or :data:`DATABASE_ONLY_NAMES`."""
    return bool(name) and (
        name in DATABASE_ONLY_NAMES or str(name).startswith(DATABASE_ONLY_PREFIXES)
    )


def include_object(
    _obj: Any, name: str | None, _type: str, reflected: bool, _compare_to: Any
) -> bool:
    """Alembic's ``include_object`` hook: skip the database-only objects when comparing."""
    return not (reflected and is_database_only(name))


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return cfg


def head_revision() -> str:
    """The revision this version of the code expects."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None, "the migrations directory has no revisions"
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None for a database never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _default_text(default: str | None) -> str | None:
    """A server default as comparable text: parentheses, casts and quotes removed."""
    if default is None:
        return None
    text = default.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    text = text.split("::", 1)[0]
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1]
    return text


def compare_server_default(
    context: Any,
    inspected_column: Any,
    metadata_column: Column[Any],
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Server-default comparison for autogenerate (``compare_server_default=`` in env.py).

    Alembic's own comparison fails on two kinds of default this schema uses everywhere:
    on PostgreSQL it asks the server ``'{}'::json = '{}'`` and ``json`` has no ``=``
    (autogenerate crashes); on SQLite it reports every ``''`` default as changed. Those
    are compared here as text; everything else is left to Alembic (None).
    """
    if isinstance(metadata_column.type, JSON) or _default_text(rendered_metadata_default) == "":
        return _default_text(inspected_default) != _default_text(rendered_metadata_default)
    return None
