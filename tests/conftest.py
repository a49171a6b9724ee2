"""Shared fixtures: settings in a temporary home, databases on SQLite and PostgreSQL, the API.

PostgreSQL tests read ``AUTOPACK_TEST_POSTGRES_URL`` (any database on the server; it is
used only to create and drop this session's own database) and are skipped without it.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

from autopack.db import migrate
from autopack.db.database import Database, open_database
from autopack.db.orm import Base
from autopack.db.session import make_engine, make_session_factory, normalize_url
from autopack.distributed.queue import apply_queue_schema
from autopack.settings import Settings, get_settings

POSTGRES_URL = os.environ.get("AUTOPACK_TEST_POSTGRES_URL")
# The shared helper modules beside this file (access_fixtures, delivery_fixtures, ...)
# import by name under --import-mode=importlib.
sys.path.insert(0, str(Path(__file__).parent))

# Tests never talk to real providers or read a developer's environment.
for _var in (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "AUTOPACK_LLM_PROVIDER",
    "AUTOPACK_LLM_SCRIPT",
    "AUTOPACK_LLM_BASE_URL",
    "AUTOPACK_DATABASE_URL",
    "AUTOPACK_API_KEYS",
    "AUTOPACK_HOME",
    "AUTOPACK_ALLOWED_HOSTS",
    "AUTOPACK_ALLOWED_ORIGINS",
):
    os.environ.pop(_var, None)
os.environ.setdefault("GIT_AUTHOR_NAME", "Autopack Tests")
os.environ.setdefault("GIT_AUTHOR_EMAIL", "tests@autopack.local")
os.environ.setdefault("GIT_COMMITTER_NAME", "Autopack Tests")
os.environ.setdefault("GIT_COMMITTER_EMAIL", "tests@autopack.local")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own AUTOPACK_HOME, so nothing touches ~/.autopack."""
    home = tmp_path / "autopack-home"
    monkeypatch.setenv("AUTOPACK_HOME", str(home))
    # Starlette's TestClient sends "Host: testserver"; a server answers only its own names.
    monkeypatch.setenv("AUTOPACK_ALLOWED_HOSTS", "testserver")
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


def _admin_engine() -> Engine:
    assert POSTGRES_URL
    return make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """This test session's own PostgreSQL database, migrated; dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("AUTOPACK_TEST_POSTGRES_URL is not set")
    name = f"autopack_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(POSTGRES_URL)).set(database=name)
    url_text = url.render_as_string(hide_password=False)
    engine = make_engine(url_text)
    migrate.upgrade(engine)
    # As `autopack db upgrade` leaves a PostgreSQL deployment: with the job queue's tables.
    apply_queue_schema(Settings(database_url=url_text), engine)
    engine.dispose()
    yield url_text
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A fresh, migrated database URL: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "autopack.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
    else:
        url: str = request.getfixturevalue("postgres_database")
        _truncate_all(url)
        yield url


@pytest.fixture
def settings(_isolated_home: Path, database_url: str) -> Settings:
    return Settings(home=_isolated_home, database_url=database_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = open_database(settings)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_settings(_isolated_home: Path, tmp_path: Path, sqlite_template: Path) -> Settings:
    """Settings on a fresh SQLite database only (for tests that need no PostgreSQL twin)."""
    path = tmp_path / "autopack.db"
    shutil.copy(sqlite_template, path)
    return Settings(home=_isolated_home, database_url=f"sqlite:///{path}")


@pytest.fixture
def session_factory(db: Database):  # type: ignore[no-untyped-def]
    return make_session_factory(db.engine)
