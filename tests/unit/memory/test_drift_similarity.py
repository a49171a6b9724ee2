"""Which similarity the drift check uses: embedding cosine with the semantic extra,
lexical overlap without it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from autopack.executor import loop as executor_loop
from autopack.memory import embeddings
from autopack.memory.embeddings import NO_EXTRA, EmbedderStatus
from autopack.memory.intention import check_drift, drift_similarity, phase_summary


class WordEmbedder:
    """A fake embedder at the edge: one axis per known word, unit length."""

    model_name = "fake-words"
    axes = ("invoice", "ledger", "calculator", "multiply")

    @property
    def dimension(self) -> int:
        return len(self.axes)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vector = [float(text.lower().count(word)) for word in self.axes]
            norm = math.sqrt(sum(x * x for x in vector)) or 1.0
            out.append([x / norm for x in vector])
        return out


def test_with_an_embedder_the_drift_check_is_the_cosine_of_embeddings() -> None:
    similarity, method = drift_similarity(EmbedderStatus(WordEmbedder(), ""))
    assert method == "semantic" and similarity is not None
    assert similarity("multiply in the calculator", "calculator: multiply") == pytest.approx(1.0)
    assert similarity("invoice ledger", "calculator multiply") == 0.0
    summary = phase_summary("Invoice totals", ["ledger.py"], ["ledger export fixed"])
    result = check_drift(
        "Goal: a calculator that can multiply",
        summary,
        mode="blocking",
        threshold=0.2,
        similarity=similarity,
        method=method,
    )
    assert result.method == "semantic" and result.score == 0.0 and result.blocks


def test_without_the_extra_the_drift_check_is_lexical(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor_loop, "extra_installed", lambda: False)
    status = executor_loop.drift_embedder()
    assert status == EmbedderStatus(None, NO_EXTRA)
    assert drift_similarity(status) == (None, "lexical")


def test_the_executor_takes_the_process_embedder_when_the_extra_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = EmbedderStatus(WordEmbedder(), "")
    monkeypatch.setattr(executor_loop, "extra_installed", lambda: True)
    monkeypatch.setattr(executor_loop, "load_embedder", lambda: fake)
    assert executor_loop.drift_embedder() is fake


@pytest.mark.skipif(
    not embeddings.extra_installed(),
    reason="the semantic extra is not installed (pip install 'autopack[semantic]')",
)
def test_the_bundled_model_scores_related_work_above_unrelated_work() -> None:
    similarity, method = drift_similarity(embeddings.load_embedder())
    assert method == "semantic" and similarity is not None
    anchor = "Goal: add a multiplication function to the calculator module"
    related = similarity("calc.py: def mul(a, b) multiplies two numbers", anchor)
    unrelated = similarity("README: how to send invoices by email", anchor)
    assert related > unrelated
