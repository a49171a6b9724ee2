"""Databases a test may damage: private to the test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

from autopack.db import migrate
from autopack.db.session import make_engine, normalize_url
from cli_runner import invoke_cli

POSTGRES_URL = os.environ.get("AUTOPACK_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables: a SQLite file, or a PostgreSQL database created for this
    test alone (so it may drop constraints) and dropped after it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'private.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("AUTOPACK_TEST_POSTGRES_URL is not set")
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"autopack_private_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield (
        make_url(normalize_url(POSTGRES_URL))
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_engine(empty_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


@pytest.fixture
def private_url(empty_url: str) -> str:
    """A migrated database private to the test."""
    engine = make_engine(empty_url)
    migrate.upgrade(engine)
    engine.dispose()
    return empty_url


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `autopack ARGS` in this process through the console script's ``main()`` (the
    same code as the subprocess, without its start-up time); returns (exit code, stdout
    and stderr with whitespace collapsed, since Rich wraps long lines)."""

    def run(*args: str, url: str, home: Path) -> tuple[int, str]:
        monkeypatch.setenv("AUTOPACK_DATABASE_URL", url)
        monkeypatch.setenv("AUTOPACK_HOME", str(home))
        code, out, err = invoke_cli(monkeypatch, capsys, *args)
        return code, " ".join((out + "\n" + err).split())

    return run
