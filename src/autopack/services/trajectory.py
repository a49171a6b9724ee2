"""Reading a run's trajectory (every model call, from ``trajectory.jsonl``), for the CLI's
``autopack show`` and ``GET /runs/{run_id}/trajectory``.

The executor writes the file (:mod:`autopack.executor.trajectory`); this module only
reads it, checking the run and the filters against the database first, so an unknown run,
phase or call number is a NotFoundError that says what exists instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.db.orm import Phase, PhaseAttempt, Run
from autopack.domain.states import AttemptRole
from autopack.errors import NotFoundError
from autopack.executor.artifacts import RunArtifacts


@dataclass(frozen=True, slots=True)
class TrajectoryPage:
    """One page of a run's calls (``total`` counts the calls that match the filters)."""

    run_id: str
    total: int
    offset: int
    limit: int | None
    calls: list[dict[str, Any]]


def read_trajectory(
    session: Session,
    run_id: str,
    *,
    runs_dir: Path,
    phase_id: str | None = None,
    call: int | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> TrajectoryPage:
    """The run's recorded model calls in call order, filtered by phase and call number.

    Raises NotFoundError for an unknown run, a phase the run does not have, or a call
    number the run (or the phase) has not made. A run without calls yields an empty page.
    """
    if session.get(Run, run_id) is None:
        raise NotFoundError(
            f"run {run_id!r} not found; list runs with `autopack runs list` or GET /runs",
            run_id=run_id,
        )
    if phase_id is not None:
        known = session.scalars(select(Phase.phase_id).where(Phase.run_id == run_id)).all()
        if phase_id not in known:
            raise NotFoundError(
                f"run {run_id!r} has no phase {phase_id!r}; its phases: "
                + (", ".join(sorted(known)) or "none"),
                run_id=run_id,
                phase_id=phase_id,
            )
    calls = RunArtifacts(runs_dir, run_id).read_calls()
    everything = len(calls)
    if phase_id is not None:
        calls = [c for c in calls if c.get("phase_id") == phase_id]
    if call is not None:
        calls = [c for c in calls if c.get("call") == call]
        if not calls:
            where = f" in phase {phase_id!r}" if phase_id is not None else ""
            made = f"its calls are numbered 1..{everything}" if everything else "it made no calls"
            raise NotFoundError(
                f"run {run_id!r} has no call {call}{where}; {made}",
                run_id=run_id,
                call=call,
            )
    total = len(calls)
    page = calls[offset:] if limit is None else calls[offset : offset + limit]
    return TrajectoryPage(run_id=run_id, total=total, offset=offset, limit=limit, calls=page)


def context_report(attempts: Sequence[PhaseAttempt]) -> list[str]:
    """Markdown lines for a phase summary: per Builder attempt, the files its prompt kept
    (kind, tokens, whole or cut, why) and the ones left out (why), from the context record
    stored with the attempt. Empty when no attempt has a record."""
    lines: list[str] = []
    for attempt in attempts:
        record = (attempt.payload or {}).get("context")
        if attempt.role != AttemptRole.BUILDER.value or not isinstance(record, dict):
            continue
        lines += [
            "",
            f"### Attempt {attempt.attempt_number}: {record.get('tokens_used', 0)} of "
            f"{record.get('token_budget', '-')} context tokens",
            "",
            "| kept | kind | tokens | mode | why |",
            "| --- | --- | --- | --- | --- |",
        ]
        for item in record.get("files") or []:
            mode = item.get("mode") or ("cut" if item.get("truncated") else "whole")
            lines.append(
                f"| {_cell(item.get('path'))} | {_cell(item.get('kind'))} | "
                f"{item.get('tokens', '-')} | {_cell(mode)} | {_cell(item.get('reason'))} |"
            )
        retrieved = record.get("retrieval") or []
        if retrieved:
            lines += ["", "| retrieval hint | lines | symbol | method | score |"]
            lines += ["| --- | --- | --- | --- | --- |"]
            lines += [
                f"| {_cell(h.get('path'))} | {'-'.join(str(n) for n in h.get('lines') or [])} | "
                f"{_cell(h.get('symbol') or '-')} | {_cell(h.get('method'))} | "
                f"{float(h.get('score') or 0):.3g} |"
                for h in retrieved
            ]
        omitted = record.get("omitted") or []
        if omitted:
            lines += ["", "| left out | tokens | why |", "| --- | --- | --- |"]
            lines += [
                f"| {_cell(o.get('path'))} | {o.get('tokens', '-')} | {_cell(o.get('reason'))} |"
                for o in omitted
            ]
    return ["", "## Context per attempt", *lines] if lines else []


def _cell(value: object) -> str:
    return str(value if value is not None else "-").replace("|", "/").replace("\n", " ")
