"""A run's summary (``autopack status``, ``GET /reports/run_summary/{id}``), read with
SQLAlchemy Core in five statements whatever the run's size.

Why Core and not the ORM: importing ``sqlalchemy.orm`` and mapping :mod:`autopack.db.orm`
costs a command more than everything else it does, and ``autopack status`` is the command
people and scripts call in a loop. The tables here are lightweight ``table()`` clauses
naming only the columns this read uses (a test checks each against the ORM's metadata);
timestamps go through the ORM's own :class:`~autopack.db.types.UTCDateTime`, so the
answer is the same, field for field, as an ORM read would give.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, TableClause, column, func, select, table

from autopack.db.types import UTCDateTime
from autopack.domain.states import PhaseState, RunState, TierState
from autopack.errors import InvalidStoredState, NotFoundError


def _table(name: str, *names: str, timestamps: tuple[str, ...] = ()) -> TableClause:
    return table(name, *(column(n) for n in names), *(column(n, UTCDateTime()) for n in timestamps))


RUNS = _table(
    "runs",
    "id",
    "name",
    "state",
    "safety_profile",
    "run_scope",
    "failure_reason",
    "branch",
    "tokens_used",
    "token_cap",
    "max_phases",
    "ci_runs_used",
    "ci_run_cap",
    "max_duration_minutes",
    "minor_issues_count",
    "major_issues_count",
    "max_minor_issues_total",
    timestamps=("started_at", "completed_at"),
)
TIERS = _table(
    "tiers",
    "id",
    "run_id",
    "tier_id",
    "tier_index",
    "name",
    "state",
    "cleanliness",
    "minor_issues_count",
    "major_issues_count",
)
PHASES = _table(
    "phases",
    "id",
    "run_id",
    "tier_pk",
    "phase_id",
    "phase_index",
    "name",
    "state",
    "task_category",
    "complexity",
    "builder_attempts",
    "auditor_attempts",
    "tokens_used",
    "minor_issues_count",
    "major_issues_count",
    "commit_sha",
    "last_failure",
)
ATTEMPTS = _table(
    "phase_attempts",
    "id",
    "phase_pk",
    "role",
    "attempt_number",
    "status",
    "tokens_used",
    "apply_status",
    "model",
    timestamps=("created_at",),
)
RUN_ISSUES = _table("run_issues", "run_id")

#: Every table this module reads, for the test that holds them to the ORM's schema.
TABLES = (RUNS, TIERS, PHASES, ATTEMPTS, RUN_ISSUES)


def known_state(
    enum: type[RunState] | type[TierState] | type[PhaseState],
    value: str,
    *,
    table: str,
    row_id: str,
) -> str:
    """Return ``value`` if the code knows it; otherwise raise InvalidStoredState."""
    try:
        return enum(value).value
    except ValueError:
        raise InvalidStoredState(table=table, row_id=row_id, column="state", value=value) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def read_run_summary(conn: Connection, run_id: str) -> dict[str, Any]:
    """The run's state, budgets, issue counts, tiers and phases (with their attempts).

    Raises NotFoundError for an unknown run and InvalidStoredState when the run, a tier
    or a phase holds a state this version does not know (as every run read does)."""
    run = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).mappings().one_or_none()
    if run is None:
        raise NotFoundError(
            f"run {run_id!r} not found; list runs with GET /runs or `autopack runs list`",
            run_id=run_id,
        )
    tiers = (
        conn.execute(
            select(TIERS).where(TIERS.c.run_id == run_id).order_by(TIERS.c.tier_index, TIERS.c.id)
        )
        .mappings()
        .all()
    )
    phases = (
        conn.execute(
            select(PHASES, TIERS.c.tier_id)
            .join(TIERS, TIERS.c.id == PHASES.c.tier_pk)
            .where(PHASES.c.run_id == run_id)
            .order_by(PHASES.c.phase_index, PHASES.c.id)
        )
        .mappings()
        .all()
    )
    attempts = (
        conn.execute(
            select(ATTEMPTS)
            .where(ATTEMPTS.c.phase_pk.in_(select(PHASES.c.id).where(PHASES.c.run_id == run_id)))
            .order_by(ATTEMPTS.c.id)
        )
        .mappings()
        .all()
    )
    distinct_issues = conn.execute(
        select(func.count()).select_from(RUN_ISSUES).where(RUN_ISSUES.c.run_id == run_id)
    ).scalar_one()

    known_state(RunState, run["state"], table="runs", row_id=run_id)
    for tier in tiers:
        known_state(TierState, tier["state"], table="tiers", row_id=f"{run_id}/{tier['tier_id']}")
    for phase in phases:
        known_state(
            PhaseState, phase["state"], table="phases", row_id=f"{run_id}/{phase['phase_id']}"
        )

    attempts_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in attempts:
        attempts_of[a["phase_pk"]].append(
            {
                "id": a["id"],
                "role": a["role"],
                "attempt_number": a["attempt_number"],
                "status": a["status"],
                "tokens_used": a["tokens_used"],
                "apply_status": a["apply_status"],
                "model": a["model"],
                "created_at": _iso(a["created_at"]),
            }
        )
    phases_of: dict[int, list[Any]] = defaultdict(list)
    for phase in phases:
        phases_of[phase["tier_pk"]].append(phase)
    token_cap = run["token_cap"]
    return {
        "run_id": run["id"],
        "name": run["name"],
        "state": run["state"],
        "safety_profile": run["safety_profile"],
        "run_scope": run["run_scope"],
        "failure_reason": run["failure_reason"],
        "branch": run["branch"],
        "budgets": {
            "tokens_used": run["tokens_used"],
            "token_cap": token_cap,
            "token_utilization": run["tokens_used"] / token_cap if token_cap > 0 else 0.0,
            "phase_count": len(phases),
            "max_phases": run["max_phases"],
            "ci_runs_used": run["ci_runs_used"],
            "ci_run_cap": run["ci_run_cap"],
            "max_duration_minutes": run["max_duration_minutes"],
        },
        "issues": {
            "minor_count": run["minor_issues_count"],
            "major_count": run["major_issues_count"],
            "max_minor_total": run["max_minor_issues_total"],
            "distinct_issues": distinct_issues,
        },
        "tiers": [
            {
                "tier_id": tier["tier_id"],
                "name": tier["name"],
                "state": tier["state"],
                "cleanliness": tier["cleanliness"],
                "phase_count": len(phases_of[tier["id"]]),
                "minor_issues": tier["minor_issues_count"],
                "major_issues": tier["major_issues_count"],
                "tokens_used": sum(p["tokens_used"] for p in phases_of[tier["id"]]),
            }
            for tier in tiers
        ],
        "phases": [
            {
                "phase_id": phase["phase_id"],
                "phase_index": phase["phase_index"],
                "name": phase["name"],
                "tier_id": phase["tier_id"],
                "state": phase["state"],
                "task_category": phase["task_category"],
                "complexity": phase["complexity"],
                "builder_attempts": phase["builder_attempts"],
                "auditor_attempts": phase["auditor_attempts"],
                "tokens_used": phase["tokens_used"],
                "minor_issues": phase["minor_issues_count"],
                "major_issues": phase["major_issues_count"],
                "commit_sha": phase["commit_sha"],
                "last_failure": phase["last_failure"],
                "attempts": attempts_of[phase["id"]],
            }
            for phase in phases
        ],
        "started_at": _iso(run["started_at"]),
        "completed_at": _iso(run["completed_at"]),
    }
