"""Vector stores in the database the deployment already has.

* SQLite: the ``sqlite-vec`` extension, a ``vec0`` table ``memory_vec`` (cosine distance,
  rowid = document id). It needs an ``sqlite3`` module that can load extensions; a Python
  built without that (some pyenv and distribution builds) cannot use it.
* PostgreSQL: the ``pgvector`` extension, a ``memory_vectors`` table with an HNSW index
  (cosine), values passed through the ``pgvector`` Python adapter registered on the
  connection. A server without the extension cannot hold vectors.

The tables are created on first use, not by the migration: their dimension is the
embedding model's, and the extension may be installed after the schema was. When the
database cannot hold vectors the store says why (``reason``), and retrieval searches
lexically; :func:`vector_store_for` never raises for a missing extension.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

SQLITE_TABLE = "memory_vec"
POSTGRES_TABLE = "memory_vectors"
PGVECTOR_MISSING = (
    "the pgvector extension is not installed in this PostgreSQL server (Debian: "
    "apt install postgresql-15-pgvector, then restart); semantic search is off, "
    "searching lexically"
)


class UnavailableStore:
    """A database that cannot hold vectors; ``reason`` says why and what to do."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    @property
    def available(self) -> bool:
        return False

    @property
    def reason(self) -> str:
        return self._reason

    def upsert(self, session: Session, items: Sequence[tuple[int, Sequence[float]]]) -> None:
        return None

    def delete(self, session: Session, doc_ids: Sequence[int]) -> None:
        return None

    def search(
        self, session: Session, vector: Sequence[float], *, limit: int
    ) -> list[tuple[int, float]]:
        return []


def _dbapi(session: Session) -> Any:
    return session.connection().connection.dbapi_connection


class SqliteVecStore:
    """sqlite-vec's vec0 table; the extension is loaded into each connection it uses."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    @property
    def available(self) -> bool:
        return True

    @property
    def reason(self) -> str:
        return ""

    def _ready(self, session: Session) -> None:
        import sqlite_vec  # type: ignore[import-untyped, import-not-found, unused-ignore]

        conn = _dbapi(session)
        try:
            conn.execute("SELECT vec_version()")
        except Exception:  # not loaded into this pooled connection yet
            conn.enable_load_extension(True)
            sqlite_vec.load(conn)
            conn.enable_load_extension(False)
        session.execute(
            text(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {SQLITE_TABLE} USING "
                f"vec0(embedding float[{self.dimension}] distance_metric=cosine)"
            )
        )

    def upsert(self, session: Session, items: Sequence[tuple[int, Sequence[float]]]) -> None:
        import sqlite_vec  # type: ignore[import-untyped, import-not-found, unused-ignore]

        if not items:
            return
        self._ready(session)
        self.delete(session, [doc_id for doc_id, _ in items])
        for doc_id, vector in items:
            session.execute(
                text(f"INSERT INTO {SQLITE_TABLE}(rowid, embedding) VALUES (:id, :v)"),
                {"id": doc_id, "v": sqlite_vec.serialize_float32(list(vector))},
            )

    def delete(self, session: Session, doc_ids: Sequence[int]) -> None:
        if not doc_ids:
            return
        self._ready(session)
        for doc_id in doc_ids:
            session.execute(text(f"DELETE FROM {SQLITE_TABLE} WHERE rowid = :id"), {"id": doc_id})

    def search(
        self, session: Session, vector: Sequence[float], *, limit: int
    ) -> list[tuple[int, float]]:
        import sqlite_vec  # type: ignore[import-untyped, import-not-found, unused-ignore]

        self._ready(session)
        rows = session.execute(
            text(
                f"SELECT rowid, distance FROM {SQLITE_TABLE} WHERE embedding MATCH :v "
                "AND k = :k ORDER BY distance"
            ),
            {"v": sqlite_vec.serialize_float32(list(vector)), "k": limit},
        ).all()
        return [(int(r[0]), float(r[1])) for r in rows]


class PgVectorStore:
    """pgvector's ``vector`` column with an HNSW index (cosine distance)."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    @property
    def available(self) -> bool:
        return True

    @property
    def reason(self) -> str:
        return ""

    def _ready(self, session: Session) -> None:
        from pgvector.psycopg import register_vector  # type: ignore[import-not-found, import-untyped, unused-ignore]

        register_vector(_dbapi(session))
        session.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {POSTGRES_TABLE} (doc_id integer PRIMARY KEY "
                "REFERENCES memory_documents(id) ON DELETE CASCADE, "
                f"embedding vector({self.dimension}) NOT NULL)"
            )
        )
        session.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS ix_{POSTGRES_TABLE}_hnsw ON {POSTGRES_TABLE} "
                "USING hnsw (embedding vector_cosine_ops)"
            )
        )

    def upsert(self, session: Session, items: Sequence[tuple[int, Sequence[float]]]) -> None:
        from pgvector import Vector  # type: ignore[import-not-found, import-untyped, unused-ignore]

        if not items:
            return
        self._ready(session)
        for doc_id, vector in items:
            session.execute(
                text(
                    f"INSERT INTO {POSTGRES_TABLE} (doc_id, embedding) VALUES (:id, :v) "
                    "ON CONFLICT (doc_id) DO UPDATE SET embedding = EXCLUDED.embedding"
                ),
                {"id": doc_id, "v": Vector(list(vector))},
            )

    def delete(self, session: Session, doc_ids: Sequence[int]) -> None:
        # The foreign key cascades a deleted document's vector; nothing else to do.
        return None

    def search(
        self, session: Session, vector: Sequence[float], *, limit: int
    ) -> list[tuple[int, float]]:
        from pgvector import Vector  # type: ignore[import-not-found, import-untyped, unused-ignore]

        self._ready(session)
        rows = session.execute(
            text(
                f"SELECT doc_id, embedding <=> :v AS distance FROM {POSTGRES_TABLE} "
                "ORDER BY distance LIMIT :k"
            ),
            {"v": Vector(list(vector)), "k": limit},
        ).all()
        return [(int(r[0]), float(r[1])) for r in rows]


def vector_store_for(
    session: Session, dimension: int
) -> SqliteVecStore | PgVectorStore | UnavailableStore:
    """The vector store the session's database supports, or an :class:`UnavailableStore`
    saying why it supports none."""
    if session.get_bind().dialect.name == "sqlite":
        return _sqlite_store(session, dimension)
    return _postgres_store(session, dimension)


def _sqlite_store(session: Session, dimension: int) -> SqliteVecStore | UnavailableStore:
    try:
        import sqlite_vec  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        return UnavailableStore(
            "sqlite-vec is not installed (pip install 'autopack[semantic]'); searching lexically"
        )
    if not hasattr(_dbapi(session), "enable_load_extension"):
        return UnavailableStore(
            "this Python's sqlite3 module cannot load extensions (it was built without "
            "loadable-extension support), so sqlite-vec cannot be used; use a Python "
            "built with it, or PostgreSQL with pgvector; searching lexically"
        )
    return SqliteVecStore(dimension)


def _postgres_store(session: Session, dimension: int) -> PgVectorStore | UnavailableStore:
    installed = session.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first()
    if installed is None:
        available = session.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        ).first()
        if available is None:
            return UnavailableStore(PGVECTOR_MISSING)
        try:
            with session.begin_nested():
                session.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        except DBAPIError as exc:
            return UnavailableStore(
                f"the pgvector extension could not be created ({str(exc.orig).strip()}); "
                "ask the database owner to run CREATE EXTENSION vector; searching lexically"
            )
    try:
        import pgvector  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: F401
    except ImportError:
        return UnavailableStore(
            "the pgvector Python adapter is not installed (pip install 'autopack[semantic]'); "
            "searching lexically"
        )
    return PgVectorStore(dimension)
