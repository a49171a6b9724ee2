"""The drift check of a completed phase against the run's intention anchor.

Called by the phase loop just before a phase is marked COMPLETE: the phase's summary (its
name and description, the files its attempts changed, the Auditor's notes) is scored
against the anchor (:func:`autopack.memory.intention.check_drift`; lexical by default,
``ExecutorDeps.similarity`` when an embedder is wired) and the result is recorded as an
``intention_drift`` decision with its score. Under the plan's ``drift: blocking`` a score
below ``drift_threshold`` fails the phase instead.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from autopack.db.orm import Phase
from autopack.domain.states import AttemptRole
from autopack.executor.runtime import RunContext
from autopack.memory.intention import DriftResult, PhaseSummary, check_drift, phase_summary


def summarize_phase(phase: Phase) -> PhaseSummary:
    """What the phase was for (name, description, deliverables, acceptance criteria) and
    what it did (files changed, the reviewers' notes)."""
    files: list[str] = []
    notes: list[str] = []
    for attempt in phase.attempts:
        payload = attempt.payload or {}
        if attempt.role == AttemptRole.BUILDER.value and payload.get("stage") != "failed":
            files += [f for f in payload.get("files_changed") or [] if f not in files]
        elif attempt.role == AttemptRole.AUDITOR.value:
            notes.append(str(payload.get("review_notes") or payload.get("reason") or ""))
    scope = phase.scope or {}
    goal = [phase.name, phase.description, *scope.get("deliverables", [])]
    goal += scope.get("acceptance_criteria", [])
    return phase_summary("\n".join(g for g in goal if g), files, notes)


def check_phase_drift(ctx: RunContext, session: Session, phase: Phase) -> DriftResult | None:
    """Score the phase against the run's anchor and record the ``intention_drift``
    decision; None when the run has no anchor. The caller fails the phase when the
    result ``blocks``."""
    if not ctx.intention:
        return None
    result = check_drift(
        ctx.intention,
        summarize_phase(phase),
        mode=ctx.spec.drift,
        threshold=ctx.spec.drift_threshold,
        similarity=ctx.deps.similarity,
        method=ctx.deps.similarity_method,
    )
    ctx.decide(
        session,
        "intention_drift",
        result.explain(phase.phase_id),
        phase_id=phase.phase_id,
        score=result.score,
        threshold=result.threshold,
        method=result.method,
        mode=result.mode,
        drifted=result.drifted,
        blocking=result.blocks,
    )
    return result
