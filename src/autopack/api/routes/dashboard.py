"""Dashboard data routes: run progress and human notes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from autopack.api.deps import AuthDep, FactoryDep, SessionDep, SettingsDep
from autopack.api.polled import NOT_MODIFIED, answer_json
from autopack.api.schemas import DashboardRunStatus, HumanNoteRequest
from autopack.services import notes, reports

router = APIRouter(tags=["dashboard"])


@router.get(
    "/dashboard/runs/{run_id}/status",
    response_model=DashboardRunStatus,
    responses={404: {"description": "Unknown run"}, **NOT_MODIFIED},
)
async def dashboard_run_status(run_id: str, request: Request, factory: FactoryDep) -> Response:
    """Progress (percent complete, current tier and phase), budget use and quality flags,
    from counts in the database: the same few queries whatever the number of phases.
    The answer has an `ETag`; send it back as `If-None-Match` to get 304 while the
    progress is unchanged."""
    return await answer_json(
        request,
        factory,
        lambda session: DashboardRunStatus(**reports.dashboard_run_status(session, run_id)),
    )


@router.post("/dashboard/human-notes", responses={404: {"description": "Unknown run"}})
def add_human_note(
    body: HumanNoteRequest, session: SessionDep, settings: SettingsDep, principal: AuthDep
) -> dict[str, Any]:
    """Leave a note for Autopack (and for people): stored, and appended to
    ``HOME/human_notes.md``. Notes are given to the Builder of later attempts; the
    decision log records who left it."""
    notes_file = settings.home / "human_notes.md"
    row = notes.add_note(
        session, body.note, run_id=body.run_id, notes_file=notes_file, actor=principal.identity
    )
    return {
        "message": "Note added successfully",
        "id": row.id,
        "timestamp": row.created_at.isoformat(),
        "notes_file": str(notes_file),
    }
