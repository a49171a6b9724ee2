"""Hybrid retrieval over memory: lexical always, semantic when the extra and the
database allow it, fused by reciprocal rank.

Reciprocal rank fusion (score = sum of 1 / (60 + rank) over the lists a document is in)
needs no score calibration between BM25 and cosine distance, and a document both
searches find rises above one only one of them found. Without semantic search the
lexical ranking is returned as it is, with a message (logged once per process) saying
what semantic search needs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from autopack.memory.embeddings import NO_EXTRA, EmbedderStatus, extra_installed, load_embedder
from autopack.memory.focus import ContextHint
from autopack.memory.lexical import query_words
from autopack.memory.store import Collection, DocumentStore, Hit

log = logging.getLogger(__name__)

RRF_K = 60
#: Each search fetches more than asked, so fusion has candidates to reorder.
OVERFETCH = 4
_told: set[str] = set()


@dataclass
class SearchResult:
    """Ranked hits, and what limited the search (empty when both methods ran)."""

    hits: list[Hit]
    methods: list[str]
    notes: list[str] = field(default_factory=list)


def default_embedder(store: DocumentStore) -> EmbedderStatus:
    """The embedder to use with this store's database: none (with the reason) when the
    extra is missing or the database cannot hold vectors, so the model is never loaded
    for nothing; otherwise the process's embedder."""
    if not extra_installed():
        return EmbedderStatus(None, NO_EXTRA)
    reason = store.vectors_unavailable()
    if reason:
        return EmbedderStatus(None, reason)
    return load_embedder()


def semantic_unavailable(store: DocumentStore, status: EmbedderStatus | None = None) -> str:
    """Why semantic search is off for this store's database ("" when it is on)."""
    status = status or default_embedder(store)
    if status.embedder is None:
        return status.reason
    return store.vectors_unavailable()


def _tell_once(message: str) -> None:
    if message and message not in _told:
        _told.add(message)
        log.warning("%s", message)


def search(
    store: DocumentStore,
    query: str,
    *,
    repo_key: str | None,
    collections: Sequence[str] = (),
    limit: int = 10,
    embedder: EmbedderStatus | None = None,
) -> SearchResult:
    """The ``limit`` best documents for ``query`` in the repository (``None``: all
    repositories) and collections (empty: all), best first, each saying which method
    found it. ``embedder`` overrides the process's embedder (tests)."""
    status = embedder or default_embedder(store)
    lexical = store.search_lexical(
        query_words(query), repo_key=repo_key, collections=collections, limit=limit * OVERFETCH
    )
    semantic: list[tuple[int, float]] = []
    notes: list[str] = []
    methods = ["lexical"]
    if status.embedder is None:
        notes.append(status.reason)
    elif reason := store.vectors_unavailable():
        notes.append(reason)
    elif query.strip():
        vector = status.embedder.embed([query])[0]
        # The vector index knows no repositories or collections: over-fetch, then filter.
        nearest = store.nearest(
            vector, dimension=status.embedder.dimension, limit=limit * OVERFETCH * 5
        )
        allowed = store.keep_ids(
            [d for d, _ in nearest], repo_key=repo_key, collections=collections
        )
        semantic = [(d, 1.0 - dist) for d, dist in nearest if d in allowed]
        methods.append("semantic")
    for note in notes:
        _tell_once(note)
    ranked = fuse(lexical, semantic) if semantic else [(d, s, "lexical") for d, s in lexical]
    return SearchResult(store.hits(ranked[:limit]), methods, notes)


def fuse(
    lexical: Sequence[tuple[int, float]], semantic: Sequence[tuple[int, float]]
) -> list[tuple[int, float, str]]:
    """Reciprocal rank fusion of two rankings: (document id, fused score, method), best
    first; method is ``hybrid`` for a document in both lists."""
    scores: dict[int, float] = {}
    found: dict[int, set[str]] = {}
    for method, ranking in (("lexical", lexical), ("semantic", semantic)):
        for rank, (doc_id, _) in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (RRF_K + rank)
            found.setdefault(doc_id, set()).add(method)
    order = sorted(scores, key=lambda d: (-scores[d], d))
    return [(d, scores[d], "hybrid" if len(found[d]) == 2 else next(iter(found[d]))) for d in order]


def retrieve_for_phase(
    store: DocumentStore,
    *,
    repo_key: str,
    goal: str,
    phase_name: str = "",
    description: str = "",
    deliverables: Sequence[str] = (),
    acceptance_criteria: Sequence[str] = (),
    limit: int = 10,
    embedder: EmbedderStatus | None = None,
) -> list[ContextHint]:
    """Code regions of the repository (indexed by ``services.memory.index_repository``)
    that match the phase's goal, name, description, deliverables and acceptance
    criteria, best first: hints for focused context selection (``services.memory.
    hints_for_phase`` indexes, then asks this). Empty when nothing
    matches or the repository was never indexed."""
    query = " ".join([goal, phase_name, description, *deliverables, *acceptance_criteria])
    result = search(
        store,
        query,
        repo_key=repo_key,
        collections=[Collection.code.value],
        limit=limit,
        embedder=embedder,
    )
    return [
        ContextHint(
            path=str(h.metadata.get("path", "")),
            symbol=str(h.metadata.get("symbol", "")),
            start_line=int(h.metadata.get("start", 0)),
            end_line=int(h.metadata.get("end", 0)),
            score=h.score,
            method=h.method,
        )
        for h in result.hits
    ]
