"""Reading the embedded SQLite database with the standard library, for the hot CLI reads.

Why this exists: importing SQLAlchemy Core costs ``autopack status`` about 200 ms on a
two-core machine, half of the command, and the command people and scripts call in a loop
(``status``, ``runs list``) only reads a few rows. So when the database is the embedded
SQLite file, already at the code's schema revision, these reads go through ``sqlite3``.

What keeps it from becoming a second schema: it runs no SQL of its own making. The
statements are SQLAlchemy's, compiled for SQLite into a generated module
(:mod:`autopack.services.run_overview_sql`, which a test holds equal to what
:mod:`autopack.services.run_overview` compiles now), and the rows go through the same
shaping code as the SQLAlchemy read. Everything else falls back to SQLAlchemy
(:func:`embedded_reader` answers None): PostgreSQL, a URL with options, a database file
that does not exist yet (the SQLAlchemy path creates and migrates it), one at another
revision (upgraded or refused there, as for every command), one that cannot be opened
(reported there).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from autopack.db.revision import scanned_head

if TYPE_CHECKING:
    from autopack.settings import Settings

_PREFIX = "sqlite:///"


def embedded_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL; None for anything else (another
    database, a driver name, URL options, an in-memory database)."""
    if not url.startswith(_PREFIX) or "?" in url:
        return None
    path = url[len(_PREFIX) :]
    if not path or path == ":memory:":
        return None
    return Path(path).expanduser()


def embedded_reader(settings: Settings) -> sqlite3.Connection | None:
    """A query-only ``sqlite3`` connection to the embedded database when it exists and is
    at the migration scripts' head revision; None when the caller must use SQLAlchemy."""
    path = embedded_path(settings.effective_database_url)
    if path is None or not path.is_file():
        return None
    head = scanned_head()
    if head is None:
        return None
    try:
        conn = sqlite3.connect(path, timeout=30)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA query_only = ON")  # a read path: refuse any write outright
        conn.execute("PRAGMA busy_timeout = 30000")
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        conn.close()
        return None
    if len(rows) != 1 or rows[0][0] != head:
        conn.close()
        return None
    conn.row_factory = sqlite3.Row
    return conn


def utc_timestamp(value: str | None) -> datetime | None:
    """A stored SQLite timestamp as :class:`~autopack.db.types.UTCDateTime` returns it:
    timezone-aware UTC (SQLite keeps ``YYYY-MM-DD HH:MM:SS[.ffffff]`` text, naive)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
