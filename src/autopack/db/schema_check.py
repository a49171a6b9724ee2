"""`autopack db check` and `autopack db repair`: find and fix what the code cannot read.

Three kinds of finding:

* ``revision``: the database's schema revision differs from the code's head;
* ``unknown_state``: a state-like column holds a value its enum does not know (the
  original's ``READY`` incident), written by another tool or with constraints disabled;
* ``orphan``: a row whose parent row is gone (possible only with foreign keys off);
* ``missing_constraint``: a CHECK constraint that guards a state column is gone (dropped
  by hand or by another tool), so raw SQL could write unknown values again.

Each finding carries the offending rows and a suggested repair. ``repair`` applies them and
appends one JSON line per repair to the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import CheckConstraint, Engine, inspect, text

from autopack.db import migrate
from autopack.db.orm import Base
from autopack.domain.states import STATE_COLUMNS, PhaseState, RunState, TierState

#: Values the original (or older tools) wrote, and what they mean today.
LEGACY_STATE_MAP: dict[tuple[str, str], dict[str, str]] = {
    ("runs", "state"): {
        "READY": "QUEUED",
        "PENDING": "QUEUED",
        "CREATED": "RUN_CREATED",
        "RUNNING": "PHASE_EXECUTION",
        "EXECUTING": "PHASE_EXECUTION",
        "COMPLETE": "DONE_SUCCESS",
        "COMPLETED": "DONE_SUCCESS",
        "DONE": "DONE_SUCCESS",
        "FAILED": "DONE_FAILED_REQUIRES_HUMAN_REVIEW",
        "CANCELLED": "DONE_CANCELLED",
        "CANCELED": "DONE_CANCELLED",
    },
    ("phases", "state"): {
        "READY": "QUEUED",
        "PENDING": "QUEUED",
        "RUNNING": "EXECUTING",
        "IN_PROGRESS": "EXECUTING",
        "DONE": "COMPLETE",
        "COMPLETED": "COMPLETE",
        "BLOCKED": "AWAITING_APPROVAL",
    },
    ("tiers", "state"): {
        "READY": "PENDING",
        "QUEUED": "PENDING",
        "RUNNING": "IN_PROGRESS",
        "EXECUTING": "IN_PROGRESS",
        "DONE": "COMPLETE",
        "COMPLETED": "COMPLETE",
    },
}

#: When nothing better is known: values from which a person can act safely.
FALLBACK_STATE: dict[tuple[str, str], str] = {
    ("runs", "state"): RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW.value,
    ("phases", "state"): PhaseState.QUEUED.value,
    ("tiers", "state"): TierState.PENDING.value,
}

#: (child table, child column, parent table, parent column)
ORPHAN_CHECKS: list[tuple[str, str, str, str]] = [
    ("tiers", "run_id", "runs", "id"),
    ("phases", "run_id", "runs", "id"),
    ("phases", "tier_pk", "tiers", "id"),
    ("phase_attempts", "phase_pk", "phases", "id"),
    ("phase_issues", "phase_pk", "phases", "id"),
    ("run_issues", "run_id", "runs", "id"),
    ("decision_log", "run_id", "runs", "id"),
    ("approvals", "run_id", "runs", "id"),
]


@dataclass
class Finding:
    kind: str  # revision | unknown_state | orphan
    table: str
    message: str
    repair: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    column: str | None = None
    repairable: bool = True


@dataclass
class CheckReport:
    revision: str | None
    expected_revision: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def revision_ok(self) -> bool:
        return self.revision == self.expected_revision

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "revision": self.revision,
            "expected_revision": self.expected_revision,
            "findings": [asdict(f) for f in self.findings],
        }


def _pk(table: str) -> str:
    return "issue_key" if table == "project_issues" else "id"


def suggested_state(table: str, column: str, value: str) -> str:
    enum: type[StrEnum] = STATE_COLUMNS[(table, column)]
    mapped = LEGACY_STATE_MAP.get((table, column), {}).get(value.upper().strip())
    if mapped:
        return mapped
    try:
        return enum(value.upper().strip()).value  # wrong case only
    except ValueError:
        pass
    return FALLBACK_STATE.get((table, column), next(iter(enum)).value)


def check_database(engine: Engine) -> CheckReport:
    """Inspect the database; never changes it."""
    expected = migrate.head_revision()
    current = migrate.current_revision(engine)
    report = CheckReport(revision=current, expected_revision=expected)
    if current != expected:
        report.findings.append(
            Finding(
                kind="revision",
                table="alembic_version",
                message=(
                    f"schema revision is {current or 'none (empty database)'}, the code "
                    f"expects {expected}"
                ),
                repair="autopack db upgrade",
                repairable=True,
            )
        )
    tables = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        for (table, column), enum in STATE_COLUMNS.items():
            if table not in tables:
                continue
            known = [m.value for m in enum]
            params = {f"v{i}": v for i, v in enumerate(known)}
            placeholders = ", ".join(f":v{i}" for i in range(len(known)))
            pk = _pk(table)
            rows = conn.execute(
                text(
                    f"SELECT {pk} AS pk, {column} AS value FROM {table} "
                    f"WHERE {column} NOT IN ({placeholders}) ORDER BY {pk}"
                ),
                params,
            ).all()
            if rows:
                report.findings.append(
                    Finding(
                        kind="unknown_state",
                        table=table,
                        column=column,
                        message=(
                            f"{len(rows)} {table} row(s) have a {column} this code does not "
                            f"know ({', '.join(sorted({str(r.value) for r in rows}))})"
                        ),
                        repair="; ".join(
                            sorted(
                                {
                                    f"set {column} {r.value!r} -> "
                                    f"{suggested_state(table, column, str(r.value))!r}"
                                    for r in rows
                                }
                            )
                        ),
                        rows=[
                            {
                                "pk": r.pk,
                                "value": r.value,
                                "suggested": suggested_state(table, column, str(r.value)),
                            }
                            for r in rows
                        ],
                    )
                )
        for child, col, parent, pcol in ORPHAN_CHECKS:
            if child not in tables or parent not in tables:
                continue
            rows = conn.execute(
                text(
                    f"SELECT c.id AS pk, c.{col} AS ref FROM {child} c "
                    # A NULL reference is no orphan: a decision about no single run.
                    f"LEFT JOIN {parent} p ON p.{pcol} = c.{col} "
                    f"WHERE c.{col} IS NOT NULL AND p.{pcol} IS NULL "
                    f"ORDER BY c.id"
                )
            ).all()
            if rows:
                report.findings.append(
                    Finding(
                        kind="orphan",
                        table=child,
                        column=col,
                        message=f"{len(rows)} {child} row(s) point at missing {parent} rows",
                        repair=f"delete the orphaned {child} rows",
                        rows=[{"pk": r.pk, "ref": r.ref} for r in rows],
                    )
                )
    report.findings.extend(_missing_constraints(engine, tables))
    return report


def expected_checks() -> dict[str, list[tuple[str, str]]]:
    """The CHECK constraints the code declares, by table: (name, condition)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint) and constraint.name:
                condition = str(constraint.sqltext)
                found.setdefault(table.name, []).append((str(constraint.name), condition))
    return found


def _missing_constraints(engine: Engine, tables: set[str]) -> list[Finding]:
    inspector = inspect(engine)
    findings = []
    sqlite = engine.dialect.name == "sqlite"
    for table, checks in expected_checks().items():
        if table not in tables:
            continue
        present = {c.get("name") for c in inspector.get_check_constraints(table)}
        for name, condition in checks:
            if name in present:
                continue
            findings.append(
                Finding(
                    kind="missing_constraint",
                    table=table,
                    column=None,
                    message=f"CHECK constraint {name} is missing, so raw SQL can write values "
                    "this code does not know",
                    repair=(
                        "rebuild the table: SQLite cannot add a CHECK constraint in place"
                        if sqlite
                        else f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition})"
                    ),
                    rows=[{"constraint": name, "condition": condition}],
                    repairable=not sqlite,
                )
            )
    return findings


def repair_database(engine: Engine, audit_log: Path, *, actor: str = "cli") -> list[dict[str, Any]]:
    """Apply every suggested repair; each is appended to ``audit_log`` as a JSON line.

    Order matters: the schema is upgraded first, so state repairs run against the
    constraints of the current code.
    """
    applied: list[dict[str, Any]] = []
    report = check_database(engine)
    for finding in report.findings:
        if finding.kind == "revision":
            migrate.upgrade(engine)
            applied.append(
                {"kind": "revision", "from": report.revision, "to": report.expected_revision}
            )
    if applied:
        report = check_database(engine)
    with engine.begin() as conn:
        for finding in report.findings:
            if finding.kind == "unknown_state" and finding.column:
                for row in finding.rows:
                    conn.execute(
                        text(
                            f"UPDATE {finding.table} SET {finding.column} = :new "
                            f"WHERE {_pk(finding.table)} = :pk AND {finding.column} = :old"
                        ),
                        {"new": row["suggested"], "pk": row["pk"], "old": row["value"]},
                    )
                    applied.append(
                        {
                            "kind": "unknown_state",
                            "table": finding.table,
                            "column": finding.column,
                            "pk": row["pk"],
                            "from": row["value"],
                            "to": row["suggested"],
                        }
                    )
            elif finding.kind == "missing_constraint" and finding.repairable:
                # After the state repairs above, so existing rows satisfy the constraint.
                for row in finding.rows:
                    conn.execute(
                        text(
                            f"ALTER TABLE {finding.table} ADD CONSTRAINT "
                            f"{row['constraint']} CHECK ({row['condition']})"
                        )
                    )
                    applied.append(
                        {
                            "kind": "missing_constraint",
                            "table": finding.table,
                            "constraint": row["constraint"],
                            "action": "recreated",
                        }
                    )
            elif finding.kind == "orphan":
                ids = [row["pk"] for row in finding.rows]
                _delete_ids(conn, finding.table, ids)
                applied.extend(
                    {"kind": "orphan", "table": finding.table, "pk": pk, "action": "deleted"}
                    for pk in ids
                )
    if applied:
        audit_log.parent.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC).isoformat()
        with audit_log.open("a", encoding="utf-8") as handle:
            for entry in applied:
                handle.write(
                    json.dumps(
                        {
                            "at": now,
                            "actor": actor,
                            "database": engine.url.render_as_string(hide_password=True),
                            **entry,
                        },
                        default=str,
                    )
                    + "\n"
                )
    return applied


def _delete_ids(conn: Any, table: str, ids: Sequence[Any]) -> None:
    for pk in ids:
        conn.execute(text(f"DELETE FROM {table} WHERE id = :pk"), {"pk": pk})
