"""The run's intention anchor and the drift check that keeps phases in line with it.

An **anchor** is a compact text (at most :data:`MAX_ANCHOR_BYTES` UTF-8 bytes) built from
the plan when the run is created: the goal, the tiers and phases by name, the
deliverables, and the constraints that matter (safety profile, protected paths, budgets,
the drift policy itself). It is stored with the run and given to the Builder, Auditor and
Doctor prompts, so every call sees what the whole run is for, not just its own phase.
When the plan is too large, later parts are cut (phase details first, the goal last) and
the anchor says how much was left out.

The **drift check** compares a completed phase's summary (:class:`PhaseSummary`: its goal,
the files it changed, the Auditor's notes) with the anchor and yields a score in [0, 1]:

- ``lexical`` (always available): the share of the distinct content words of what the
  phase *did* (files and notes; lower-cased, split at non-letters, so ``calc_tools.py``
  gives ``calc``, ``tools``; stop-words and one-letter words removed; a trailing plural
  ``s``/``ies`` folded) that also occur in the anchor or in the phase's own goal. The phase's
  goal is part of the reference, not of what is scored: it comes from the plan, so it is
  on-intention by definition, and a long phase description whose words the 2 KB anchor
  cannot hold must not read as drift. A phase that changed nothing is scored by its
  goal against the anchor. Work on what the plan names scores high; files and a review
  about something else score low.
- any :data:`Similarity` callable, passed to :func:`check_drift`: it compares the whole
  summary (goal and changes) with the anchor. With the semantic extra the executor passes
  the cosine of sentence embeddings (:func:`drift_similarity`).

The plan's ``drift`` (``advisory``: recorded only; ``blocking``: the phase fails) and
``drift_threshold`` decide what a score below the threshold means.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from autopack.domain.plan import RunSpec
from autopack.memory.embeddings import EmbedderStatus, cosine_similarity

#: The anchor's size limit in UTF-8 bytes: it goes into every prompt of the run.
MAX_ANCHOR_BYTES = 2048

#: ``similarity(summary, anchor) -> score in [0, 1]``; higher means closer.
Similarity = Callable[[str, str], float]

DriftMode = Literal["advisory", "blocking"]

_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
#: Common English function words and plan boilerplate that say nothing about intent.
_STOP_TEXT = """a about above after again all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each few
    for from further had has have having he her here hers him his how if in into is it its
    itself just me more most my no nor not now of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours phase phases run plan tier tiers
    should must make makes made use used using new add added adds change changed changes
    file files code py md txt json yaml yml toml ok none"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


def content_words(text: str) -> set[str]:
    """The distinct content words of ``text``: lower-cased words of two or more letters,
    stop-words removed, a trailing plural ``s`` folded (``tests`` -> ``test``)."""
    words = set()
    for raw in _WORD.findall(text.lower()):
        word = _singular(raw)
        if word not in STOP_WORDS and raw not in STOP_WORDS:
            words.add(word)
    return words


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"  # "multiplies" meets "multiply"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def lexical_similarity(summary: str, anchor: str) -> float:
    """Share of the summary's content words that the anchor also has (0 when the
    summary has none): how much of what the phase did is about what the run is for."""
    said = content_words(summary)
    if not said:
        return 0.0
    return len(said & content_words(anchor)) / len(said)


def drift_similarity(status: EmbedderStatus) -> tuple[Similarity | None, str]:
    """What the drift check scores with, and its name for the decision: the cosine of
    sentence embeddings when the semantic extra gave an embedder, else None (lexical
    overlap, :func:`lexical_similarity`)."""
    if status.embedder is None:
        return None, "lexical"
    return cosine_similarity(status.embedder), "semantic"


def build_anchor(spec: RunSpec, *, limit: int = MAX_ANCHOR_BYTES) -> str:
    """The run's intention anchor from its plan, at most ``limit`` UTF-8 bytes.

    Sections in order of importance: goal, constraints, tiers, then one line per phase
    (name and deliverables). Whatever does not fit is cut at a line (the goal at a
    character) and replaced by a note saying how many lines were left out."""
    goal = " ".join((spec.goal or spec.name or spec.run_id).split())
    head = [f"Goal: {goal}"]
    constraints = [f"Safety profile: {spec.safety_profile.value}"]
    protected = sorted(
        {*spec.protected_paths, *(p for ph in spec.phases for p in ph.scope.protected_paths)}
    )
    if protected:
        constraints.append("Never change: " + ", ".join(protected))
    budgets = spec.budgets
    constraints.append(
        f"Budgets: {budgets.token_cap:,} tokens, {budgets.max_duration_minutes} minutes"
        + (f", {budgets.ci_run_cap} test runs" if budgets.ci_run_cap else "")
    )
    if spec.baseline != "required":
        constraints.append(f"Baseline: {spec.baseline}")
    constraints.append(
        f"Drift from this intention: {spec.drift} (threshold {spec.drift_threshold})"
    )
    tiers = (
        ["Tiers: " + "; ".join(f"{t.tier_id} {t.name}" for t in spec.tiers)] if spec.tiers else []
    )
    phases = []
    for ph in spec.phases:
        line = f"- {ph.phase_id}: {ph.name}"
        if ph.scope.deliverables:
            line += " -> " + ", ".join(ph.scope.deliverables)
        if ph.mode == "verify":
            line += " (check only)"
        phases.append(line)
    if phases:
        phases.insert(0, "Phases:")
    return _fit(head, [*constraints, *tiers, *phases], limit)


def _fit(head: list[str], rest: list[str], limit: int) -> str:
    """``head`` (cut at a character if it must be) and as many of ``rest`` as fit, with a
    note naming how many lines were left out."""
    text = _clip_bytes("\n".join(head), limit)
    kept: list[str] = []
    for index, line in enumerate(rest):
        left = len(rest) - index - 1
        note = f"\n(... {left} more line(s) of the plan left out)" if left else ""
        candidate = "\n".join([text, *kept, line])
        if _size(candidate + note) > limit:
            note = f"\n(... {len(rest) - index} more line(s) of the plan left out)"
            while kept and _size("\n".join([text, *kept]) + note) > limit:
                kept.pop()
                note = f"\n(... {len(rest) - len(kept)} more line(s) of the plan left out)"
            body = "\n".join([text, *kept])
            return body + note if _size(body + note) <= limit else body
        kept.append(line)
    return "\n".join([text, *kept])


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _clip_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    # Leave room for the marker; decoding with "ignore" drops a split multi-byte char.
    return data[: max(0, limit - 4)].decode("utf-8", "ignore") + " ..."


@dataclass(frozen=True, slots=True)
class DriftResult:
    """One phase's drift check: ``drifted`` when ``score < threshold``; ``blocking``
    when the plan says drift fails the phase."""

    score: float
    threshold: float
    method: str
    mode: DriftMode
    summary_words: int

    @property
    def drifted(self) -> bool:
        return self.score < self.threshold

    @property
    def blocks(self) -> bool:
        return self.drifted and self.mode == "blocking"

    def explain(self, phase_id: str) -> str:
        """A sentence for the decision log and, when it blocks, the phase's failure."""
        verdict = "drifted from" if self.drifted else "is in line with"
        text = (
            f"phase {phase_id} {verdict} the run's intention: {self.method} similarity "
            f"{self.score:.2f} (threshold {self.threshold:.2f})"
        )
        if self.blocks:
            text += (
                "; the plan sets drift: blocking, so the phase fails. Check that the phase's "
                "changes serve the run's goal, or lower drift_threshold / set drift: advisory"
            )
        return text


@dataclass(frozen=True, slots=True)
class PhaseSummary:
    """What a completed phase was for (``goal``: name, description, deliverables) and what
    it did (``files`` changed, the reviewers' ``notes``)."""

    goal: str
    files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def changes(self) -> str:
        """What the phase did, as text: the files it changed and the review notes."""
        return "\n".join([*self.files, *(n for n in self.notes if n)])

    @property
    def text(self) -> str:
        """The whole summary: goal, then changes."""
        return "\n".join(part for part in (self.goal, self.changes) if part)


def phase_summary(goal: str, files: Iterable[str], notes: Iterable[str]) -> PhaseSummary:
    """The summary a phase is judged by: its goal, the files it changed, the review notes."""
    return PhaseSummary(goal, tuple(files), tuple(n for n in notes if n))


def check_drift(
    anchor: str,
    summary: PhaseSummary,
    *,
    mode: DriftMode,
    threshold: float,
    similarity: Similarity | None = None,
    method: str = "semantic",
) -> DriftResult:
    """Score ``summary`` against ``anchor``: with ``similarity`` when given (the whole
    summary against the anchor; clamped to [0, 1], reported under ``method``), lexically
    otherwise (the changes against the anchor and the phase's goal; see the module)."""
    changes = summary.changes
    did_something = bool(content_words(changes))
    scored = changes if did_something else summary.goal
    if similarity is None:
        reference = f"{anchor}\n{summary.goal}" if did_something else anchor
        score, method = lexical_similarity(scored, reference), "lexical"
    else:
        score = min(1.0, max(0.0, float(similarity(summary.text, anchor))))
    return DriftResult(
        score=round(score, 4),
        threshold=threshold,
        method=method,
        mode=mode,
        summary_words=len(content_words(scored)),
    )
