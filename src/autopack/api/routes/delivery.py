"""Delivery of a finished run: the branch's diff, a merge into the user's branch, a push."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from autopack.api.delivery_schemas import MergeRequest, PushRequest
from autopack.api.deps import AuthDep, SessionDep
from autopack.services import delivery
from autopack.services.delivery import BranchDiff, MergeResult, PushResult

router = APIRouter(tags=["delivery"])

_NOT_FOUND = {"description": "Unknown run (problem+json)"}
_REFUSED = {
    "description": "Refused, nothing changed (problem+json): the run did not end "
    "DONE_SUCCESS, the merge conflicts (`files` names them), the target is checked out "
    "with uncommitted changes, a fast-forward is impossible, or the remote refused"
}
_BAD_INPUT = {"description": "Bad input (problem+json): unknown branch or remote, bad body"}


@router.get(
    "/runs/{run_id}/diff",
    response_model=BranchDiff,
    responses={404: _NOT_FOUND, 409: {"description": "The run has no branch yet"}},
)
def run_diff(run_id: str, session: SessionDep) -> BranchDiff:
    """The run's branch `autopack/<run_id>` against the commit it started from: its
    commits (with the phase each completed) and each file's unified diff and line counts.
    A file's `patch` is cut at 200,000 characters (`truncated`)."""
    return delivery.branch_diff(session, run_id)


@router.post(
    "/runs/{run_id}/merge",
    response_model=MergeResult,
    responses={404: _NOT_FOUND, 409: _REFUSED, 422: _BAD_INPUT},
)
def merge_run(
    run_id: str,
    session: SessionDep,
    principal: AuthDep,
    body: Annotated[MergeRequest | None, Body()] = None,
) -> MergeResult:
    """Merge a run that ended DONE_SUCCESS into a branch of its repository (default: the
    branch it started from), recorded in the decision log as decided by the caller.

    Uncommitted work is never touched; a conflict is refused with the files named and
    nothing changed. Merging again answers `result: already_merged`."""
    request = body or MergeRequest()
    return delivery.merge_run(
        session, run_id, into=request.into, mode=request.mode, actor=principal.identity
    )


@router.post(
    "/runs/{run_id}/push",
    response_model=PushResult,
    responses={404: _NOT_FOUND, 409: _REFUSED, 422: _BAD_INPUT},
)
def push_run(
    run_id: str,
    session: SessionDep,
    principal: AuthDep,
    body: Annotated[PushRequest | None, Body()] = None,
) -> PushResult:
    """Push a finished run's branch to a remote of its repository (default `origin`),
    never forced; recorded in the decision log. 422 names the remotes there are when the
    one asked for is missing."""
    request = body or PushRequest()
    return delivery.push_run(session, run_id, remote=request.remote, actor=principal.identity)
