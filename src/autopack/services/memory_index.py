"""Putting documents into memory: upserts by key, code re-indexed by file content hash,
vectors through the embedding cache.

These functions stage rows in the session they are given; the caller (a service use
case in ``services/memory.py``, or the executor through it) owns the transaction.
Vectors are added when an embedder and a vector store are available; the embedding
cache makes a re-embedded text free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from autopack.db.orm import MemoryDocument, MemoryEmbedding
from autopack.memory.chunks import candidate_files, chunk_file, indexable, read_text
from autopack.memory.embeddings import Embedder, EmbedderStatus
from autopack.memory.store import Collection, Document, content_hash
from autopack.memory.vectors import vector_store_for


@dataclass
class IndexStats:
    """What one indexing pass did."""

    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    chunks: int = 0
    embedded: int = 0


def upsert_documents(
    session: Session,
    documents: Sequence[Document],
    *,
    embedder: EmbedderStatus,
    source: str = "",
    source_hash: str = "",
    new: bool = False,
) -> list[int]:
    """Insert or replace each document by (collection, repo_key, key); returns their ids.
    A document whose text is unchanged keeps its row (and vector). ``new`` says none of
    the keys exist yet (a file indexed afresh): inserted in one batch, without look-ups."""
    if new:
        rows = [
            MemoryDocument(
                collection=d.collection.value,
                repo_key=d.repo_key,
                key=d.key,
                title=d.title,
                text=d.text,
                meta=dict(d.metadata),
                content_hash=d.content_hash,
                source=source,
                source_hash=source_hash,
            )
            for d in documents
        ]
        session.add_all(rows)
        session.flush()
        _embed(session, [(r.id, r.title + "\n" + r.text) for r in rows], embedder)
        return [r.id for r in rows]
    ids: list[int] = []
    fresh: list[tuple[int, str]] = []
    for doc in documents:
        row = session.scalars(
            select(MemoryDocument).where(
                MemoryDocument.collection == doc.collection.value,
                MemoryDocument.repo_key == doc.repo_key,
                MemoryDocument.key == doc.key,
            )
        ).one_or_none()
        digest = doc.content_hash
        if row is None:
            row = MemoryDocument(
                collection=doc.collection.value, repo_key=doc.repo_key, key=doc.key
            )
            session.add(row)
        elif row.content_hash == digest:
            ids.append(row.id)
            continue
        row.title, row.text, row.meta = doc.title, doc.text, dict(doc.metadata)
        row.content_hash, row.source, row.source_hash = digest, source, source_hash
        session.flush()
        ids.append(row.id)
        fresh.append((row.id, doc.title + "\n" + doc.text))
    _embed(session, fresh, embedder)
    return ids


def _embed(session: Session, fresh: list[tuple[int, str]], status: EmbedderStatus) -> int:
    if not fresh or status.embedder is None:
        return 0
    store = vector_store_for(session, status.embedder.dimension)
    if not store.available:
        return 0
    vectors = embed_cached(session, status.embedder, [t for _, t in fresh])
    store.upsert(session, [(d, v) for (d, _), v in zip(fresh, vectors, strict=True)])
    return len(fresh)


def _forget_source(session: Session, repo_key: str, source: str, status: EmbedderStatus) -> None:
    ids = list(
        session.scalars(
            select(MemoryDocument.id).where(
                MemoryDocument.repo_key == repo_key,
                MemoryDocument.collection == Collection.code.value,
                MemoryDocument.source == source,
            )
        )
    )
    if ids and status.embedder is not None:
        vector_store_for(session, status.embedder.dimension).delete(session, ids)
    session.execute(delete(MemoryDocument).where(MemoryDocument.id.in_(ids)))


def index_code(
    session: Session,
    root: Path,
    repo_key: str,
    *,
    embedder: EmbedderStatus,
    paths: Sequence[str] | None = None,
) -> IndexStats:
    """Index the code chunks of the worktree at ``root`` for ``repo_key``: a file whose
    content hash is the one indexed costs nothing; a changed file's chunks are replaced;
    a file that is gone is forgotten.

    With ``paths`` only those files are looked at (the ones a caller knows changed since
    the last pass), so the pass costs what changed rather than the repository's size."""
    stats = IndexStats()
    query = (
        select(MemoryDocument.source, MemoryDocument.source_hash)
        .where(
            MemoryDocument.repo_key == repo_key,
            MemoryDocument.collection == Collection.code.value,
        )
        .distinct()
    )
    if paths is not None:
        query = query.where(MemoryDocument.source.in_(sorted(set(paths))))
    known = dict(session.execute(query).all())
    present: set[str] = set()
    wanted = candidate_files(root) if paths is None else sorted(filter(indexable, set(paths)))
    for rel in wanted:
        content = read_text(root / rel)
        if content is None:
            continue
        stats.files_seen += 1
        present.add(rel)
        digest = content_hash(content)
        if known.get(rel) == digest:
            stats.files_unchanged += 1
            continue
        if rel in known:
            _forget_source(session, repo_key, rel, embedder)
        chunks = chunk_file(rel, content)
        docs = [
            Document(
                collection=Collection.code,
                repo_key=repo_key,
                key=c.key,
                title=c.title,
                text=c.text,
                metadata={"path": c.path, "symbol": c.symbol, "start": c.start, "end": c.end},
            )
            for c in chunks
        ]
        before = len(docs)
        upsert_documents(session, docs, embedder=embedder, source=rel, source_hash=digest, new=True)
        stats.files_indexed += 1
        stats.chunks += before
    for gone in set(known) - present:
        _forget_source(session, repo_key, gone, embedder)
        stats.files_removed += 1
    if embedder.embedder is not None:
        stats.embedded = stats.chunks
    return stats


def embed_cached(session: Session, embedder: Embedder, texts: Sequence[str]) -> list[list[float]]:
    """Vectors for ``texts``, from the cache where the (content hash, model) pair is
    known; the others are embedded in one batch and staged in the session's cache."""
    hashes = [content_hash(t) for t in texts]
    known: dict[str, list[float]] = {}
    for start in range(0, len(hashes), 500):
        rows = session.execute(
            select(MemoryEmbedding.content_hash, MemoryEmbedding.vector).where(
                MemoryEmbedding.model == embedder.model_name,
                MemoryEmbedding.content_hash.in_(set(hashes[start : start + 500])),
            )
        ).all()
        known.update({h: list(v) for h, v in rows})
    missing = [(h, t) for h, t in dict(zip(hashes, texts, strict=True)).items() if h not in known]
    if missing:
        fresh = embedder.embed([t for _, t in missing])
        for (h, _), vector in zip(missing, fresh, strict=True):
            known[h] = vector
            session.add(
                MemoryEmbedding(
                    content_hash=h,
                    model=embedder.model_name,
                    dimension=len(vector),
                    vector=vector,
                )
            )
        session.flush()
    return [known[h] for h in hashes]
