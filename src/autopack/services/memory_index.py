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
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
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
    """Insert or replace each document by (collection, repo_key, key); returns their ids,
    in the order given (a key given twice: its last document is stored). A document
    whose text is unchanged keeps its row (and vector) and is not written. For the few
    documents a phase or run leaves: the new and changed ones are embedded inside the
    caller's transaction (code is indexed by :func:`index_code`, which embeds outside
    any).

    Statements do not grow with the documents: one read of the stored hashes, one
    multi-row INSERT for the new documents, one UPDATE (executemany) for the changed."""
    latest: dict[_Key, Document] = {}
    for doc in documents:
        latest[_key_of(doc)] = doc
    if not latest:
        return []
    stored = _stored(session, list(latest))
    new = [k for k in latest if k not in stored]
    changed = [k for k in latest if k in stored and stored[k][1] != latest[k].content_hash]
    ids = {k: row_id for k, (row_id, _) in stored.items()}
    if new:
        inserted = session.execute(
            insert(_DOCUMENTS).returning(
                _DOCUMENTS.c.id, _DOCUMENTS.c.collection, _DOCUMENTS.c.repo_key, _DOCUMENTS.c.key
            ),
            [{**_key_columns(k), **_content(latest[k], source)} for k in new],
        )
        ids.update({(c, r, k): row_id for row_id, c, r, k in inserted})
    if changed:
        session.execute(
            _UPDATE_DOCUMENT,
            [_update_params(ids[k], latest[k], source) for k in changed],
        )
    written = set(new) | set(changed)
    fresh = [(ids[k], latest[k].title + "\n" + latest[k].text) for k in latest if k in written]
    _embed(session, fresh, embedder)
    return [ids[_key_of(d)] for d in documents]


#: A document's identity: (collection, repo_key, key), unique in ``memory_documents``.
_Key = tuple[str, str, str]
_DOCUMENTS = cast(Table, MemoryDocument.__table__)
_CONTENT_COLUMNS = ("title", "text", "meta", "content_hash", "source")
#: The bound names differ from the columns, which an UPDATE reserves for its SET clause.
_UPDATE_DOCUMENT = (
    update(_DOCUMENTS)
    .where(_DOCUMENTS.c.id == bindparam("doc_id"))
    .values({name: bindparam(f"doc_{name}") for name in _CONTENT_COLUMNS})
)
#: Keys looked up per read (three bound values each, far below any database's limit).
_KEYS_PER_READ = 300


def _key_of(doc: Document) -> _Key:
    return (doc.collection.value, doc.repo_key, doc.key)


def _key_columns(key: _Key) -> dict[str, str]:
    return {"collection": key[0], "repo_key": key[1], "key": key[2]}


def _content(doc: Document, source: str) -> dict[str, Any]:
    return {
        "title": doc.title,
        "text": doc.text,
        "meta": dict(doc.metadata),
        "content_hash": doc.content_hash,
        "source": source,
    }


def _update_params(row_id: int, doc: Document, source: str) -> dict[str, Any]:
    return {"doc_id": row_id, **{f"doc_{n}": v for n, v in _content(doc, source).items()}}


def _stored(session: Session, keys: Sequence[_Key]) -> dict[_Key, tuple[int, str]]:
    """The id and content hash of each of ``keys`` that is stored. Each column is matched
    with IN (SQLite searches the unique index with it, where a row-value IN scans the
    table) and the exact triples are kept here: the extra rows are at most the same keys
    in the other collections asked for."""
    found: dict[_Key, tuple[int, str]] = {}
    wanted = set(keys)
    for start in range(0, len(keys), _KEYS_PER_READ):
        part = keys[start : start + _KEYS_PER_READ]
        rows = session.execute(
            select(
                _DOCUMENTS.c.id,
                _DOCUMENTS.c.collection,
                _DOCUMENTS.c.repo_key,
                _DOCUMENTS.c.key,
                _DOCUMENTS.c.content_hash,
            ).where(
                _DOCUMENTS.c.collection.in_(sorted({k[0] for k in part})),
                _DOCUMENTS.c.repo_key.in_(sorted({k[1] for k in part})),
                _DOCUMENTS.c.key.in_(sorted({k[2] for k in part})),
            )
        )
        for row_id, collection, repo_key, key, digest in rows:
            if (collection, repo_key, key) in wanted:
                found[(collection, repo_key, key)] = (row_id, digest)
    return found


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
    """Delete the code documents of ``sources`` (and their vectors): one statement, which
    returns the ids the vector store must drop."""
    if not sources:
        return
    ids = list(
        session.scalars(
            delete(_DOCUMENTS)
            .where(
                _DOCUMENTS.c.repo_key == repo_key,
                _DOCUMENTS.c.collection == Collection.code.value,
                _DOCUMENTS.c.source.in_(list(sources)),
            )
            .returning(_DOCUMENTS.c.id)
        )
    )
    if ids and status.embedder is not None:
        vector_store_for(session, status.embedder.dimension).delete(session, ids)


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
            {
                "collection": d.collection.value,
                "repo_key": d.repo_key,
                "key": d.key,
                "title": d.title,
                "text": d.text,
                "meta": dict(d.metadata),
                "content_hash": d.content_hash,
                "source": f.rel,
                "source_hash": f.digest,
            }
            for f in files
            for d in f.documents
        ]
        # One multi-row INSERT (a Core insert: no ORM objects are needed back).
        inserted = (
            session.execute(
                insert(_DOCUMENTS).returning(_DOCUMENTS.c.id, _DOCUMENTS.c.content_hash), rows
            ).all()
            if rows
            else []
        )
        if status.embedder is not None and vectors:
            _cache_vectors(session, status.embedder.model_name, vectors)
            store = vector_store_for(session, status.embedder.dimension)
            if store.available:
                store.upsert(session, [(row_id, vectors[digest]) for row_id, digest in inserted])
                stats.embedded += len(inserted)
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
