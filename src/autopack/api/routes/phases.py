"""Phases: status updates and Builder/Auditor results (the original's routes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from autopack.api.deps import FactoryDep, SessionDep
from autopack.api.schemas import (
    PhaseResponse,
    PhaseStatusUpdate,
    PhaseUpdateResponse,
    RecordIssueRequest,
    ResultResponse,
)
from autopack.domain.results import AuditorRequest, AuditorResult, BuilderResult
from autopack.domain.states import IssueSeverity
from autopack.errors import ValidationError
from autopack.services import phases as phase_service
from autopack.services.phases import ApplyHook

router = APIRouter(tags=["phases"])
PREFIX = "/runs/{run_id}/phases/{phase_id}"
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown run or phase"},
    409: {"description": "Illegal state transition"},
    422: {"description": "Invalid body, or the patch was rejected by governed apply"},
}


def _apply_hook(request: Request) -> ApplyHook | None:
    hook: ApplyHook | None = getattr(request.app.state, "apply_hook", None)
    return hook


def _check_ids(run_id: str, phase_id: str, body_run: str, body_phase: str) -> None:
    if body_run != run_id or body_phase != phase_id:
        raise ValidationError(
            f"the body names run {body_run!r} / phase {body_phase!r} but the URL names "
            f"{run_id!r} / {phase_id!r}; they must match",
            field="run_id/phase_id",
        )


@router.post(
    f"{PREFIX}/update_status",
    response_model=PhaseUpdateResponse,
    responses={
        **_ERRORS,
        409: {
            "description": "Illegal state transition (`illegal_transition`), COMPLETE without "
            "accepted results (`illegal_transition`), or an executor holds the run "
            "(`lease_held`, naming it in `owner`)"
        },
    },
)
def update_status(
    run_id: str, phase_id: str, update: PhaseStatusUpdate, session: SessionDep
) -> PhaseUpdateResponse:
    """Move a phase to a new state (checked by the state machine) and update counters.

    This route reports progress; it does not vouch for work. It is refused with 409:

    * while an executor holds the run (its lease is live): `lease_held`, with the
      executor's id in `owner`; the executor owns its phases' states;
    * to move a phase into or out of AWAITING_APPROVAL: only an approval request parks a
      phase, and only a decision on it releases it;
    * to move a phase to COMPLETE without **accepted results**. Only the phase's latest
      Builder attempt counts, and it is accepted when either the executor took it to its
      `done` stage (governed apply applied its edits, the test delta and deliverables
      gates passed, the Auditor approved), or it was submitted to `builder_result` with
      status `success` or `needs_review`, governed apply applied its patch, and an
      `auditor_result` recorded after it says `approve`. The server runs no tests for
      submitted results: the submitter's status is its report of verification.
    """
    phase = phase_service.update_phase_status(session, run_id, phase_id, **update.model_dump())
    return PhaseUpdateResponse(
        message=f"Phase {phase_id} updated to state {phase.state}", phase=PhaseResponse.of(phase)
    )


@router.post(
    f"{PREFIX}/builder_result",
    response_model=ResultResponse,
    responses=_ERRORS,
    response_model_exclude_none=True,
)
def builder_result(
    run_id: str, phase_id: str, result: BuilderResult, factory: FactoryDep, request: Request
) -> ResultResponse:
    """Submit a Builder result (the original BuilderResult body).

    The result is stored as a phase attempt before anything else happens. When the run
    has a workspace, ``patch_content`` goes through governed apply; a rejected patch is a
    422 problem naming the edit and the reason, and the stored attempt keeps it.
    """
    _check_ids(run_id, phase_id, result.run_id, result.phase_id)
    outcome = phase_service.submit_builder_result(
        factory, run_id, phase_id, result, apply=_apply_hook(request)
    )
    return ResultResponse(
        message=outcome.message,
        attempt_id=outcome.attempt_id,
        phase_state=outcome.phase_state,
        commit_sha=outcome.commit_sha,
        apply=outcome.apply,
    )


@router.post(f"{PREFIX}/auditor_request", responses=_ERRORS)
def auditor_request(
    run_id: str, phase_id: str, body: AuditorRequest, session: SessionDep
) -> dict[str, str | None]:
    """Ask for an Auditor review: the phase moves to GATE."""
    _check_ids(run_id, phase_id, body.run_id, body.phase_id)
    phase = phase_service.request_auditor_review(session, run_id, phase_id, body)
    return {
        "message": f"Auditor review requested for phase {phase_id}",
        "review_focus": body.review_focus,
        "auditor_profile": body.auditor_profile,
        "phase_state": phase.state,
    }


@router.post(
    f"{PREFIX}/auditor_result",
    response_model=ResultResponse,
    responses=_ERRORS,
    response_model_exclude_none=True,
)
def auditor_result(
    run_id: str, phase_id: str, result: AuditorResult, factory: FactoryDep, request: Request
) -> ResultResponse:
    """Submit an Auditor verdict: approve -> COMPLETE, revise -> EXECUTING,
    escalate -> FAILED. Issues found are recorded at phase, run and project level."""
    _check_ids(run_id, phase_id, result.run_id, result.phase_id)
    outcome = phase_service.submit_auditor_result(
        factory, run_id, phase_id, result, apply=_apply_hook(request)
    )
    return ResultResponse(
        message=outcome.message,
        attempt_id=outcome.attempt_id,
        phase_state=outcome.phase_state,
        **outcome.extra,
    )


@router.post(f"{PREFIX}/record_issue", responses=_ERRORS)
def record_issue(
    run_id: str,
    phase_id: str,
    session: SessionDep,
    body: Annotated[RecordIssueRequest | None, Body()] = None,
    issue_key: Annotated[str | None, Query(max_length=200)] = None,
    severity: IssueSeverity | None = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    task_category: str | None = None,
    complexity: str | None = None,
    evidence_refs: Annotated[list[str] | None, Query()] = None,
) -> dict[str, object]:
    """Record an issue for a phase, from a JSON body or (as the original) query parameters.
    The issue lands in the phase's issues, the run's index and the project backlog."""
    if body is None:
        if not issue_key or severity is None:
            raise ValidationError(
                "send the issue as a JSON body {issue_key, severity, source, category, ...} "
                "or as query parameters; issue_key and severity are required",
                field="issue_key" if not issue_key else "severity",
            )
        body = RecordIssueRequest(
            issue_key=issue_key,
            severity=severity,
            source=source or "api",
            category=category or "general",
            task_category=task_category,
            complexity=complexity,
            evidence_refs=evidence_refs or [],
        )
    entries = phase_service.record_phase_issue(
        session,
        run_id,
        phase_id,
        issue_key=body.issue_key,
        severity=body.severity,
        source=body.source,
        category=body.category,
        description=body.description,
        evidence_refs=body.evidence_refs,
    )
    return {"message": f"Issue {body.issue_key} recorded", **entries}
