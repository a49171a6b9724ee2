"""A run's summary (``autopack status``, ``GET /reports/run_summary/{id}``) and the list
of runs (``autopack runs list``), read with SQLAlchemy Core in a few fixed statements
whatever the run's size.

Why Core and not the ORM: importing ``sqlalchemy.orm`` and mapping :mod:`autopack.db.orm`
costs a command more than everything else it does, and ``autopack status`` is the command
people and scripts call in a loop. The tables here are lightweight ``table()`` clauses
naming only the columns these reads use (a test checks each against the ORM's metadata);
timestamps go through the ORM's own :class:`~autopack.db.types.UTCDateTime`, so the
answer is the same, field for field, as an ORM read would give.

On the embedded SQLite database the CLI does not even import SQLAlchemy: the same
statements, compiled for SQLite into :mod:`autopack.services.run_overview_sql` (generated
by :func:`render_sqlite_module`; a test keeps the file equal to it), run through
``sqlite3`` (:mod:`autopack.db.embedded_read`), and their rows go through the same
shaping code. So this module imports SQLAlchemy only inside the functions that use it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from autopack.domain.states import PhaseState, RunState, TierState
from autopack.errors import InvalidStoredState, NotFoundError

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy import Connection, Select, TableClause

Row = Mapping[Any, Any]  # sqlalchemy RowMapping, or a dict of a sqlite3 row

#: The columns each read uses, by table, and which of them are UTC timestamps.
COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": (
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
    ),
    "tiers": (
        "id",
        "run_id",
        "tier_id",
        "tier_index",
        "name",
        "state",
        "cleanliness",
        "minor_issues_count",
        "major_issues_count",
    ),
    "phases": (
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
    ),
    "phase_attempts": (
        "id",
        "phase_pk",
        "role",
        "attempt_number",
        "status",
        "tokens_used",
        "apply_status",
        "model",
    ),
    "run_issues": ("run_id",),
}
TIMESTAMPS: dict[str, tuple[str, ...]] = {
    "runs": ("started_at", "completed_at", "created_at"),
    "phase_attempts": ("created_at",),
}


@cache
def tables() -> dict[str, TableClause]:
    """The ``table()`` clauses of :data:`COLUMNS` (built on first use: they need SQLAlchemy)."""
    from sqlalchemy import column, table

    from autopack.db.types import UTCDateTime

    return {
        name: table(
            name,
            *(column(n) for n in names),
            *(column(n, UTCDateTime()) for n in TIMESTAMPS.get(name, ())),
        )
        for name, names in COLUMNS.items()
    }


@cache
def statements() -> dict[str, Select[Any]]:
    """Every statement these reads run, by name, with named parameters (``run_id``,
    ``state``, ``limit``). The SQLite file :mod:`~autopack.services.run_overview_sql` is
    these, compiled."""
    from sqlalchemy import Integer, String, bindparam, func, select

    t = tables()
    runs, tiers, phases, attempts = t["runs"], t["tiers"], t["phases"], t["phase_attempts"]
    run_id = bindparam("run_id", type_=String)
    phase_count = (
        select(func.count())
        .select_from(phases)
        .where(phases.c.run_id == runs.c.id)
        .scalar_subquery()
        .label("phase_count")
    )
    page = select(
        runs.c.id,
        runs.c.name,
        runs.c.state,
        runs.c.created_at,
        runs.c.tokens_used,
        runs.c.token_cap,
        runs.c.failure_reason,
        phase_count,
    )
    newest_first = (runs.c.created_at.desc(), runs.c.id)
    limit, offset = bindparam("limit", type_=Integer), bindparam("offset", type_=Integer)
    in_state = runs.c.state == bindparam("state")
    return {
        "run": select(runs).where(runs.c.id == run_id),
        "tiers": select(tiers)
        .where(tiers.c.run_id == run_id)
        .order_by(tiers.c.tier_index, tiers.c.id),
        "phases": select(phases, tiers.c.tier_id)
        .join(tiers, tiers.c.id == phases.c.tier_pk)
        .where(phases.c.run_id == run_id)
        .order_by(phases.c.phase_index, phases.c.id),
        "attempts": select(attempts)
        .where(attempts.c.phase_pk.in_(select(phases.c.id).where(phases.c.run_id == run_id)))
        .order_by(attempts.c.id),
        "issues": select(func.count())
        .select_from(t["run_issues"])
        .where(t["run_issues"].c.run_id == run_id),
        "runs_page": page.order_by(*newest_first).limit(limit).offset(offset),
        "runs_page_in_state": page.where(in_state)
        .order_by(*newest_first)
        .limit(limit)
        .offset(offset),
        "runs_count": select(func.count()).select_from(runs),
        "runs_count_in_state": select(func.count()).select_from(runs).where(in_state),
    }


def compiled_for_sqlite() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each statement as SQLite text with ``:name`` parameters, and its UTC timestamp
    columns (what the stdlib read converts as :class:`~autopack.db.types.UTCDateTime`)."""
    from sqlalchemy.dialects import sqlite

    from autopack.db.types import UTCDateTime

    dialect = sqlite.dialect(paramstyle="named")
    return {
        name: (
            str(stmt.compile(dialect=dialect)),
            tuple(str(c.key) for c in stmt.selected_columns if isinstance(c.type, UTCDateTime)),
        )
        for name, stmt in statements().items()
    }


def _quoted(text: str) -> str:
    """A double-quoted Python literal (the form ``ruff format`` keeps)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_sqlite_module() -> str:
    """The text of :mod:`autopack.services.run_overview_sql`. Regenerate it with
    ``python -c 'from autopack.services.run_overview import render_sqlite_module as r;
    print(r(), end="")' > src/autopack/services/run_overview_sql.py``."""
    lines = [
        '"""GENERATED from :mod:`autopack.services.run_overview` by `render_sqlite_module`',
        "(never edit by hand; a test keeps this file equal to it): its statements compiled",
        'for SQLite, and the UTC timestamp columns of each, for the stdlib read."""',
        "",
        "# fmt: off",
        "STATEMENTS: dict[str, tuple[str, tuple[str, ...]]] = {",
    ]
    for name, (sql, stamps) in compiled_for_sqlite().items():
        lines.append(f"    {_quoted(name)}: (")
        lines.append("        (")
        lines += [f"            {_quoted(part)}" for part in sql.splitlines(keepends=True)]
        lines.append("        ),")
        stamp_text = ", ".join(_quoted(s) for s in stamps) + ("," if len(stamps) == 1 else "")
        lines.append(f"        ({stamp_text}),")
        lines.append("    ),")
    lines += ["}", "# fmt: on"]
    return "\n".join(lines) + "\n"


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


#: Runs the named statement with its parameters and returns its rows as mappings.
Fetch = Callable[[str, dict[str, Any]], Sequence[Row]]


def _core_fetch(conn: Connection) -> Fetch:
    def fetch(name: str, params: dict[str, Any]) -> Sequence[Row]:
        return list(conn.execute(statements()[name], params).mappings())

    return fetch


def _sqlite_fetch(conn: sqlite3.Connection) -> Fetch:
    from autopack.db.embedded_read import utc_timestamp
    from autopack.services.run_overview_sql import STATEMENTS

    def fetch(name: str, params: dict[str, Any]) -> Sequence[Row]:
        sql, stamps = STATEMENTS[name]
        rows = [dict(row) for row in conn.execute(sql, params)]
        for row in rows:
            for key in stamps:
                row[key] = utc_timestamp(row[key])
        return rows

    return fetch


def read_run_summary(conn: Connection, run_id: str) -> dict[str, Any]:
    """The run's state, budgets, issue counts, tiers and phases (with their attempts).

    Raises NotFoundError for an unknown run and InvalidStoredState when the run, a tier
    or a phase holds a state this version does not know (as every run read does)."""
    return _run_summary(_core_fetch(conn), run_id)


def read_run_summary_sqlite(conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """:func:`read_run_summary` on a ``sqlite3`` connection to the embedded database
    (:func:`autopack.db.embedded_read.embedded_reader`): the same statements and answer."""
    return _run_summary(_sqlite_fetch(conn), run_id)


def _run_summary(fetch: Fetch, run_id: str) -> dict[str, Any]:
    params = {"run_id": run_id}
    found = fetch("run", params)
    if not found:
        raise NotFoundError(
            f"run {run_id!r} not found; list runs with GET /runs or `autopack runs list`",
            run_id=run_id,
        )
    run = found[0]
    tiers = fetch("tiers", params)
    phases = fetch("phases", params)
    attempts = fetch("attempts", params)
    distinct_issues = next(iter(fetch("issues", params)[0].values()))

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


def list_runs(
    conn: Connection, *, state: RunState | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """A page of runs, newest first, as ``GET /runs`` lists them (``RunListItem`` in JSON
    form), and how many runs match in all."""
    return _list_runs(_core_fetch(conn), state=state, limit=limit, offset=offset)


def list_runs_sqlite(
    conn: sqlite3.Connection, *, state: RunState | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """:func:`list_runs` on a ``sqlite3`` connection to the embedded database."""
    return _list_runs(_sqlite_fetch(conn), state=state, limit=limit, offset=offset)


def _json_time(value: datetime) -> str:
    # pydantic's JSON form of an aware UTC datetime (what RunListItem serializes to).
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _list_runs(
    fetch: Fetch, *, state: RunState | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    page = {"limit": limit, "offset": offset}
    if state is None:
        rows = fetch("runs_page", page)
        total = fetch("runs_count", {})
    else:
        rows = fetch("runs_page_in_state", {**page, "state": state.value})
        total = fetch("runs_count_in_state", {"state": state.value})
    items = [
        {
            "run_id": row["id"],
            "name": row["name"],
            "state": row["state"],
            "created_at": _json_time(row["created_at"]),
            "tokens_used": row["tokens_used"],
            "token_cap": row["token_cap"],
            "phase_count": row["phase_count"],
            "failure_reason": row["failure_reason"],
        }
        for row in rows
    ]
    return items, next(iter(total[0].values()))
