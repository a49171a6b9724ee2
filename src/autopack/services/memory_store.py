"""The database side of memory retrieval: lexical search (SQLite FTS5 / PostgreSQL full
text), document look-ups and the vector store, behind :class:`~autopack.memory.store.
DocumentStore`, so the retrieval capability (``memory/retrieval.py``) never queries the
database itself.

SQLite ranks by ``bm25()`` over ``memory_fts``; PostgreSQL by ``ts_rank_cd`` over the
generated ``search_vector`` (normalisation 1: divided by 1 + log(length), so a long chunk
does not win on size alone). Both take an OR of the query's words, which are plain
``[a-z0-9]`` tokens (:func:`autopack.memory.lexical.query_words`), so no query can inject
FTS or tsquery syntax.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from autopack.db.orm import MemoryDocument
from autopack.memory.store import Hit
from autopack.memory.vectors import vector_store_for


class SqlDocumentStore:
    """:class:`~autopack.memory.store.DocumentStore` over one session (the caller owns
    its transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def search_lexical(
        self, words: Sequence[str], *, repo_key: str | None, collections: Sequence[str], limit: int
    ) -> list[tuple[int, float]]:
        if not words or limit <= 0:
            return []
        filters = []
        params: dict[str, object] = {"limit": limit}
        if repo_key is not None:
            filters.append("d.repo_key = :repo_key")
            params["repo_key"] = repo_key
        if collections:
            names = [f":c{i}" for i in range(len(collections))]
            filters.append(f"d.collection IN ({', '.join(names)})")
            params.update({f"c{i}": c for i, c in enumerate(collections)})
        where = "".join(f" AND {f}" for f in filters)
        if self.session.get_bind().dialect.name == "sqlite":
            # bm25() is lower-is-better; the title column weighs more than the text.
            params["match"] = " OR ".join(f'"{w}"' for w in words)
            sql = (
                "SELECT d.id, -bm25(memory_fts, 4.0, 1.0) AS score FROM memory_fts "
                "JOIN memory_documents d ON d.id = memory_fts.rowid "
                f"WHERE memory_fts MATCH :match{where} ORDER BY score DESC, d.id LIMIT :limit"
            )
        else:
            params["match"] = " or ".join(words)
            sql = (
                "SELECT d.id, ts_rank_cd(d.search_vector, q, 1) AS score "
                "FROM memory_documents d, websearch_to_tsquery('english', :match) q "
                f"WHERE d.search_vector @@ q{where} ORDER BY score DESC, d.id LIMIT :limit"
            )
        rows = self.session.execute(text(sql), params).all()
        return [(int(r[0]), float(r[1])) for r in rows]

    def keep_ids(
        self, ids: Sequence[int], *, repo_key: str | None, collections: Sequence[str]
    ) -> set[int]:
        if not ids:
            return set()
        query = select(MemoryDocument.id).where(MemoryDocument.id.in_(list(ids)))
        if repo_key is not None:
            query = query.where(MemoryDocument.repo_key == repo_key)
        if collections:
            query = query.where(MemoryDocument.collection.in_(list(collections)))
        return set(self.session.scalars(query))

    def hits(self, ranked: Sequence[tuple[int, float, str]]) -> list[Hit]:
        ids = [r[0] for r in ranked]
        docs = {
            d.id: d
            for d in self.session.scalars(select(MemoryDocument).where(MemoryDocument.id.in_(ids)))
        }
        return [
            Hit(
                doc_id=d,
                collection=docs[d].collection,
                key=docs[d].key,
                title=docs[d].title,
                text=docs[d].text,
                metadata=dict(docs[d].meta),
                score=score,
                method=method,
            )
            for d, score, method in ranked
            if d in docs
        ]

    def vectors_unavailable(self) -> str:
        # Whether the database can hold vectors does not depend on their dimension.
        return vector_store_for(self.session, 1).reason

    def nearest(
        self, vector: Sequence[float], *, dimension: int, limit: int
    ) -> list[tuple[int, float]]:
        store = vector_store_for(self.session, dimension)
        if not store.available:
            return []
        return store.search(self.session, vector, limit=limit)
