"""Opening the one database a process talks to, with its schema checked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from autopack.db.revision import schema_is_current
from autopack.db.session import make_engine, make_session_factory
from autopack.errors import SchemaMismatch, StorageUnavailable

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from autopack.settings import Settings


class Database:
    """An engine and its session factory. The factory (and with it sqlalchemy.orm) is
    built on first use, so a caller that reads with Core alone never imports the ORM."""

    def __init__(
        self, *, engine: Engine, url: str, factory: sessionmaker[Session] | None = None
    ) -> None:
        self.engine = engine
        self.url = url
        self._factory = factory

    @property
    def factory(self) -> sessionmaker[Session]:
        if self._factory is None:
            self._factory = make_session_factory(self.engine)
        return self._factory

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(
    settings: Settings, *, upgrade_embedded: bool = True, require_current: bool = True
) -> Database:
    """Connect to the configured database.

    The embedded SQLite default is created and upgraded automatically. Any other database
    must already be at the code's schema revision; otherwise SchemaMismatch tells the
    operator to run ``autopack db upgrade``.
    """
    url = settings.effective_database_url
    if settings.is_embedded_database:
        settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    if schema_is_current(engine):  # the common case, answered without importing Alembic
        return Database(engine=engine, url=url)
    from autopack.db import migrate

    try:
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
        if current != head:
            if settings.is_embedded_database and upgrade_embedded:
                migrate.upgrade(engine)
            elif require_current:
                engine.dispose()
                raise SchemaMismatch(
                    f"the database is at schema revision {current or 'none'} but this "
                    f"version of Autopack needs {head}; run `autopack db upgrade`",
                    current=current,
                    expected=head,
                )
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StorageUnavailable(
            f"cannot use the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    return Database(engine=engine, url=url)
