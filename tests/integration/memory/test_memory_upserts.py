"""Writing documents into memory, on SQLite and PostgreSQL: new, changed and unchanged
documents in statements that do not grow with their number, the full-text index in step
with every write, and vectors kept for exactly the rows written (a recording vector
store stands in for sqlite-vec / pgvector, which this machine may lack)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.database import Database
from autopack.db.orm import MemoryDocument
from autopack.db.session import unit_of_work
from autopack.memory.embeddings import EmbedderStatus
from autopack.memory.store import Collection, Document
from autopack.services import memory_index
from autopack.services.memory import index_repository, search_memory
from autopack.services.memory_index import upsert_documents
from sql_statements import recorded_statements

REPO = "repo-key"
NO_EMBEDDER = EmbedderStatus(None, "off in this test")


def _doc(key: str, text: str, collection: Collection = Collection.summaries) -> Document:
    return Document(
        collection=collection,
        repo_key=REPO,
        key=key,
        title=f"title {key}",
        text=text,
        metadata={"key": key},
    )


def _verbs(statements: Sequence[str]) -> list[str]:
    return [s.split()[0].upper() for s in statements]


def _rows(db: Database) -> dict[str, tuple[int, str, str]]:
    with db.factory() as session:
        return {
            d.key: (d.id, d.text, d.source)
            for d in session.scalars(select(MemoryDocument).order_by(MemoryDocument.id))
        }


def _found(db: Database, query: str) -> list[str]:
    with db.factory() as session:
        return sorted(h.key for h in search_memory(session, query, repo_key=REPO).hits)


def test_new_changed_and_unchanged_documents_in_three_statements(db: Database) -> None:
    first = [_doc(f"run/{i}", f"original walrus text {i}") for i in range(3)]
    with recorded_statements(db.engine) as seen, unit_of_work(db.factory) as session:
        ids = upsert_documents(session, first, embedder=NO_EMBEDDER, source="run-a")
    assert _verbs(seen) == ["SELECT", "INSERT"]
    before = _rows(db)
    assert ids == [before[f"run/{i}"][0] for i in range(3)]
    assert _found(db, "walrus") == ["run/0", "run/1", "run/2"]

    # run/0 unchanged, run/1 changed, run/3 new; the order given is the order returned.
    second = [
        _doc("run/3", "a new narwhal"),
        _doc("run/1", "rewritten narwhal text"),
        _doc("run/0", "original walrus text 0"),
    ]
    with recorded_statements(db.engine) as seen, unit_of_work(db.factory) as session:
        ids = upsert_documents(session, second, embedder=NO_EMBEDDER, source="run-b")
    assert _verbs(seen) == ["SELECT", "INSERT", "UPDATE"]
    after = _rows(db)
    assert ids == [after["run/3"][0], before["run/1"][0], before["run/0"][0]]
    assert after["run/0"] == before["run/0"]  # not written: still run-a's
    assert after["run/1"] == (before["run/1"][0], "rewritten narwhal text", "run-b")
    assert after["run/2"] == before["run/2"]
    # The full-text index followed the INSERT and the UPDATE.
    assert _found(db, "walrus") == ["run/0", "run/2"]
    assert _found(db, "narwhal") == ["run/1", "run/3"]

    # Nothing changed: one read, no write.
    with recorded_statements(db.engine) as seen, unit_of_work(db.factory) as session:
        upsert_documents(session, second, embedder=NO_EMBEDDER, source="run-c")
    assert _verbs(seen) == ["SELECT"]
    assert _rows(db) == after


def test_many_documents_cost_what_few_do(db: Database) -> None:
    docs = [_doc(f"run/{i}", f"text {i}") for i in range(40)]
    with recorded_statements(db.engine) as seen, unit_of_work(db.factory) as session:
        upsert_documents(session, docs, embedder=NO_EMBEDDER)
    assert _verbs(seen) == ["SELECT", "INSERT"]
    changed = [_doc(d.key, d.text + " changed") if i % 2 else d for i, d in enumerate(docs)]
    with recorded_statements(db.engine) as seen, unit_of_work(db.factory) as session:
        upsert_documents(session, changed, embedder=NO_EMBEDDER)
    assert _verbs(seen) == ["SELECT", "UPDATE"]
    assert {k: t for k, (_, t, _) in _rows(db).items()} == {d.key: d.text for d in changed}


def test_a_key_given_twice_stores_its_last_document(db: Database) -> None:
    with unit_of_work(db.factory) as session:
        ids = upsert_documents(
            session,
            [_doc("k", "first"), _doc("other", "x"), _doc("k", "second")],
            embedder=NO_EMBEDDER,
        )
    rows = _rows(db)
    assert ids == [rows["k"][0], rows["other"][0], rows["k"][0]]
    assert rows["k"][1] == "second"
    # The same key in another collection is another document.
    with unit_of_work(db.factory) as session:
        upsert_documents(session, [_doc("k", "an error", Collection.errors)], embedder=NO_EMBEDDER)
    with db.factory() as session:
        texts = session.execute(
            select(MemoryDocument.collection, MemoryDocument.text).where(MemoryDocument.key == "k")
        ).all()
    assert sorted(tuple(t) for t in texts) == [("errors", "an error"), ("summaries", "second")]


class _LetterEmbedder:
    model_name = "test/letters"
    dimension = 26

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return [_letters(t) for t in texts]


def _letters(text: str) -> list[float]:
    return [float(text.lower().count(chr(97 + i))) for i in range(26)]


class _RecordingStore:
    """Vectors by document id, as a vector store keeps them."""

    available = True
    reason = ""

    def __init__(self) -> None:
        self.vectors: dict[int, list[float]] = {}

    def upsert(self, _session: Session, items: Sequence[tuple[int, Sequence[float]]]) -> None:
        self.vectors.update({doc_id: list(v) for doc_id, v in items})

    def delete(self, _session: Session, doc_ids: Sequence[int]) -> None:
        for doc_id in doc_ids:
            self.vectors.pop(doc_id, None)


@pytest.fixture
def vector_store(monkeypatch: pytest.MonkeyPatch) -> _RecordingStore:
    store = _RecordingStore()
    monkeypatch.setattr(memory_index, "vector_store_for", lambda _session, _dim: store)
    return store


def _expected_vectors(db: Database) -> dict[int, list[float]]:
    with db.factory() as session:
        return {
            d.id: _letters(d.title + "\n" + d.text) for d in session.scalars(select(MemoryDocument))
        }


def test_vectors_follow_the_rows_written(db: Database, vector_store: _RecordingStore) -> None:
    embedder = _LetterEmbedder()
    status = EmbedderStatus(embedder, "")
    with unit_of_work(db.factory) as session:
        upsert_documents(session, [_doc("a", "alpha"), _doc("b", "beta")], embedder=status)
    assert vector_store.vectors == _expected_vectors(db)
    embedder.embedded.clear()
    with unit_of_work(db.factory) as session:
        upsert_documents(
            session, [_doc("a", "alpha"), _doc("b", "gamma"), _doc("c", "delta")], embedder=status
        )
    assert sorted(embedder.embedded) == ["title b\ngamma", "title c\ndelta"]  # not a's
    assert vector_store.vectors == _expected_vectors(db)


def _symbols(db: Database) -> list[str]:
    with db.factory() as session:
        return sorted(d.meta["symbol"] for d in session.scalars(select(MemoryDocument)))


def _repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "one.py").write_text(
        "def first_walrus():\n    return 1\n\n\ndef second_walrus():\n    return 2\n"
    )
    (root / "pkg" / "two.py").write_text("def other():\n    return 3\n")
    return root


def test_reindexing_a_changed_file_is_a_read_and_two_writes(db: Database, tmp_path: Path) -> None:
    root = _repository(tmp_path)
    index_repository(db.factory, root, REPO, embedder=NO_EMBEDDER)
    assert _symbols(db) == ["first_walrus", "other", "second_walrus"]

    (root / "pkg" / "one.py").write_text(
        "def only_narwhal():\n    return 1\n\n\ndef second_narwhal():\n    return 2\n"
        "\n\ndef third_narwhal():\n    return 3\n"
    )
    with recorded_statements(db.engine) as seen:
        stats = index_repository(db.factory, root, REPO, embedder=NO_EMBEDDER, paths=["pkg/one.py"])
    # The file's known hash; then, in one write, its old chunks forgotten and the new ones
    # inserted, however many there are.
    assert _verbs(seen) == ["SELECT", "DELETE", "INSERT"]
    assert (stats.files_indexed, stats.chunks) == (1, 3)
    assert _symbols(db) == ["only_narwhal", "other", "second_narwhal", "third_narwhal"]
    assert _found(db, "walrus") == []
    assert len(_found(db, "narwhal")) == 3

    # An unchanged file costs its read only; a deleted one, its read and its DELETE.
    with recorded_statements(db.engine) as seen:
        again = index_repository(db.factory, root, REPO, embedder=NO_EMBEDDER, paths=["pkg/one.py"])
    assert (again.files_unchanged, again.files_indexed, _verbs(seen)) == (1, 0, ["SELECT"])
    (root / "pkg" / "two.py").unlink()
    with recorded_statements(db.engine) as seen:
        gone = index_repository(db.factory, root, REPO, embedder=NO_EMBEDDER, paths=["pkg/two.py"])
    assert (gone.files_removed, _verbs(seen)) == (1, ["SELECT", "DELETE"])
    assert "other" not in _symbols(db)


def test_reindexing_moves_the_vectors_with_the_chunks(
    db: Database, tmp_path: Path, vector_store: _RecordingStore
) -> None:
    root = _repository(tmp_path)
    status = EmbedderStatus(_LetterEmbedder(), "")
    index_repository(db.factory, root, REPO, embedder=status)
    assert len(vector_store.vectors) == 3
    assert vector_store.vectors == _expected_vectors(db)
    (root / "pkg" / "one.py").write_text("def only_narwhal():\n    return 1\n")
    index_repository(db.factory, root, REPO, embedder=status, paths=["pkg/one.py"])
    # The forgotten chunks' vectors are gone; the new chunk's is its own text's.
    assert len(vector_store.vectors) == 2
    assert vector_store.vectors == _expected_vectors(db)
