"""The Alembic-free schema check agrees with Alembic, and defers to it when unsure."""

from __future__ import annotations

from pathlib import Path

from autopack.db import migrate
from autopack.db.revision import scanned_head, schema_is_current, stored_revision
from autopack.db.session import make_engine


def test_the_scan_finds_alembics_head() -> None:
    assert scanned_head() == migrate.head_revision()


def test_a_migrated_database_is_current_and_an_empty_one_is_not(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    assert stored_revision(engine) is None
    assert not schema_is_current(engine)
    migrate.upgrade(engine)
    assert schema_is_current(engine)
    migrate.downgrade(engine, "base")
    assert not schema_is_current(engine)
    engine.dispose()


def test_a_chain_the_scan_does_not_understand_defers_to_alembic(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n')
    assert scanned_head(tmp_path) == "b"
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = ("a", "b")\n')
    assert scanned_head(tmp_path) is None
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')
    assert scanned_head(tmp_path) is None  # two heads: b and c
