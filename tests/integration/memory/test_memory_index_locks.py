"""Indexing embeds outside its write transactions: while the model runs, another writer
(here the API's cancel request on the run an executor indexes for) commits at once,
on SQLite (the database's write lock) and PostgreSQL (the fenced run row's lock).

The embedder is the edge: a stand-in that, while it embeds, has another connection
write without waiting (SQLite ``busy_timeout=0``, PostgreSQL ``FOR UPDATE NOWAIT``), so
a lock held across embedding fails the write at once instead of timing anything."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from retrieval_set import build_repository
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from autopack.db.orm import MemoryDocument, MemoryEmbedding, Run, utcnow
from autopack.db.session import make_engine, unit_of_work
from autopack.domain.plan import RunSpec
from autopack.memory.embeddings import EmbedderStatus
from autopack.memory.store import repository_key
from autopack.services import leases, memory_index
from autopack.services import memory as memory_service
from autopack.services import runs as run_service
from autopack.settings import Settings

SPEC = RunSpec.model_validate(
    {
        "run_id": "indexing",
        "goal": "Index while others write",
        "tiers": [{"tier_id": "T1", "name": "One"}],
        "phases": [{"phase_id": "a", "name": "A", "tier_id": "T1"}],
    }
)


class _OtherWriterWhileEmbedding:
    """Letters-count vectors; each call first has another connection mark the run
    cancelled and commit, without waiting for any lock."""

    model_name = "test/letters"
    dimension = 26

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.events: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.events.append(f"embed {len(texts)}")
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
            else:
                conn.execute(text("SELECT id FROM runs WHERE id = 'indexing' FOR UPDATE NOWAIT"))
            conn.execute(text("UPDATE runs SET cancel_requested = true WHERE id = 'indexing'"))
            conn.commit()
        self.events.append("other writer committed")
        return [[float(t.lower().count(chr(97 + i))) + 1.0 for i in range(26)] for t in texts]


def test_another_writer_commits_while_the_index_embeds(
    session_factory: sessionmaker[Session],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory_index, "BATCH_CHUNKS", 40)
    with unit_of_work(session_factory) as session:
        run_service.create_run(session, SPEC, runs_dir=settings.runs_dir)
        run = leases.acquire_lease(session, "indexing", "host-a", seconds=600, now=utcnow())
        fence = leases.Fence(run_id="indexing", owner="host-a", token=run.lease_token)
    repo = tmp_path / "repo"
    build_repository(repo)
    key = repository_key(repo)
    embedder = _OtherWriterWhileEmbedding(str(settings.database_url))
    # Fenced like the executor's pass: every write transaction of it locks the run's row.
    with leases.fenced(fence):
        stats = memory_service.index_repository(
            session_factory, repo, key, embedder=EmbedderStatus(embedder, "")
        )
    embedder.engine.dispose()

    assert stats.files_indexed == 32 and stats.chunks > 0
    # In batches (bounded memory, each written in its own short transaction), and each
    # time the other writer got in while the model was running.
    batches = len(embedder.events) // 2
    assert batches >= 2
    assert embedder.events[1::2] == ["other writer committed"] * batches
    assert sum(int(e.split()[1]) for e in embedder.events[::2]) == stats.chunks
    with session_factory() as session:
        assert session.get(Run, "indexing").cancel_requested  # type: ignore[union-attr]
        documents = session.scalar(select(func.count()).select_from(MemoryDocument))
        cached = session.scalar(select(func.count()).select_from(MemoryEmbedding))
    assert documents == stats.chunks and cached == stats.chunks


def test_reindexing_embeds_only_what_changed(
    session_factory: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    """The batches keep the incremental pass: an unchanged repository embeds nothing, one
    changed file embeds only its new chunks (the others are in the cache)."""
    with unit_of_work(session_factory) as session:
        run_service.create_run(session, SPEC, runs_dir=settings.runs_dir)
    repo = tmp_path / "repo"
    build_repository(repo)
    key = repository_key(repo)
    embedder = _OtherWriterWhileEmbedding(str(settings.database_url))
    status = EmbedderStatus(embedder, "")
    memory_service.index_repository(session_factory, repo, key, embedder=status)
    embedder.events.clear()
    again = memory_service.index_repository(session_factory, repo, key, embedder=status)
    assert (again.files_unchanged, again.files_indexed, embedder.events) == (32, 0, [])
    slug = repo / "text" / "slug.py"
    slug.write_text(slug.read_text() + "\n\ndef transliterate_umlaut(s):\n    return s\n")
    one = memory_service.index_repository(
        session_factory, repo, key, embedder=status, paths=["text/slug.py"]
    )
    embedder.engine.dispose()
    assert (one.files_seen, one.files_indexed) == (1, 1)
    assert embedder.events == ["embed 1", "other writer committed"]
