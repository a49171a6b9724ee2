"""Dashboard pages for runs: the board (and starting a run), a run, a phase.

Pages live under ``/ui/``; every form posts back under ``/ui/`` and redirects (303) to a
page, so the dashboard works with JavaScript off. Reads go through ``services.board``
(a bounded number of queries per page), writes through the same services as the API.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from autopack.db.session import unit_of_work
from autopack.domain.states import RunState
from autopack.errors import (
    ConfigurationError,
    ConflictError,
    IllegalTransition,
    LeaseHeld,
    ValidationError,
    WorkspaceError,
)
from autopack.executor.pool import ExecutionPool
from autopack.planning.normalize import load_plan
from autopack.planning.validation import check_for_creation
from autopack.services import board, delivery, governance, integration, issues
from autopack.services import runs as run_service
from autopack.services.decisions import record_decision
from autopack.services.events import EventBus
from autopack.web.auth import CsrfChecked, Identity
from autopack.web.render import highlight_unified, render, side_by_side

router = APIRouter(prefix="/ui", include_in_schema=False)

#: The largest plan the board's form accepts (the API's body limit applies too).
MAX_PLAN_BYTES = 1_000_000


def _bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.event_bus
    return bus


def _pool(request: Request) -> ExecutionPool:
    pool: ExecutionPool = request.app.state.executor_pool
    return pool


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/", response_class=HTMLResponse)
def board_page(request: Request, identity: Identity, repo: str = "", state: str = "") -> Response:
    """The board: runs as cards in columns by state, filters, and the start-run form."""
    column = state if state in board.COLUMNS else None
    cursor = _bus(request).last_id  # before the read: later changes arrive live
    with unit_of_work(request.app.state.session_factory) as session:
        cards = board.run_cards(session, repo=repo or None, column=column)
        repos = board.repositories(session)
    columns = {
        key: [c for c in cards if c["column"] == key]
        for key in board.COLUMNS
        if column is None or key == column
    }
    return render(
        request,
        "board.html",
        {
            "columns": columns,
            "headings": board.COLUMNS,
            "repos": repos,
            "repo": repo,
            "state": column or "",
            "last_event_id": cursor,
        },
    )


def _plan_file(text: str, filename: str, home: Path) -> Path:
    """Write a pasted or uploaded plan where ``load_plan`` reads it, keeping its format
    from the file name (YAML, JSON or Markdown); pasted text is JSON or YAML."""
    suffix = Path(filename).suffix.lower() if filename else ""
    if suffix not in (".yaml", ".yml", ".json", ".md", ".markdown", ".txt"):
        suffix = ".json" if text.lstrip().startswith("{") else ".yaml"
    folder = home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", suffix=suffix, prefix="plan-", dir=folder, delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text)
    return Path(handle.name)


@router.post("/runs", dependencies=[CsrfChecked])
async def start_run(
    request: Request,
    identity: Identity,
    repo: Annotated[str, Form()] = "",
    plan_text: Annotated[str, Form()] = "",
    plan_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Create a run from a pasted or uploaded plan against a repository path and start
    executing it (the same services as ``POST /runs`` and ``POST /runs/{id}/execute``)."""
    settings = request.app.state.settings
    text = plan_text
    filename = ""
    if plan_file is not None and plan_file.filename:
        raw = await plan_file.read(MAX_PLAN_BYTES + 1)
        if len(raw) > MAX_PLAN_BYTES:
            raise ValidationError(f"the plan file is over {MAX_PLAN_BYTES} bytes", field="plan")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError("the plan file is not UTF-8 text", field="plan") from exc
        filename = plan_file.filename
    if not text.strip():
        raise ValidationError("paste a plan or choose a plan file", field="plan")
    if not repo.strip():
        raise ValidationError(
            "give the path of the git repository to build in (its top directory)",
            field="repo",
        )
    path = _plan_file(text, filename, settings.home)
    try:
        spec = load_plan(path)
    finally:
        path.unlink(missing_ok=True)
    spec = spec.model_copy(update={"repo": repo.strip()})
    check_for_creation(spec)
    with unit_of_work(request.app.state.session_factory) as session:
        run_service.create_run(session, spec, runs_dir=settings.runs_dir, repo_path=spec.repo)
    with unit_of_work(request.app.state.session_factory) as session:
        card = board.run_card(session, spec.run_id)
    _bus(request).publish("run_created", spec.run_id, by=identity.identity, card=card)
    _pool(request).submit(spec.run_id)
    return _back(f"/ui/runs/{spec.run_id}")


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request,
    run_id: str,
    identity: Identity,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """A run: tier and phase timeline, budget gauges, branch and commits, issues, the
    live log, cancel and resume."""
    bus = _bus(request)
    cursor = bus.last_id  # before the reads: whatever changes later arrives live
    with unit_of_work(request.app.state.session_factory) as session:
        timeline = board.run_timeline(session, run_id, offset=offset)
        card = board.run_card(session, run_id)
        run_issues = issues.run_issue_index(session, run_id)
        run = timeline["run"]
        # Only a run the executor started has a branch to read.
        branch = _branch(session, run_id) if run.branch else None
        context: dict[str, Any] = {
            "run_id": run.id,
            "name": run.name,
            "goal": run.goal,
            "state": run.state,
            "failure_reason": run.failure_reason,
            "repo": run.repo_path,
            "cancel_requested": run.cancel_requested,
        }
    # The page shows events up to ``cursor``; the stream replays everything after it.
    past = [e for e in bus.history(run_id) if e.id <= cursor]
    return render(
        request,
        "run.html",
        {
            **context,
            "card": card,
            "tiers": timeline["tiers"],
            "phase_total": timeline["phase_total"],
            "offset": offset,
            "limit": timeline["limit"],
            "gauges": timeline["gauges"],
            "issues": run_issues,
            "branch": branch,
            "log": [e.data.get("line", e.kind) for e in past if e.kind == "progress"],
            "last_event_id": cursor,
            "terminal": RunState(context["state"]).is_terminal
            if context["state"] in RunState.__members__
            else False,
        },
    )


def _branch(session: Session, run_id: str) -> delivery.BranchDiff | None:
    """The run's branch and commits, read from the repository (never created here: the
    executor makes the worktree; a page that made it would race the executor)."""
    try:
        return delivery.branch_diff(session, run_id)
    except (ConflictError, ValidationError, WorkspaceError):
        return None


@router.post("/runs/{run_id}/cancel", dependencies=[CsrfChecked])
def cancel_run(request: Request, run_id: str, identity: Identity) -> Response:
    """Ask the run to stop at its next step (as ``POST /runs/{id}/cancel``)."""
    with unit_of_work(request.app.state.session_factory) as session:
        run = run_service.request_cancel(session, run_id, actor=identity.identity)
        state = run.state
    _bus(request).publish("cancel_requested", run_id, state=state, by=identity.identity)
    return _back(f"/ui/runs/{run_id}")


@router.post("/runs/{run_id}/resume", dependencies=[CsrfChecked])
def resume_run(request: Request, run_id: str, identity: Identity) -> Response:
    """Execute (or resume) the run on this server's pool (as ``POST /runs/{id}/execute``)."""
    with unit_of_work(request.app.state.session_factory) as session:
        run = run_service.get_run(session, run_id)
        if run.state == RunState.DONE_SUCCESS.value:
            raise IllegalTransition(
                f"run {run_id!r} already finished successfully; nothing to resume",
                current=run.state,
                requested=RunState.PHASE_EXECUTION.value,
                allowed=[],
            )
        if not run.repo_path:
            raise ConfigurationError(f"run {run_id!r} has no target repository to build in")
    if not _pool(request).submit(run_id):
        raise LeaseHeld(f"run {run_id!r} is already executing in this server", run_id=run_id)
    with unit_of_work(request.app.state.session_factory) as session:
        record_decision(
            session,
            actor=identity.identity,
            decision="execution_requested",
            rationale=f"run {run_id} resumed from the dashboard",
            run_id=run_id,
            where="local",
        )
    _bus(request).publish("run_resumed", run_id, by=identity.identity)
    return _back(f"/ui/runs/{run_id}")


def _attempt_diff(request: Request, run: Any, attempt: Any) -> str:
    """The change an attempt applied: its commit on the run branch (kept in the object
    store after a reset), else the held change an approval shows."""
    result = attempt.apply_result or {}
    sha = result.get("commit_sha")
    if sha and run.worktree_path:  # the executor made the worktree: opening it is a read
        workspace = integration.workspace_for(run, request.app.state.settings)
        if workspace is not None:
            try:
                return str(workspace.git("show", "--format=", sha))
            except Exception:  # a garbage-collected commit: fall through to the answer
                pass
    return str(attempt.payload.get("diff", ""))


@router.get("/runs/{run_id}/phases/{phase_id}", response_class=HTMLResponse)
def phase_page(
    request: Request, run_id: str, phase_id: str, identity: Identity, view: str = "unified"
) -> Response:
    """A phase: every attempt with its diff, the test delta, the Auditor's verdict and
    notes, the Doctor's action, the context kept and left out, tokens and cost per call."""
    side = view == "side"
    with unit_of_work(request.app.state.session_factory) as session:
        phase, attempts = board.phase_attempts(session, run_id, phase_id)
        run = phase.run  # the run alone: its other phases are not loaded
        calls = board.phase_calls(session, run_id, phase_id)
        rows = []
        for a in attempts:
            diff = _attempt_diff(request, run, a) if a.role == "builder" else ""
            rows.append(
                {
                    "id": a.id,
                    "role": a.role,
                    "number": a.attempt_number,
                    "status": a.status,
                    "model": a.model,
                    "tokens": a.tokens_used,
                    "at": a.created_at,
                    "payload": a.payload,
                    "apply_status": a.apply_status,
                    "apply": a.apply_result or {},
                    "diff": diff,
                    "unified": highlight_unified(diff) if diff and not side else None,
                    "side": side_by_side(diff) if diff and side else None,
                }
            )
        context = {
            "run_id": run_id,
            "phase_id": phase.phase_id,
            "name": phase.name,
            "state": phase.state,
            "last_failure": phase.last_failure,
            "tokens_used": phase.tokens_used,
            "issues": issues.phase_issues(session, phase),
            "governance": [
                g
                for g in governance.list_requests(session, run_id)
                if g["phase_id"] == phase.phase_id
            ],
        }
        call_rows = [
            {
                "at": c.created_at,
                "role": c.role,
                "provider": c.provider,
                "model": c.model,
                "prompt": c.prompt_tokens,
                "completion": c.completion_tokens,
                "total": c.total_tokens,
                "cost": c.cost_usd,
                "latency_ms": c.latency_ms,
                "stop": c.stop_reason,
            }
            for c in calls
        ]
    return render(
        request,
        "phase.html",
        {**context, "attempts": rows, "calls": call_rows, "view": "side" if side else "unified"},
    )
