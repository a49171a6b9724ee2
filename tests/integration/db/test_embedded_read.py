"""The stdlib read of the embedded database serves only a file it can trust, read-only."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autopack.db.embedded_read import embedded_path, embedded_reader, utc_timestamp
from autopack.db.revision import scanned_head
from autopack.settings import Settings


def _settings(home: Path, url: str | None = None) -> Settings:
    return Settings(home=home, database_url=url)


@pytest.fixture
def migrated(tmp_path: Path, sqlite_template: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "autopack.db")
    return home


def test_a_current_embedded_database_is_read_through_sqlite3(migrated: Path) -> None:
    reader = embedded_reader(_settings(migrated))
    assert reader is not None
    try:
        assert reader.execute("SELECT version_num FROM alembic_version").fetchone()[0] == (
            scanned_head()
        )
        # A read path: a write is refused by SQLite itself, whatever a caller tries.
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
            reader.execute("DELETE FROM runs")
    finally:
        reader.close()


def test_a_missing_file_is_left_to_the_sqlalchemy_path_and_not_created(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert embedded_reader(_settings(home)) is None
    assert not (home / "autopack.db").exists()


def test_a_database_at_another_revision_is_left_to_the_sqlalchemy_path(migrated: Path) -> None:
    with sqlite3.connect(migrated / "autopack.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0011'")
    assert embedded_reader(_settings(migrated)) is None


def test_a_file_that_is_not_a_database_is_left_to_the_sqlalchemy_path(tmp_path: Path) -> None:
    (tmp_path / "autopack.db").write_text("not a database\n" * 100)
    assert embedded_reader(_settings(tmp_path)) is None


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        "sqlite+pysqlite:///{home}/autopack.db",
        "sqlite:///{home}/autopack.db?timeout=5",
        "sqlite://",
        "sqlite:///:memory:",
    ],
)
def test_other_urls_are_left_to_the_sqlalchemy_path(migrated: Path, url: str) -> None:
    assert embedded_reader(_settings(migrated, url.format(home=migrated))) is None


def test_the_embedded_path_is_the_urls_file(tmp_path: Path) -> None:
    assert embedded_path(f"sqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    assert embedded_path("sqlite:///relative.db") == Path("relative.db")


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-03-04 05:06:07.890123", datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)),
        ("2026-03-04 05:06:07", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("2026-03-04 07:06:07+02:00", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
        (None, None),
    ],
)
def test_stored_timestamps_read_as_aware_utc(stored: str | None, expected: datetime | None) -> None:
    value = utc_timestamp(stored)
    assert value == expected
    assert value is None or value.tzinfo is UTC
