"""Dashboard pages for the result of runs: delivery (the branch's diff, merge into a
branch of the user's repository, push to a remote) and usage (tokens and cost per day,
drawn on the server by ``web/charts.py``).

Merging and pushing go through ``services.delivery``, the same use cases as
``autopack merge|push`` and ``POST /runs/{id}/merge|push``; a refusal (a conflict, with
the files named; a dirty checkout; an unknown branch or remote) is shown on the page and
changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from autopack.config import models_config_for
from autopack.db.session import unit_of_work
from autopack.errors import AutopackError, ConflictError, ValidationError
from autopack.services import delivery
from autopack.services.events import EventBus
from autopack.web.auth import CsrfChecked, Identity
from autopack.web.charts import usage_charts
from autopack.web.render import highlight_unified, render

router = APIRouter(prefix="/ui", include_in_schema=False)


def _delivery_view(request: Request, run_id: str, outcome: dict[str, Any]) -> Response:
    """The delivery page, with the outcome of the last action (if any) on top."""
    with unit_of_work(request.app.state.session_factory) as session:
        try:
            diff: Any = delivery.branch_diff(session, run_id)
            problem = None
        except (ConflictError, ValidationError) as exc:  # no branch yet: say so
            diff, problem = None, exc.message
    files = []
    if diff is not None:
        for f in diff.files:
            files.append({"file": f, "html": highlight_unified(f.patch) if f.patch else None})
    status = 200
    if outcome.get("error"):
        status = outcome.get("status", 409)
    return render(
        request,
        "delivery.html",
        {"run_id": run_id, "diff": diff, "files": files, "problem": problem, **outcome},
        status_code=status,
    )


@router.get("/runs/{run_id}/delivery", response_class=HTMLResponse)
def delivery_page(request: Request, run_id: str, identity: Identity) -> Response:
    """A finished run's branch against its base, with merge and push forms."""
    return _delivery_view(request, run_id, {})


@router.post("/runs/{run_id}/merge", dependencies=[CsrfChecked])
def merge(
    request: Request,
    run_id: str,
    identity: Identity,
    into: Annotated[str, Form()] = "",
    mode: Annotated[Literal["auto", "ff", "merge"], Form()] = "auto",
) -> Response:
    """Merge the run's branch into ``into`` (as ``autopack merge RUN_ID --into BRANCH``)."""
    try:
        with unit_of_work(request.app.state.session_factory) as session:
            result = delivery.merge_run(
                session, run_id, into=into.strip() or None, mode=mode, actor=identity.identity
            )
    except AutopackError as exc:
        return _delivery_view(request, run_id, _refusal(exc, "merge"))
    bus: EventBus = request.app.state.event_bus
    bus.publish("merged", run_id, target=result.target, result=result.result, sha=result.sha)
    return RedirectResponse(
        f"/ui/runs/{run_id}/delivery?done=merge&message={_q(result.message)}", status_code=303
    )


@router.post("/runs/{run_id}/push", dependencies=[CsrfChecked])
def push(
    request: Request, run_id: str, identity: Identity, remote: Annotated[str, Form()] = ""
) -> Response:
    """Push the run's branch to ``remote`` (as ``autopack push RUN_ID --remote NAME``)."""
    try:
        with unit_of_work(request.app.state.session_factory) as session:
            result = delivery.push_run(
                session, run_id, remote=remote.strip() or None, actor=identity.identity
            )
    except AutopackError as exc:
        return _delivery_view(request, run_id, _refusal(exc, "push"))
    return RedirectResponse(
        f"/ui/runs/{run_id}/delivery?done=push&message={_q(result.message)}", status_code=303
    )


def _q(text: str) -> str:
    return quote(text[:500])


def _refusal(exc: AutopackError, action: str) -> dict[str, Any]:
    files = exc.context.get("files")
    return {
        "error": exc.message,
        "error_action": action,
        "error_files": list(files) if isinstance(files, list | tuple) else [],
        "status": 409 if isinstance(exc, ConflictError) else 422,
    }


@router.get("/usage", response_class=HTMLResponse)
def usage_page(request: Request, identity: Identity, days: int = 30) -> Response:
    """Tokens per day by provider and model (with each provider's cap) and cost per day."""
    days = min(max(days, 1), 366)
    caps = models_config_for(request.app.state.settings).provider_quotas
    with unit_of_work(request.app.state.session_factory) as session:
        charts = usage_charts(session, last_day=datetime.now(UTC).date(), days=days, caps=caps)
    return render(request, "usage.html", {"charts": charts, "days": days})
