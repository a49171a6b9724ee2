"""Dashboard pages for people's decisions and the system around runs: approvals, models,
issues backlog, decision log, human notes, health, and signing in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from autopack import __version__
from autopack.api.deps import run_continuer
from autopack.config import models_config_for
from autopack.db import migrate
from autopack.db.database import Database
from autopack.db.session import describe_database, unit_of_work
from autopack.domain.access import Principal
from autopack.executor.pool import ExecutionPool
from autopack.llm.factory import build_router, effective_config
from autopack.services import approvals as approval_service
from autopack.services import board, notes, routing
from autopack.services.approval_decisions import decide_and_continue
from autopack.services.events import EventBus
from autopack.web.auth import (
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    CsrfChecked,
    Identity,
    check_key,
    session_cookie_value,
)
from autopack.web.render import highlight_unified, render

router = APIRouter(prefix="/ui", include_in_schema=False)


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, identity: Identity) -> Response:
    """Pending approvals with the change that waits, approve or reject with a comment."""
    with unit_of_work(request.app.state.session_factory) as session:
        items = []
        for approval, answer in board.pending_approvals(session):
            diff = str(approval.details.get("diff") or "")
            items.append(
                {
                    "view": approval_service.approval_view(approval),
                    "diff": highlight_unified(diff) if diff else None,
                    "answer": answer[:20000],
                }
            )
        decided = [
            approval_service.approval_view(a) for a in board.recent_decided_approvals(session)
        ]
    return render(request, "approvals.html", {"items": items, "decided": decided})


def _decide(
    request: Request, approval_id: int, approve: bool, note: str, identity: Principal
) -> None:
    view = decide_and_continue(
        request.app.state.session_factory,
        approval_id,
        approve=approve,
        by=identity.identity,
        note=note,
        apply=getattr(request.app.state, "approve_hook", None),
        continue_run=run_continuer(request),
    )
    with unit_of_work(request.app.state.session_factory) as session:
        run = board.run_card(session, view["run_id"])
    bus: EventBus = request.app.state.event_bus
    bus.publish(
        "approval_decided", view["run_id"], approval_id=approval_id, approved=approve, card=run
    )


@router.post("/approvals/{approval_id}/approve", dependencies=[CsrfChecked])
def approve(
    request: Request, approval_id: int, identity: Identity, note: Annotated[str, Form()] = ""
) -> Response:
    """Approve: the held change is applied and the run goes on."""
    _decide(request, approval_id, True, note[:5000], identity)
    return _back("/ui/approvals")


@router.post("/approvals/{approval_id}/reject", dependencies=[CsrfChecked])
def reject(
    request: Request, approval_id: int, identity: Identity, note: Annotated[str, Form()] = ""
) -> Response:
    """Reject: the held change is discarded and the Builder is told why (the comment)."""
    _decide(request, approval_id, False, note[:5000], identity)
    return _back("/ui/approvals")


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, identity: Identity, run_id: str = "") -> Response:
    """The effective routing table (for new runs, or one run) and the override form."""
    settings = request.app.state.settings
    config = effective_config(settings)
    with unit_of_work(request.app.state.session_factory) as session:
        entries = routing.effective_mapping(session, build_router(settings, config), run_id or None)
    models = sorted({m for e in entries for m in [e.model]})
    return render(request, "models.html", {"entries": entries, "run_id": run_id, "models": models})


@router.post("/models/override", dependencies=[CsrfChecked])
def override_model(
    request: Request,
    identity: Identity,
    role: Annotated[str, Form()],
    complexity: Annotated[str, Form()],
    model: Annotated[str, Form()],
    category: Annotated[str, Form()] = "general",
    run_id: Annotated[str, Form()] = "",
) -> Response:
    """Set a model: for every run's next calls, or (with a run id) for that run only."""
    config = models_config_for(request.app.state.settings)
    with unit_of_work(request.app.state.session_factory) as session:
        if run_id:
            routing.set_run_override(
                session,
                config,
                run_id,
                role,
                category,
                complexity,
                model.strip(),
                actor=identity.identity,
            )
        else:
            routing.set_global_override(
                session, config, role, category, complexity, model, actor=identity.identity
            )
    return _back(f"/ui/models?run_id={run_id}" if run_id else "/ui/models")


@router.get("/issues", response_class=HTMLResponse)
def issues_page(
    request: Request,
    identity: Identity,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """The project's issue backlog, oldest (in runs) first, a page at a time."""
    with unit_of_work(request.app.state.session_factory) as session:
        backlog, total = board.backlog_page(session, offset=offset)
    return render(
        request,
        "issues.html",
        {"backlog": backlog, "total": total, "offset": offset, "limit": board.BACKLOG_PAGE},
    )


@router.get("/decisions", response_class=HTMLResponse)
def decisions_page(request: Request, identity: Identity, run_id: str = "") -> Response:
    """The decision log: what the executor and people decided, and why (newest first)."""
    with unit_of_work(request.app.state.session_factory) as session:
        rows = [
            {
                "at": d.created_at,
                "run_id": d.run_id,
                "phase_id": d.phase_id,
                "actor": d.actor,
                "decision": d.decision,
                "rationale": d.rationale,
            }
            for d in board.decision_log(session, run_id or None)
        ]
    return render(request, "decisions.html", {"rows": rows, "run_id": run_id})


@router.get("/notes", response_class=HTMLResponse)
def notes_page(request: Request, identity: Identity) -> Response:
    """Human notes (given to the Builder of later attempts) and the form to add one."""
    with unit_of_work(request.app.state.session_factory) as session:
        rows = [
            {"at": n.created_at, "run_id": n.run_id, "note": n.note}
            for n in board.recent_notes(session)
        ]
    return render(request, "notes.html", {"rows": rows})


@router.post("/notes", dependencies=[CsrfChecked])
def add_note(
    request: Request,
    identity: Identity,
    note: Annotated[str, Form(min_length=1, max_length=10000)],
    run_id: Annotated[str, Form()] = "",
) -> Response:
    """Store a note (as ``POST /dashboard/human-notes``)."""
    settings = request.app.state.settings
    with unit_of_work(request.app.state.session_factory) as session:
        notes.add_note(
            session,
            note,
            run_id=run_id or None,
            notes_file=settings.home / "human_notes.md",
            actor=identity.identity,
        )
    return _back("/ui/notes")


@router.get("/health", response_class=HTMLResponse)
def health_page(request: Request, identity: Identity) -> Response:
    """Database identity, schema revision, version and this server's executors."""
    db: Database = request.app.state.database
    try:
        revision: str | None = migrate.current_revision(db.engine)
    except Exception:  # the page reports an unusable database instead of failing
        revision = None
    pool: ExecutionPool = request.app.state.executor_pool
    bus: EventBus = request.app.state.event_bus
    with unit_of_work(request.app.state.session_factory) as session:
        executing = board.run_cards(session, executing_only=True)
    return render(
        request,
        "health.html",
        {
            "database": describe_database(db.engine),
            "revision": revision,
            "expected": migrate.head_revision(),
            "app_version": __version__,
            "pool_size": request.app.state.settings.executor_pool_size,
            "executing": executing,
            "pool_active": [c["run_id"] for c in executing if pool.is_active(c["run_id"])],
            "subscribers": bus.subscriber_count,
        },
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/", error: str = "") -> Response:
    """Sign in with an API key (asked once; the browser keeps a session cookie)."""
    return render(request, "login.html", {"next": _safe_next(next), "error": error})


def _safe_next(target: str) -> str:
    # Only our own pages: never an open redirect to another site.
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/"


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request, key: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/ui/"
) -> Response:
    """Check the key; on success set the signed session cookie and go to ``next``."""
    if not key.strip() or check_key(request, key.strip()) is None:
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "error": "that API key is not valid (or revoked)"},
            status_code=401,
        )
    response = _back(_safe_next(next))
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie_value(request, key.strip()),
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def logout() -> Response:
    """End the dashboard session."""
    response = _back("/ui/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
