"""The schema revision check every command pays, without importing Alembic.

Alembic (and its parsing of every migration script) costs a CLI command more than the
rest of its start-up. Most of the time the database is already at the code's revision,
so :func:`schema_is_current` answers that case with one ``SELECT`` and a text scan of the
migration files. Whenever it cannot be sure (a migration with several parents, a file it
cannot read, no ``alembic_version`` table) it says "not known to be current", and the
caller falls back to Alembic, which stays the authority.

SQLAlchemy is imported inside the functions that take an engine: :func:`scanned_head`
also serves the stdlib read of the embedded database (:mod:`autopack.db.embedded_read`),
which exists so that ``autopack status`` does not import SQLAlchemy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

VERSIONS_DIR = Path(__file__).parent / "migrations" / "versions"
_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"^['\"]([^'\"]+)['\"]$")


def scanned_head(versions_dir: Path = VERSIONS_DIR) -> str | None:
    """The single head revision of the migration scripts, read as text; None when the
    scripts are not a simple chain this scan understands (Alembic decides then)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions_dir.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        value = down.group(1).split("#")[0].strip()
        if value == "None":
            continue
        parent = _QUOTED.match(value)
        if parent is None:  # a merge point or a computed value
            return None
        parents.add(parent.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def stored_revision(engine: Engine) -> str | None:
    """The revision recorded in ``alembic_version``; None when there is none (or no table)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def schema_is_current(engine: Engine) -> bool:
    """True only when the database is certainly at the scripts' head revision."""
    head = scanned_head()
    return head is not None and stored_revision(engine) == head
