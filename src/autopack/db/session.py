"""Engine and session construction: the one database a deployment talks to.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout, so
the API, the CLI and in-process executors can share one file. PostgreSQL goes through
psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import SQLAlchemyError

from autopack.errors import StorageUnavailable

if TYPE_CHECKING:
    # The ORM is imported where a session is made, not here: a Core-only read (the CLI's
    # `status`) opens an engine without paying for sqlalchemy.orm.
    from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Route plain ``postgresql://`` URLs to psycopg 3, the only PostgreSQL driver we ship."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sqlite_module() -> Any | None:
    """The DB-API module for SQLite: None (the standard ``sqlite3``) unless this Python's
    sqlite3 cannot load extensions (pyenv and some distribution builds) and sqlean.py, a
    drop-in sqlite3 that can, is installed (the ``semantic`` extra): then sqlean, so
    sqlite-vec can hold the memory's vectors."""
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return None
    try:
        import sqlean  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return None
    return sqlean


def make_engine(url: str) -> Engine:
    """An engine for ``url``; creates the SQLite file's directory when needed."""
    url = normalize_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        module = sqlite_module()
        if module is not None:
            kwargs["module"] = module
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error.

    Services only ``flush()``; the caller that opens the unit of work owns the commit.
    """
    session = factory()
    try:
        yield session
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        if _is_connection_error(exc):
            raise StorageUnavailable(
                f"the database is unavailable: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
            ) from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _is_connection_error(exc: SQLAlchemyError) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def describe_database(engine: Engine) -> dict[str, str | None]:
    """The database identity for /health: driver, host or file, database; no credentials."""
    url = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {
            "driver": f"sqlite+{url.get_driver_name()}",
            "host": None,
            "file": url.database or ":memory:",
            "database": Path(url.database or "").name,
        }
    return {
        "driver": f"{backend}+{url.get_driver_name()}",
        "host": f"{url.host or 'localhost'}:{url.port or 5432}",
        "file": None,
        "database": url.database,
    }
