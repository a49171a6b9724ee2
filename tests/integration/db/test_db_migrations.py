"""Migrations on SQLite and PostgreSQL: upgrade, downgrade, upgrade again; the migrated
schema is the ORM's; CHECK constraints admit exactly the enum values; server defaults
make raw inserts work."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Date, Engine, Integer, inspect, text
from sqlalchemy.exc import IntegrityError

from autopack.db import migrate
from autopack.db.orm import Base
from autopack.db.session import make_engine, make_session_factory
from autopack.domain.states import STATE_COLUMNS
from autopack.services import runs as run_service


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    # The memory full-text and vector tables are database-only by design (not in the
    # ORM: SQLAlchemy cannot describe FTS5/vec0 tables); migrate.is_database_only names them.
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    return {n for n in names if not migrate.is_database_only(n)}


def test_upgrade_from_empty_downgrade_to_base_and_upgrade_again(empty_engine: Engine) -> None:
    assert migrate.current_revision(empty_engine) is None
    expected = set(Base.metadata.tables)

    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert _tables(empty_engine) == expected

    migrate.downgrade(empty_engine, "base")
    assert migrate.current_revision(empty_engine) is None
    assert _tables(empty_engine) == set()

    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert _tables(empty_engine) == expected


def _schema_differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "compare_server_default": migrate.compare_server_default,
            # Deliberately ignored: memory's full-text index and vectors live only in the
            # database (FTS5 tables, tsvector column + GIN index), see migrate.DATABASE_ONLY.
            "include_object": migrate.include_object,
        },
    )
    return list(compare_metadata(context, Base.metadata))


def test_migrated_schema_matches_the_orm(empty_engine: Engine) -> None:
    """Tables, columns, types, nullability, server defaults, indexes, unique and foreign
    keys: autogenerate against the migrated database finds nothing to do."""
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert _schema_differences(conn) == []


def test_schema_comparison_sees_a_column_the_migration_lacks(empty_engine: Engine) -> None:
    # The comparison above can fail: drop a column and it reports exactly that.
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(text("ALTER TABLE decision_log DROP COLUMN rationale"))
    with empty_engine.connect() as conn:
        diffs = _schema_differences(conn)
    assert [(d[0], d[2], d[3].name) for d in diffs] == [("add_column", "decision_log", "rationale")]


def test_autogenerate_runs_on_the_migrations_own_environment(
    empty_engine: Engine, tmp_path: Path
) -> None:
    """`alembic revision --autogenerate` through env.py: it must not crash (PostgreSQL
    cannot compare JSON defaults with '=') and must find nothing to generate."""
    from alembic import command

    migrate.upgrade(empty_engine)
    cfg = migrate.alembic_config(empty_engine)
    # The new script goes to tmp_path; the real revisions stay where they are.
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option(
        "version_locations",
        os.pathsep.join([str(migrate.MIGRATIONS_DIR / "versions"), str(tmp_path)]),
    )
    with empty_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        script = command.revision(
            cfg, message="probe", autogenerate=True, version_path=str(tmp_path)
        )
    assert script is not None and not isinstance(script, list)
    body = Path(script.path).read_text()
    upgrade_body = body.split("def upgrade() -> None:", 1)[1].split("def downgrade", 1)[0]
    assert "op." not in upgrade_body, upgrade_body


def _every_row(conn: Connection) -> dict[str, Any]:
    """One row in every table that has a state-like column, inserted with raw SQL."""
    conn.execute(text("INSERT INTO runs (id) VALUES ('r')"))
    tier = conn.execute(text("INSERT INTO tiers (run_id) VALUES ('r') RETURNING id")).scalar()
    phase = conn.execute(
        text("INSERT INTO phases (run_id, tier_pk) VALUES ('r', :t) RETURNING id"), {"t": tier}
    ).scalar()
    conn.execute(
        text("INSERT INTO phase_attempts (run_id, phase_pk) VALUES ('r', :p)"), {"p": phase}
    )
    conn.execute(text("INSERT INTO phase_issues (run_id, phase_pk) VALUES ('r', :p)"), {"p": phase})
    conn.execute(text("INSERT INTO run_issues (run_id) VALUES ('r')"))
    conn.execute(text("INSERT INTO project_issues (issue_key) VALUES ('k')"))
    conn.execute(text("INSERT INTO approvals (run_id) VALUES ('r')"))
    conn.execute(text("INSERT INTO users (name) VALUES ('u')"))
    conn.execute(text("INSERT INTO governance_requests (run_id) VALUES ('r')"))
    conn.execute(text("INSERT INTO notifications (channel) VALUES ('c')"))
    return {"tier": tier, "phase": phase}


@pytest.mark.parametrize(("table", "column"), sorted(STATE_COLUMNS))
def test_check_constraints_admit_exactly_the_enum_values(
    migrated_engine: Engine, table: str, column: str
) -> None:
    with migrated_engine.begin() as conn:
        _every_row(conn)
    for member in STATE_COLUMNS[(table, column)]:
        with migrated_engine.begin() as conn:
            conn.execute(text(f"UPDATE {table} SET {column} = :v"), {"v": member.value})
    some = next(iter(STATE_COLUMNS[(table, column)])).value
    for unknown in ("READY", some.lower() if some.isupper() else some.upper(), "", f"{some} "):
        with pytest.raises(IntegrityError), migrated_engine.begin() as conn:
            conn.execute(text(f"UPDATE {table} SET {column} = :v"), {"v": unknown})


def test_raw_sql_cannot_write_the_ready_state(migrated_engine: Engine) -> None:
    """The original's incident: a state the code did not know, written by raw SQL."""
    with migrated_engine.begin() as conn:
        _every_row(conn)
    for table in ("runs", "tiers", "phases"):
        with pytest.raises(IntegrityError) as caught, migrated_engine.begin() as conn:
            conn.execute(text(f"UPDATE {table} SET state = 'READY'"))
        assert f"ck_{table}_state_known" in str(caught.value)
    with pytest.raises(IntegrityError), migrated_engine.begin() as conn:
        conn.execute(text("INSERT INTO runs (id, state) VALUES ('r2', 'READY')"))


def test_raw_insert_of_only_an_id_gets_the_orm_defaults(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    with migrated_engine.begin() as conn:
        conn.execute(text("INSERT INTO runs (id) VALUES ('x')"))
        row = conn.execute(text("SELECT * FROM runs WHERE id = 'x'")).mappings().one()
    assert row["state"] == "RUN_CREATED"
    assert row["token_cap"] == 5_000_000 and row["max_phases"] == 25
    assert row["max_duration_minutes"] == 120
    assert row["tokens_used"] == 0 and row["promotion_eligible_to_main"] == "false"
    assert not row["cancel_requested"]
    assert row["created_at"] is not None
    # ... and the code reads it like any other run.
    factory = make_session_factory(migrated_engine)
    with factory() as session:
        run = run_service.get_run(session, "x")
        assert run.state == "RUN_CREATED"
        assert run.spec == {} and run.model_overrides == {}
        assert run.created_at.tzinfo is not None
        assert run_service.run_spec(run).run_id == "x"


def test_every_table_takes_a_raw_insert_of_only_its_keys(migrated_engine: Engine) -> None:
    """Every NOT NULL column has a server default: only primary keys that are not
    generated and foreign keys need a value."""
    values: dict[str, Any] = {}
    with migrated_engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            row: dict[str, Any] = {}
            for column in table.columns:
                generated = column.primary_key and isinstance(column.type, Integer)
                if column.foreign_keys and not column.nullable:
                    parent = next(iter(column.foreign_keys)).column
                    row[column.name] = values[parent.table.name][parent.name]
                elif column.primary_key and not generated:
                    dated = isinstance(column.type, Date)
                    row[column.name] = date(2026, 1, 1) if dated else f"{table.name}-key"
                else:
                    assert generated or column.nullable or column.server_default is not None, (
                        f"{table.name}.{column.name} is NOT NULL without a server default"
                    )
            pk = table.primary_key.columns.values()[0].name
            columns = (
                f"({', '.join(row)}) VALUES ({', '.join(f':{k}' for k in row)})"
                if row
                else "DEFAULT VALUES"
            )
            inserted = conn.execute(text(f"INSERT INTO {table.name} {columns} RETURNING {pk}"), row)
            values[table.name] = {pk: inserted.scalar()}
    assert set(values) == set(Base.metadata.tables)
