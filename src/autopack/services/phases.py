"""Phase use cases: state changes through the state machine, and agent results.

Agent results (Builder, Auditor, Doctor) are persisted as ``phase_attempts`` rows in their
own transaction *before* anything else happens, so a later failure (a rejected apply, an
illegal transition, a crash) never loses what was submitted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, object_session, sessionmaker

from autopack.db.orm import Phase, PhaseAttempt, Run, utcnow
from autopack.db.session import unit_of_work
from autopack.domain.results import (
    AuditorRequest,
    AuditorResult,
    BuilderResult,
    BuilderSuggestedIssue,
)
from autopack.domain.states import AttemptRole, IssueSeverity, PhaseState
from autopack.domain.transitions import transition
from autopack.errors import (
    ApplyRejected,
    AutopackError,
    IllegalTransition,
    LeaseHeld,
    NotFoundError,
)
from autopack.services import issues as issue_service
from autopack.services import notifications
from autopack.services.runs import known_state
from autopack.services.tokens import count_tokens

#: A phase by its run and id, built once: the executor loads its phase several times a
#: phase, and building the statement each time cost more than running it.
_PHASE_BY_ID = select(Phase).where(
    Phase.run_id == bindparam("of_run"), Phase.phase_id == bindparam("of_phase")
)


def get_phase(session: Session, run_id: str, phase_id: str, *, check_state: bool = True) -> Phase:
    """Load a phase; NotFoundError names whichever of run or phase is missing, and
    InvalidStoredState a stored state the code does not know (unless ``check_state`` is
    off, for writes that must not depend on the state, like storing a result)."""
    phase = session.scalars(_PHASE_BY_ID, {"of_run": run_id, "of_phase": phase_id}).one_or_none()
    if phase is None:
        if session.get(Run, run_id) is None:
            raise NotFoundError(f"run {run_id!r} not found", run_id=run_id)
        raise NotFoundError(
            f"phase {phase_id!r} not found in run {run_id!r}; GET /runs/{run_id} lists its phases",
            run_id=run_id,
            phase_id=phase_id,
        )
    if check_state:
        known_state(PhaseState, phase.state, table="phases", row_id=f"{run_id}/{phase_id}")
    return phase


def set_phase_state(
    session: Session,
    phase: Phase,
    requested: PhaseState,
    *,
    reason: str | None = None,
    via: str | None = None,
    now: datetime | None = None,
) -> None:
    """Move a phase through the state machine; IllegalTransition (409) when refused.

    A QUEUED phase that receives a result has evidently started, so it passes through
    EXECUTING on the way, each step checked by the same table.
    """
    if (
        phase.state == PhaseState.QUEUED.value
        and requested is not PhaseState.EXECUTING
        and not transition("phase", phase.state, requested.value).accepted
        and transition("phase", PhaseState.EXECUTING.value, requested.value).accepted
    ):
        set_phase_state(session, phase, PhaseState.EXECUTING, now=now)
    result = transition("phase", phase.state, requested.value, via=via)
    if not result.accepted:
        raise IllegalTransition(
            result.reason,
            current=phase.state,
            requested=requested.value,
            allowed=result.allowed,
            run_id=phase.run_id,
            phase_id=phase.phase_id,
        )
    now = now or utcnow()
    phase.state = requested.value
    if requested is PhaseState.EXECUTING and phase.started_at is None:
        phase.started_at = now
    if requested.is_terminal:
        phase.completed_at = now
    if reason and requested in (PhaseState.FAILED, PhaseState.SKIPPED):
        phase.last_failure = reason
    session.flush()
    if requested is PhaseState.FAILED:
        notifications.phase_failed(session, phase)


def update_phase_status(
    session: Session,
    run_id: str,
    phase_id: str,
    *,
    state: PhaseState,
    builder_attempts: int | None = None,
    tokens_used: int | None = None,
    minor_issues_count: int | None = None,
    major_issues_count: int | None = None,
    quality_level: str | None = None,
    quality_blocked: bool | None = None,
) -> Phase:
    """The original's update_status, with the state change checked by the state machine.

    Refused (409) while an executor holds the run's lease (it owns the phase and would
    overwrite or be confused by the change), while the phase waits for a person's approval
    (the approval decides), and for a move to COMPLETE without accepted results (see
    :func:`accepted_results`): this route reports progress, it does not vouch for work.
    """
    phase = get_phase(session, run_id, phase_id)
    _refuse_if_executor_holds(phase.run)
    current = PhaseState(phase.state)
    if PhaseState.AWAITING_APPROVAL in (current, state) and state is not current:
        raise IllegalTransition(
            f"phase {phase_id!r}: only an approval request parks a phase for a person, and "
            "only a decision (POST /approvals/{id}/approve or /reject) releases it; "
            "update_status cannot do either",
            current=phase.state,
            requested=state.value,
            allowed=[],
            run_id=run_id,
            phase_id=phase_id,
        )
    if (
        state is PhaseState.COMPLETE
        and current is not PhaseState.COMPLETE
        and accepted_results(phase) is None
    ):
        raise IllegalTransition(
            f"phase {phase_id!r} has no accepted results, so it cannot be marked "
            "COMPLETE: submit a Builder result whose patch governed apply applied, then "
            "an Auditor result that approves it (or let the executor finish the phase)",
            current=phase.state,
            requested=state.value,
            allowed=[
                s
                for s in transition("phase", phase.state, state.value).allowed
                if s != PhaseState.COMPLETE.value
            ],
            run_id=run_id,
            phase_id=phase_id,
        )
    set_phase_state(session, phase, state)
    if builder_attempts is not None:
        phase.builder_attempts = builder_attempts
    if tokens_used is not None:
        add_tokens(phase, tokens_used - phase.tokens_used)
    if minor_issues_count is not None:
        phase.minor_issues_count = minor_issues_count
    if major_issues_count is not None:
        phase.major_issues_count = major_issues_count
    if quality_level is not None:
        phase.quality_level = quality_level
    if quality_blocked is not None:
        phase.quality_blocked = quality_blocked
    session.flush()
    return phase


def accepted_results(phase: Phase) -> str | None:
    """Why the phase's work is accepted, or None when it is not.

    Only the phase's latest Builder attempt counts (a later attempt supersedes an earlier
    one), and it is accepted when either

    * the executor recorded it (its payload has a ``stage``) and took it to ``done``: its
      edits were applied by governed apply, the test delta and the deliverables gates
      passed, and the Auditor's verdict was approve; or
    * it was submitted through the API with status ``success`` or ``needs_review``,
      governed apply applied its patch (``apply_status`` ``applied``), and an Auditor
      result recorded after it approves. The server runs no tests for submitted results:
      the submitter's status is its report of verification, the approving Auditor the
      review. A ``failed`` result, or one with nothing applied, is never accepted.
    """
    builders = [a for a in phase.attempts if a.role == AttemptRole.BUILDER.value]
    if not builders:
        return None
    latest = max(builders, key=lambda a: a.id)
    if "stage" in latest.payload:
        done = latest.payload.get("stage") == "done"
        return f"executor attempt {latest.attempt_number} completed" if done else None
    if latest.status not in ("success", "needs_review") or latest.apply_status != "applied":
        return None
    approved = any(
        a.role == AttemptRole.AUDITOR.value and a.status == "approve" and a.id > latest.id
        for a in phase.attempts
    )
    return f"builder attempt {latest.attempt_number} applied and approved" if approved else None


def _refuse_if_executor_holds(run: Run, now: datetime | None = None) -> None:
    """LeaseHeld (409) naming the executor when one holds a live lease on ``run``."""
    now = now or utcnow()
    if run.lease_owner and run.lease_expires_at and run.lease_expires_at > now:
        raise LeaseHeld(
            f"run {run.id!r} is being executed by {run.lease_owner}, which owns its phases' "
            "states; wait for it to finish, or cancel it with "
            f"POST /runs/{run.id}/cancel",
            run_id=run.id,
            owner=run.lease_owner,
        )


def add_tokens(phase: Phase, tokens: int) -> None:
    """Count tokens on the phase, its tier and its run together (through
    :func:`autopack.services.tokens.count_tokens`, which also owns ``budget_80``)."""
    session = object_session(phase)
    if session is None:
        raise ValueError(f"phase {phase.phase_id!r} is in no session; tokens are counted in SQL")
    count_tokens(
        session, run_id=phase.run_id, phase_pk=phase.id, tier_pk=phase.tier_pk, tokens=tokens
    )


def record_attempt(
    factory: sessionmaker[Session],
    run_id: str,
    phase_id: str,
    *,
    role: AttemptRole,
    status: str,
    payload: dict[str, Any],
    model: str | None = None,
    tokens_used: int = 0,
) -> int:
    """Persist one agent result in its own transaction and return the attempt id.

    Stored whatever the phase's state, even one the code does not know: the result must
    never be lost to a problem that a later step reports."""
    with unit_of_work(factory) as session:
        phase = get_phase(session, run_id, phase_id, check_state=False)
        number = 1 + len([a for a in phase.attempts if a.role == role.value])
        attempt = PhaseAttempt(
            run_id=run_id,
            phase_pk=phase.id,
            role=role.value,
            attempt_number=number,
            status=status,
            payload=payload,
            model=model,
            tokens_used=tokens_used,
        )
        session.add(attempt)
        session.flush()
        return attempt.id


@contextmanager
def _after_attempt(attempt_id: int) -> Iterator[None]:
    """Errors after an attempt was stored name it, so the caller knows nothing was lost."""
    try:
        yield
    except AutopackError as exc:
        exc.context.setdefault("attempt_id", attempt_id)
        raise


#: Applies a patch for a phase and returns the apply result (a JSON-able dict with at least
#: ``applied``, ``no_op``, ``requires_approval``, ``commit_sha``), or raises ApplyRejected.
ApplyHook = Callable[[Session, Phase, str, str], dict[str, Any] | None]


@dataclass
class ResultOutcome:
    attempt_id: int
    phase_state: str
    message: str
    commit_sha: str | None = None
    apply: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def submit_builder_result(
    factory: sessionmaker[Session],
    run_id: str,
    phase_id: str,
    result: BuilderResult,
    *,
    apply: ApplyHook | None = None,
) -> ResultOutcome:
    """Store a Builder result, then apply its patch (when the run has a workspace), record
    its suggested issues and move the phase: success -> COMPLETE, needs_review -> GATE,
    failed -> stays EXECUTING while attempts remain, else FAILED.

    The attempt row is committed first; an apply rejection is stored on it and re-raised
    (ApplyRejected -> 422), and the phase state is left as it was.
    """
    attempt_id = record_attempt(
        factory,
        run_id,
        phase_id,
        role=AttemptRole.BUILDER,
        status=result.status,
        payload=result.model_dump(mode="json"),
        tokens_used=result.tokens_used,
    )
    apply_result: dict[str, Any] | None = None
    with _after_attempt(attempt_id), unit_of_work(factory) as session:
        _check_accepts_result(
            get_phase(session, run_id, phase_id), patch=bool(result.patch_content)
        )
    if result.patch_content and apply is not None:
        try:
            with unit_of_work(factory) as session:
                phase = get_phase(session, run_id, phase_id)
                apply_result = apply(
                    session,
                    phase,
                    result.patch_content,
                    f"[Builder] {phase_id}: {result.notes}".strip(),
                )
                if apply_result is not None:
                    _store_apply(session, attempt_id, apply_result)
        except ApplyRejected as exc:
            with unit_of_work(factory) as session:
                _store_apply(
                    session,
                    attempt_id,
                    {
                        "applied": False,
                        "rejected": True,
                        "reason": exc.message,
                        "failures": exc.failures,
                        **exc.context,
                    },
                )
                run = session.get(Run, run_id)
                if run is not None:
                    run.apply_failures += 1
            exc.context["attempt_id"] = attempt_id
            raise
    with _after_attempt(attempt_id), unit_of_work(factory) as session:
        phase = get_phase(session, run_id, phase_id)
        phase.builder_attempts = max(phase.builder_attempts + 1, result.builder_attempts)
        add_tokens(phase, result.tokens_used)
        _record_issues(session, phase, result.suggested_issues, source=None)
        if apply_result and apply_result.get("requires_approval"):
            target = PhaseState.AWAITING_APPROVAL
        elif result.status == "success":
            target = PhaseState.COMPLETE
        elif result.status == "needs_review":
            target = PhaseState.GATE
        elif phase.builder_attempts >= phase.max_builder_attempts:
            target = PhaseState.FAILED
        else:
            target = PhaseState.EXECUTING
        reason = f"builder reported failure: {result.notes}" if result.status == "failed" else None
        if apply_result and apply_result.get("commit_sha"):
            phase.commit_sha = apply_result["commit_sha"]
        if target is PhaseState.AWAITING_APPROVAL:
            from autopack.services.approvals import request_approval  # approvals imports us

            expiry: dict[str, Any] = dict((phase.run.spec or {}).get("approvals") or {})
            then = {"success": PhaseState.COMPLETE, "needs_review": PhaseState.GATE}.get(
                result.status, PhaseState.EXECUTING
            )
            request_approval(
                session,
                phase,
                kind="large_deletion",
                reason=(apply_result or {}).get("reason") or "large deletion",
                details={
                    "attempt_id": attempt_id,
                    "patch": result.patch_content,
                    "message": f"[Builder] {phase_id}: {result.notes}".strip(),
                    "then_state": then.value,
                    "net_deleted_lines": (apply_result or {}).get("net_deleted_lines"),
                },
                # The plan's expiry policy (the settings' default is the executor's).
                expire_after_minutes=expiry.get("expire_after_minutes"),
                on_expiry=expiry.get("on_expiry") or "reject",
            )
        else:
            set_phase_state(session, phase, target, reason=reason)
        return ResultOutcome(
            attempt_id=attempt_id,
            phase_state=phase.state,
            message=f"Builder result processed for phase {phase_id}",
            commit_sha=(apply_result or {}).get("commit_sha"),
            apply=apply_result,
        )


def _check_accepts_result(phase: Phase, *, patch: bool) -> None:
    """Refuse (409), before anything is applied, a Builder result for a phase that waits for
    a person's approval (it would bypass it) or one with a patch for a finished phase (it
    would land on the branch, then the state change would be refused)."""
    state = PhaseState(phase.state)
    if state is PhaseState.AWAITING_APPROVAL or (patch and state.is_terminal):
        why = (
            "waits for a person's approval; approve or reject it first (GET /approvals)"
            if state is PhaseState.AWAITING_APPROVAL
            else f"is {state.value}; it takes no more patches"
        )
        raise IllegalTransition(
            f"phase {phase.phase_id!r} {why}",
            current=phase.state,
            requested=PhaseState.EXECUTING.value,
            allowed=[],
            run_id=phase.run_id,
            phase_id=phase.phase_id,
        )


def _store_apply(session: Session, attempt_id: int, outcome: dict[str, Any]) -> None:
    attempt = session.get(PhaseAttempt, attempt_id)
    if attempt is None:
        return
    attempt.apply_result = outcome
    attempt.apply_status = (
        "rejected"
        if outcome.get("rejected")
        else "requires_approval"
        if outcome.get("requires_approval")
        else "no_op"
        if outcome.get("no_op")
        else "applied"
        if outcome.get("applied")
        else "not_applied"
    )
    session.flush()


def request_auditor_review(
    session: Session, run_id: str, phase_id: str, request: AuditorRequest
) -> Phase:
    """Mark a phase as waiting for the Auditor (GATE)."""
    phase = get_phase(session, run_id, phase_id)
    set_phase_state(session, phase, PhaseState.GATE)
    return phase


def submit_auditor_result(
    factory: sessionmaker[Session],
    run_id: str,
    phase_id: str,
    result: AuditorResult,
    *,
    apply: ApplyHook | None = None,
) -> ResultOutcome:
    """Store an Auditor verdict, record its issues, apply its suggested patches, and move
    the phase: approve -> COMPLETE, revise -> EXECUTING (back to the Builder),
    escalate -> FAILED (a person must look)."""
    attempt_id = record_attempt(
        factory,
        run_id,
        phase_id,
        role=AttemptRole.AUDITOR,
        status=result.recommendation,
        payload=result.model_dump(mode="json"),
        tokens_used=result.tokens_used,
    )
    commit_shas: list[str] = []
    with _after_attempt(attempt_id), unit_of_work(factory) as session:
        phase = get_phase(session, run_id, phase_id)
        phase.auditor_attempts = max(phase.auditor_attempts + 1, result.auditor_attempts)
        add_tokens(phase, result.tokens_used)
        _record_issues(session, phase, result.issues_found, source="auditor")
        if apply is not None:
            for patch in result.suggested_patches:
                outcome = apply(
                    session,
                    phase,
                    patch.patch_content,
                    f"[Auditor] {phase_id}: {patch.description}",
                )
                if outcome and outcome.get("commit_sha"):
                    commit_shas.append(outcome["commit_sha"])
        target = {
            "approve": PhaseState.COMPLETE,
            "revise": PhaseState.EXECUTING,
            "escalate": PhaseState.FAILED,
        }[result.recommendation]
        reason = (
            f"auditor escalated: {result.review_notes}"
            if result.recommendation == "escalate"
            else None
        )
        set_phase_state(session, phase, target, reason=reason)
        return ResultOutcome(
            attempt_id=attempt_id,
            phase_state=phase.state,
            message=f"Auditor result processed for phase {phase_id}",
            extra={
                "recommendation": result.recommendation,
                "patches_applied": len(commit_shas),
                "commit_shas": commit_shas,
            },
        )


def _record_issues(
    session: Session, phase: Phase, issues: list[BuilderSuggestedIssue], *, source: str | None
) -> None:
    """Record an agent's issues; ``source`` overrides each issue's own when given."""
    for issue in issues:
        issue_service.record_issue(
            session,
            phase,
            issue_key=issue.issue_key,
            severity=issue.severity,
            source=source or issue.source,
            category=issue.category,
            description=issue.description,
            evidence_refs=issue.evidence_refs,
        )


def record_phase_issue(
    session: Session,
    run_id: str,
    phase_id: str,
    *,
    issue_key: str,
    severity: IssueSeverity,
    source: str,
    category: str,
    description: str = "",
    evidence_refs: list[str] | None = None,
) -> dict[str, Any]:
    phase = get_phase(session, run_id, phase_id)
    return issue_service.record_issue(
        session,
        phase,
        issue_key=issue_key,
        severity=severity,
        source=source,
        category=category,
        description=description,
        evidence_refs=evidence_refs,
    )


def attempts_view(phase: Phase) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "role": a.role,
            "attempt_number": a.attempt_number,
            "status": a.status,
            "model": a.model,
            "tokens_used": a.tokens_used,
            "apply_status": a.apply_status,
            "created_at": a.created_at.isoformat(),
        }
        for a in phase.attempts
    ]
