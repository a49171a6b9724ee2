"""``GET``/``POST /approvals/{id}/link?token=...``: decide from a signed link.

Registered outside API-key protection: the link's token is its authentication. It is
signed with the server's key and names the approval, the decision, the user it was made
out to and an expiry (``services/decision_links.py``). GET only shows a confirmation page
(mail scanners and chat previews fetch links; fetching must decide nothing); the page's
POST decides as that user, who must still be active with at least the operator role. A
token decides once: its id is recorded with the decision.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from autopack.api.deps import FactoryDep, run_continuer
from autopack.db.session import unit_of_work
from autopack.domain.access import Role, allows
from autopack.errors import IllegalTransition, NotFoundError
from autopack.services import approvals as approval_service
from autopack.services import users
from autopack.services.approval_decisions import decide_and_continue, pending_approval
from autopack.services.decision_links import LinkClaim, LinkRefused, read_token
from autopack.signing_key import load_secret

#: Pages for a browser, like the dashboard's: not part of the API's OpenAPI document
#: (whose errors are problem+json); a person gets an HTML page for every outcome.
router = APIRouter(tags=["approvals"], include_in_schema=False)
ApprovalId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} - Autopack</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;"
        "padding:0 1rem}button{font-size:1.1rem;padding:.5rem 1.5rem}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def _claim(request: Request, approval_id: int, token: str) -> LinkClaim:
    secret = load_secret(request.app.state.settings.home)
    return read_token(secret, token, approval_id)


def _may_decide(factory: FactoryDep, claim: LinkClaim) -> str | None:
    """Why the link's user may not decide (None: they may)."""
    with unit_of_work(factory) as session:
        try:
            user = users.find_user(session, claim.user)
        except NotFoundError:
            return f"the link names user {claim.user!r}, who does not exist"
        if user.disabled:
            return f"user {user.name} is disabled"
        if not allows(Role(user.role), Role.OPERATOR):
            return f"user {user.name} is a {user.role}; deciding needs the operator role"
    return None


@router.get(
    "/approvals/{approval_id}/link",
    response_class=HTMLResponse,
    summary="Confirmation page of a signed decision link (own authentication: the token)",
)
def decision_link_page(
    approval_id: ApprovalId, token: str, request: Request, factory: FactoryDep
) -> HTMLResponse:
    """Shows what the link would decide, with a button that does it. Decides nothing."""
    try:
        claim = _claim(request, approval_id, token)
    except LinkRefused as exc:
        return _page("Link refused", f"<p>{escape(exc.message)}</p>", 403)
    try:
        with unit_of_work(factory) as session:
            view = approval_service.approval_view(pending_approval(session, approval_id))
    except (IllegalTransition, NotFoundError) as exc:
        return _page("Nothing to decide", f"<p>{escape(exc.message)}</p>", 409)
    verb = "Approve" if claim.approve else "Reject"
    body = (
        f"<p>Run <b>{escape(view['run_id'])}</b>, phase <b>{escape(view['phase_id'])}</b>: "
        f"{escape(view['kind'].replace('_', ' '))}.</p><p>{escape(view['reason'])}</p>"
        f"<p>You decide as <b>{escape(claim.user)}</b>.</p>"
        '<form method="post"><input type="hidden" name="token" value="'
        f'{escape(token)}"><button type="submit">{verb}</button></form>'
    )
    return _page(f"{verb} approval {approval_id}?", body)


@router.post(
    "/approvals/{approval_id}/link",
    response_class=HTMLResponse,
    summary="Decide through a signed decision link (own authentication: the token)",
)
def decide_by_link(
    approval_id: ApprovalId,
    request: Request,
    factory: FactoryDep,
    token: Annotated[str, Form(max_length=2000)],
) -> HTMLResponse:
    """Approve or reject as the link's user, once; the run continues if it was parked."""
    try:
        claim = _claim(request, approval_id, token)
    except LinkRefused as exc:
        return _page("Link refused", f"<p>{escape(exc.message)}</p>", 403)
    refusal = _may_decide(factory, claim)
    if refusal is not None:
        return _page("Not allowed", f"<p>{escape(refusal)}.</p>", 403)
    try:
        view = decide_and_continue(
            factory,
            approval_id,
            approve=claim.approve,
            by=f"user:{claim.user}",
            note="decided through a signed link",
            apply=getattr(request.app.state, "approve_hook", None),
            continue_run=run_continuer(request),
            token_id=claim.token_id,
        )
    except (IllegalTransition, NotFoundError) as exc:
        return _page("Nothing changed", f"<p>{escape(exc.message)}</p>", 409)
    return _page(
        f"Approval {approval_id} {view['status']}",
        f"<p>Recorded as decided by <b>{escape(claim.user)}</b>."
        + (" The run continues.</p>" if view["continued"] else "</p>"),
    )
