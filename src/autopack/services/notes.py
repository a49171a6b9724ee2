"""Human notes: what a person tells Autopack, stored and mirrored to a readable file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.orm import HumanNote, Run
from autopack.errors import NotFoundError
from autopack.services.decisions import record_decision


def add_note(
    session: Session, note: str, *, run_id: str | None, notes_file: Path, actor: str
) -> HumanNote:
    """Store a note (optionally for a run) and append it to ``notes_file`` (Markdown); the
    decision log records ``actor`` as who left it."""
    if run_id is not None and session.get(Run, run_id) is None:
        raise NotFoundError(
            f"run {run_id!r} not found; omit run_id for a project-wide note", run_id=run_id
        )
    row = HumanNote(note=note, run_id=run_id)
    session.add(row)
    session.flush()
    record_decision(
        session,
        actor=actor,
        decision="human_note",
        rationale=note[:500],
        run_id=run_id,
        note_id=row.id,
    )
    notes_file.parent.mkdir(parents=True, exist_ok=True)
    context = f" (Run: {run_id})" if run_id else ""
    with notes_file.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## {row.created_at.isoformat()}{context}\n\n{note}\n\n---\n")
    return row


def notes_for_run(session: Session, run_id: str | None) -> list[HumanNote]:
    """Notes a run should read: its own and the project-wide ones, oldest first."""
    query = select(HumanNote).order_by(HumanNote.id)
    if run_id is not None:
        query = query.where((HumanNote.run_id == run_id) | (HumanNote.run_id.is_(None)))
    return list(session.scalars(query).all())
