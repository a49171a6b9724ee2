"""Putting documents into memory: upserts by key, code re-indexed by file content hash,
vectors through the embedding cache.

:func:`upsert_documents` stages rows in the session it is given; the caller (a service
use case in ``services/memory.py``, or the executor through it) owns the transaction.
:func:`index_code` opens its own short transactions, because embedding a repository
takes minutes: it chunks and embeds with no transaction open, then writes each batch.
With an embedder, vectors are cached by (content hash, model) and put in the vector
store when the database has one; the cache makes a re-embedded text free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from autopack.db.orm import MemoryDocument, MemoryEmbedding
from autopack.db.session import unit_of_work
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
) -> list[int]:
    """Insert or replace each document by (collection, repo_key, key); returns their ids.
    A document whose text is unchanged keeps its row (and vector). For the few documents
    a phase or run leaves: the new ones are embedded inside the caller's transaction
    (code is indexed by :func:`index_code`, which embeds outside any)."""
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
        row.content_hash, row.source = digest, source
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


def _forget_sources(
    session: Session, repo_key: str, sources: Sequence[str], status: EmbedderStatus
) -> None:
    if not sources:
        return
    ids = list(
        session.scalars(
            select(MemoryDocument.id).where(
                MemoryDocument.repo_key == repo_key,
                MemoryDocument.collection == Collection.code.value,
                MemoryDocument.source.in_(list(sources)),
            )
        )
    )
    if not ids:
        return
    if status.embedder is not None:
        vector_store_for(session, status.embedder.dimension).delete(session, ids)
    session.execute(delete(MemoryDocument).where(MemoryDocument.id.in_(ids)))


#: Chunks embedded, then written in one short transaction, at a time: a first index of a
#: large repository holds no write lock while the model runs, and never more than this
#: many vectors in memory.
BATCH_CHUNKS = 256


@dataclass
class _ChangedFile:
    rel: str
    digest: str
    documents: list[Document]


def index_code(
    factory: sessionmaker[Session],
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
    the last pass), so the pass costs what changed rather than the repository's size.

    Opens its own transactions: chunks are embedded with no transaction open, then
    written in a short one, about :data:`BATCH_CHUNKS` at a time, so other writers (an
    executor recording a phase, the API) are never blocked for the model's time. A
    failure leaves the batches before it committed (their files are then unchanged for
    the next pass). Inside a fenced executor every write transaction is fenced."""
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
    with unit_of_work(factory) as session:
        known = dict(session.execute(query).all())
    present: set[str] = set()
    batch: list[_ChangedFile] = []
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
        batch.append(_ChangedFile(rel, digest, _documents(repo_key, rel, content)))
        if sum(len(f.documents) for f in batch) >= BATCH_CHUNKS:
            _index_batch(factory, repo_key, batch, embedder, stats)
            batch = []
    gone = sorted(set(known) - present)
    if batch or gone:
        _index_batch(factory, repo_key, batch, embedder, stats, gone=gone)
    return stats


def _documents(repo_key: str, rel: str, content: str) -> list[Document]:
    return [
        Document(
            collection=Collection.code,
            repo_key=repo_key,
            key=c.key,
            title=c.title,
            text=c.text,
            metadata={"path": c.path, "symbol": c.symbol, "start": c.start, "end": c.end},
        )
        for c in chunk_file(rel, content)
    ]


def _index_batch(
    factory: sessionmaker[Session],
    repo_key: str,
    files: Sequence[_ChangedFile],
    status: EmbedderStatus,
    stats: IndexStats,
    *,
    gone: Sequence[str] = (),
) -> None:
    """Embed the files' chunks (cache look-up in a read, the model outside any
    transaction), then replace their rows, and forget ``gone``, in one short write."""
    texts = [d.title + "\n" + d.text for f in files for d in f.documents]
    vectors: dict[str, list[float]] = {}
    if status.embedder is not None and texts:
        vectors = embed_outside_transactions(factory, status.embedder, texts)
    with unit_of_work(factory) as session:
        # Forgotten here rather than by what the read saw: another pass may have indexed
        # a file since.
        _forget_sources(session, repo_key, [*(f.rel for f in files), *gone], status)
        rows = [
            MemoryDocument(
                collection=d.collection.value,
                repo_key=d.repo_key,
                key=d.key,
                title=d.title,
                text=d.text,
                meta=dict(d.metadata),
                content_hash=d.content_hash,
                source=f.rel,
                source_hash=f.digest,
            )
            for f in files
            for d in f.documents
        ]
        session.add_all(rows)
        session.flush()
        if status.embedder is not None and vectors:
            _cache_vectors(session, status.embedder.model_name, vectors)
            store = vector_store_for(session, status.embedder.dimension)
            if store.available:
                store.upsert(
                    session,
                    [(r.id, vectors[content_hash(r.title + "\n" + r.text)]) for r in rows],
                )
                stats.embedded += len(rows)
    stats.files_indexed += len(files)
    stats.chunks += len(texts)
    stats.files_removed += len(gone)


def embed_outside_transactions(
    factory: sessionmaker[Session], embedder: Embedder, texts: Sequence[str]
) -> dict[str, list[float]]:
    """Vectors of ``texts`` by content hash: the cached ones read in a short read
    transaction, the others from ``embedder`` with no transaction open (nothing is
    written; :func:`_cache_vectors` stores them with the documents)."""
    hashes = {content_hash(t): t for t in texts}
    with unit_of_work(factory) as session:
        known = _cached(session, embedder.model_name, list(hashes))
    missing = [(h, t) for h, t in hashes.items() if h not in known]
    if missing:
        fresh = embedder.embed([t for _, t in missing])
        known.update({h: v for (h, _), v in zip(missing, fresh, strict=True)})
    return known


def _cached(session: Session, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
    known: dict[str, list[float]] = {}
    for start in range(0, len(hashes), 500):
        rows = session.execute(
            select(MemoryEmbedding.content_hash, MemoryEmbedding.vector).where(
                MemoryEmbedding.model == model,
                MemoryEmbedding.content_hash.in_(set(hashes[start : start + 500])),
            )
        ).all()
        known.update({h: list(v) for h, v in rows})
    return known


def _cache_vectors(session: Session, model: str, vectors: dict[str, list[float]]) -> None:
    """Stage the vectors the cache does not hold yet (read again here: another pass may
    have cached some since they were embedded)."""
    hashes = list(vectors)
    held: set[str] = set()
    for start in range(0, len(hashes), 500):
        held.update(
            session.scalars(
                select(MemoryEmbedding.content_hash).where(
                    MemoryEmbedding.model == model,
                    MemoryEmbedding.content_hash.in_(hashes[start : start + 500]),
                )
            )
        )
    session.add_all(
        MemoryEmbedding(content_hash=h, model=model, dimension=len(v), vector=v)
        for h, v in vectors.items()
        if h not in held
    )
    session.flush()


def embed_cached(session: Session, embedder: Embedder, texts: Sequence[str]) -> list[list[float]]:
    """Vectors for ``texts``, from the cache where the (content hash, model) pair is
    known; the others are embedded in one batch and staged in the session's cache."""
    hashes = [content_hash(t) for t in texts]
    known = _cached(session, embedder.model_name, hashes)
    missing = {h: t for h, t in zip(hashes, texts, strict=True) if h not in known}
    if missing:
        fresh = dict(zip(missing, embedder.embed(list(missing.values())), strict=True))
        _cache_vectors(session, embedder.model_name, fresh)
        known.update(fresh)
    return [known[h] for h in hashes]
