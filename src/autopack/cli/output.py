"""Shared CLI plumbing: consoles, settings and database access for commands.

Output is for people on a terminal and for machines in a pipe alike: when stdout (or
stderr) is not a terminal, Rich neither wraps nor truncates (a very wide console, no
soft-wrapping, no colour codes), so paths, run ids and states arrive whole to ``grep``,
``awk`` and log files. The database layer is imported only when a command opens it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy import Connection

    from autopack.db.database import Database
    from autopack.settings import Settings

T = TypeVar("T")

#: Width used when the stream is not a terminal: wide enough that no line is ever cut.
PIPE_WIDTH = 100_000


def make_console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that never cuts lines when redirected."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True, no_color=True)


console = make_console()
err_console = make_console(stderr=True)


def settings() -> Settings:
    from autopack.settings import get_settings

    return get_settings()


def database(*, require_current: bool = True) -> Database:
    """Open the configured database (the embedded default is created on first use)."""
    from autopack.db.database import open_database

    return open_database(settings(), require_current=require_current)


def read_database(stdlib: Callable[[sqlite3.Connection], T], core: Callable[[Connection], T]) -> T:
    """One read: through ``sqlite3`` when the database is the embedded file at the code's
    revision (no SQLAlchemy import; see :mod:`autopack.db.embedded_read`), otherwise
    through SQLAlchemy Core on the opened database (created, upgraded or refused there)."""
    from autopack.db.embedded_read import embedded_reader

    reader = embedded_reader(settings())
    if reader is not None:
        try:
            return stdlib(reader)
        finally:
            reader.close()
    db = database()
    try:
        with db.engine.connect() as conn:
            return core(conn)
    finally:
        db.dispose()


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else."""
    print(json.dumps(data, indent=2, default=str))
