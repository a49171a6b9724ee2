"""The document model of memory and the VectorStore protocol.

A document is one retrievable piece of text in a collection (a code chunk, a phase or run
summary, a decision, an error and its fix), owned by one repository (``repo_key``: the
repository's root commit, so clones and worktrees of one project share their memory).
Documents live in ``memory_documents``; their full-text index and vectors live beside
them in the database the deployment already has (see :mod:`.lexical`, :mod:`.vectors`).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session


class Collection(StrEnum):
    """What a document is; ``autopack memory search --collection`` takes these names."""

    code = "code"
    summaries = "summaries"
    decisions = "decisions"
    errors = "errors"


@dataclass(frozen=True)
class Document:
    """One piece of text to index. ``key`` is unique within (collection, repo_key);
    ``title`` is searched with the text (a path and symbol, a phase name)."""

    collection: Collection
    repo_key: str
    key: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """What the embedding cache is keyed by (with the model's name)."""
        return content_hash(self.title + "\n" + self.text)


@dataclass(frozen=True)
class Hit:
    """One ranked result. ``method`` says which search found it: ``lexical``,
    ``semantic`` or ``hybrid`` (both). ``score`` is comparable within one result list."""

    doc_id: int
    collection: str
    key: str
    title: str
    text: str
    metadata: dict[str, Any]
    score: float
    method: str


class VectorStore(Protocol):
    """Where document vectors live and are searched by nearest neighbour.

    ``available`` is False (with ``reason`` saying why and what to do) when the database
    cannot hold vectors (no sqlite-vec / pgvector); callers then search lexically only.
    """

    @property
    def available(self) -> bool: ...

    @property
    def reason(self) -> str: ...

    def upsert(self, session: Session, items: Sequence[tuple[int, Sequence[float]]]) -> None:
        """Store (document id, vector) pairs, replacing earlier vectors of those ids."""

    def delete(self, session: Session, doc_ids: Sequence[int]) -> None:
        """Forget the vectors of these documents."""

    def search(
        self, session: Session, vector: Sequence[float], *, limit: int
    ) -> list[tuple[int, float]]:
        """The ``limit`` nearest (document id, distance) pairs, nearest first."""


class DocumentStore(Protocol):
    """The database side of retrieval, implemented by the service layer
    (``services.memory_store.SqlDocumentStore``), so this capability never queries the
    database itself."""

    def search_lexical(
        self, words: Sequence[str], *, repo_key: str | None, collections: Sequence[str], limit: int
    ) -> list[tuple[int, float]]:
        """(document id, score) of the documents matching any of ``words``, best first."""

    def keep_ids(
        self, ids: Sequence[int], *, repo_key: str | None, collections: Sequence[str]
    ) -> set[int]:
        """Those of ``ids`` in the repository (None: any) and collections (empty: any)."""

    def hits(self, ranked: Sequence[tuple[int, float, str]]) -> list[Hit]:
        """The documents of (id, score, method) triples as hits, in that order."""

    def vectors_unavailable(self) -> str:
        """Why the database cannot hold vectors ("" when it can)."""

    def nearest(
        self, vector: Sequence[float], *, dimension: int, limit: int
    ) -> list[tuple[int, float]]:
        """The ``limit`` documents nearest ``vector``: (id, cosine distance), nearest first."""


def content_hash(text: str) -> str:
    """SHA-256 hex of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def repository_key(root: Path) -> str:
    """A stable key for the repository at ``root``: its root commit's hash (the same for
    every clone and worktree), or ``path:<resolved path>`` when it is not a git
    repository with a commit."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-list", "--max-parents=0", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        done = None
    if done is not None and done.returncode == 0 and done.stdout.strip():
        # A history with several roots (merged projects): the smallest hash is stable.
        return sorted(done.stdout.split())[0]
    return "path:" + str(root.expanduser().resolve())
