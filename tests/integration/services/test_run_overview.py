"""The run summary read with Core (what `autopack status` shows) says what the ORM says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from autopack.api.schemas import RunListItem
from autopack.db.database import Database
from autopack.db.embedded_read import embedded_reader
from autopack.db.orm import Base, Phase, Run
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.domain.states import AttemptRole, IssueSeverity, RunState
from autopack.errors import InvalidStoredState, NotFoundError
from autopack.services import reports, run_overview
from autopack.services.issues import record_issue
from autopack.services.phases import record_attempt
from autopack.services.run_overview import read_run_summary, read_run_summary_sqlite
from autopack.services.run_overview_sql import STATEMENTS
from autopack.services.runs import create_run, get_run
from autopack.services.runs import list_runs as run_service_list
from autopack.settings import Settings

SPEC = {
    "run_id": "ov",
    "name": "Overview",
    "tiers": [{"tier_id": "T1", "name": "First"}, {"tier_id": "T2", "name": "Second"}],
    "phases": [
        {"phase_id": "a", "tier_id": "T1", "name": "A", "description": "a"},
        {"phase_id": "b", "tier_id": "T2", "name": "B", "description": "b"},
        {"phase_id": "c", "tier_id": "T1", "name": "C", "description": "c"},
    ],
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def orm_view(run: Run, distinct_issues: int) -> dict[str, Any]:
    """The summary as the ORM's objects state it (the oracle for the Core read)."""

    def tier_phases(tier_pk: int) -> list[Phase]:
        return [p for p in run.phases if p.tier_pk == tier_pk]

    return {
        "run_id": run.id,
        "name": run.name,
        "state": run.state,
        "safety_profile": run.safety_profile,
        "run_scope": run.run_scope,
        "failure_reason": run.failure_reason,
        "branch": run.branch,
        "budgets": {
            "tokens_used": run.tokens_used,
            "token_cap": run.token_cap,
            "token_utilization": run.tokens_used / run.token_cap,
            "phase_count": len(run.phases),
            "max_phases": run.max_phases,
            "ci_runs_used": run.ci_runs_used,
            "ci_run_cap": run.ci_run_cap,
            "max_duration_minutes": run.max_duration_minutes,
        },
        "issues": {
            "minor_count": run.minor_issues_count,
            "major_count": run.major_issues_count,
            "max_minor_total": run.max_minor_issues_total,
            "distinct_issues": distinct_issues,
        },
        "tiers": [
            {
                "tier_id": t.tier_id,
                "name": t.name,
                "state": t.state,
                "cleanliness": t.cleanliness,
                "phase_count": len(tier_phases(t.id)),
                "minor_issues": t.minor_issues_count,
                "major_issues": t.major_issues_count,
                "tokens_used": sum(p.tokens_used for p in tier_phases(t.id)),
            }
            for t in run.tiers
        ],
        "phases": [
            {
                "phase_id": p.phase_id,
                "phase_index": p.phase_index,
                "name": p.name,
                "tier_id": p.tier.tier_id,
                "state": p.state,
                "task_category": p.task_category,
                "complexity": p.complexity,
                "builder_attempts": p.builder_attempts,
                "auditor_attempts": p.auditor_attempts,
                "tokens_used": p.tokens_used,
                "minor_issues": p.minor_issues_count,
                "major_issues": p.major_issues_count,
                "commit_sha": p.commit_sha,
                "last_failure": p.last_failure,
                "attempts": [
                    {
                        "id": a.id,
                        "role": a.role,
                        "attempt_number": a.attempt_number,
                        "status": a.status,
                        "tokens_used": a.tokens_used,
                        "apply_status": a.apply_status,
                        "model": a.model,
                        "created_at": _iso(a.created_at),
                    }
                    for a in p.attempts
                ],
            }
            for p in run.phases
        ],
        "started_at": _iso(run.started_at),
        "completed_at": _iso(run.completed_at),
    }


@pytest.fixture
def busy_run(db: Database, settings: Settings) -> None:
    """A run with two tiers, phases out of tier order, attempts, issues and timestamps."""
    with unit_of_work(db.factory) as session:
        run = create_run(session, RunSpec.model_validate(SPEC), runs_dir=settings.runs_dir)
        run.state, run.branch, run.tokens_used = "PHASE_EXECUTION", "autopack/ov", 4321
        run.started_at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
        for phase in run.phases:
            phase.tokens_used = {"a": 1000, "b": 300, "c": 20}[phase.phase_id]
        first = run.phases[0]
        first.state, first.commit_sha, first.builder_attempts = "COMPLETE", "f" * 40, 2
        first.last_failure = "tests failed"
    for role, status in [("builder", "failed"), ("builder", "success"), ("auditor", "approve")]:
        record_attempt(
            db.factory, "ov", "a", role=AttemptRole(role), status=status, payload={}, tokens_used=7
        )
    record_attempt(
        db.factory, "ov", "b", role=AttemptRole.BUILDER, status="failed", payload={}, model="m1"
    )
    with unit_of_work(db.factory) as session:
        run = get_run(session, "ov")
        for key, severity in [("k1", IssueSeverity.MINOR), ("k2", IssueSeverity.MAJOR)]:
            record_issue(
                session,
                run.phases[1],
                issue_key=key,
                severity=severity,
                source="auditor",
                category="tests",
            )


@pytest.mark.usefixtures("busy_run")
def test_the_core_read_equals_the_orm_view(db: Database) -> None:
    with db.engine.connect() as conn:
        core = read_run_summary(conn, "ov")
    with unit_of_work(db.factory) as session:
        expected = orm_view(get_run(session, "ov"), distinct_issues=2)
        # The API's report is the same read, through the request's session.
        assert reports.run_summary(session, "ov") == core
    assert core == expected
    phase_a = core["phases"][0]
    assert [(a["role"], a["attempt_number"]) for a in phase_a["attempts"]] == [
        ("builder", 1),
        ("builder", 2),
        ("auditor", 1),
    ]
    assert core["started_at"] == "2026-03-04T05:06:07.890123+00:00"
    assert [(t["tier_id"], t["phase_count"], t["tokens_used"]) for t in core["tiers"]] == [
        ("T1", 2, 1020),
        ("T2", 1, 300),
    ]


@pytest.mark.usefixtures("busy_run")
def test_the_report_sees_its_sessions_unflushed_changes(db: Database) -> None:
    with unit_of_work(db.factory) as session:
        get_run(session, "ov").failure_reason = "stopped by a test"
        assert reports.run_summary(session, "ov")["failure_reason"] == "stopped by a test"


def test_an_unknown_run_is_not_found(db: Database) -> None:
    with db.engine.connect() as conn, pytest.raises(NotFoundError, match="'ghost' not found"):
        read_run_summary(conn, "ghost")


@pytest.mark.usefixtures("busy_run")
@pytest.mark.parametrize(
    ("table", "where", "row_id"),
    [
        ("runs", "id = 'ov'", "ov"),
        ("phases", "phase_id = 'c'", "ov/c"),
        ("tiers", "tier_id = 'T2'", "ov/T2"),
    ],
)
def test_an_unknown_stored_state_is_reported_with_its_row(
    db: Database, settings: Settings, table: str, where: str, row_id: str
) -> None:
    if not settings.is_embedded_database:
        pytest.skip("the CHECK constraint is switched off on SQLite only")
    with db.engine.begin() as conn:
        conn.execute(text("PRAGMA ignore_check_constraints = ON"))
        conn.execute(text(f"UPDATE {table} SET state = 'READY' WHERE {where}"))
    with db.engine.connect() as conn, pytest.raises(InvalidStoredState) as caught:
        read_run_summary(conn, "ov")
    assert (caught.value.context["table"], caught.value.context["row_id"]) == (table, row_id)


def test_every_column_read_is_a_column_of_the_schema(tmp_path: Path) -> None:
    for clause in run_overview.tables().values():
        schema = Base.metadata.tables[clause.name]
        assert set(clause.c.keys()) <= set(schema.c.keys()), clause.name
        for name in run_overview.TIMESTAMPS.get(clause.name, ()):
            assert type(schema.c[name].type).__name__ == "UTCDateTime", (clause.name, name)


def test_the_sqlite_statements_are_the_generated_file() -> None:
    """The stdlib read runs SQLAlchemy's SQL, never its own: the generated module is what
    run_overview compiles now (regenerate it as render_sqlite_module's docstring says)."""
    path = Path(run_overview.__file__).with_name("run_overview_sql.py")
    assert path.read_text(encoding="utf-8") == run_overview.render_sqlite_module()
    assert run_overview.compiled_for_sqlite() == STATEMENTS


def _stdlib(settings: Settings) -> Any:
    if not settings.is_embedded_database:
        pytest.skip("the stdlib read serves the embedded SQLite database only")
    reader = embedded_reader(settings)
    assert reader is not None
    return reader


@pytest.mark.usefixtures("busy_run")
def test_the_stdlib_read_equals_the_core_read(db: Database, settings: Settings) -> None:
    reader = _stdlib(settings)
    try:
        stdlib = read_run_summary_sqlite(reader, "ov")
        with pytest.raises(NotFoundError, match="'ghost' not found"):
            read_run_summary_sqlite(reader, "ghost")
    finally:
        reader.close()
    with db.engine.connect() as conn:
        assert stdlib == read_run_summary(conn, "ov")
    assert stdlib["started_at"] == "2026-03-04T05:06:07.890123+00:00"
    assert [a["created_at"] is not None for a in stdlib["phases"][0]["attempts"]] == [True] * 3


@pytest.mark.usefixtures("busy_run")
def test_the_stdlib_read_reports_an_unknown_stored_state(db: Database, settings: Settings) -> None:
    reader = _stdlib(settings)
    with db.engine.begin() as conn:
        conn.execute(text("PRAGMA ignore_check_constraints = ON"))
        conn.execute(text("UPDATE phases SET state = 'READY' WHERE phase_id = 'b'"))
    try:
        with pytest.raises(InvalidStoredState) as caught:
            read_run_summary_sqlite(reader, "ov")
    finally:
        reader.close()
    assert caught.value.context["row_id"] == "ov/b"


def _three_runs(db: Database, settings: Settings) -> None:
    for n, state in [(1, "DONE_SUCCESS"), (2, "RUN_CREATED"), (3, "DONE_SUCCESS")]:
        spec = {
            "run_id": f"r{n}",
            "phases": [{"phase_id": f"p{i}", "name": "P", "description": "d"} for i in range(n)],
        }
        with unit_of_work(db.factory) as session:
            run = create_run(session, RunSpec.model_validate(spec), runs_dir=settings.runs_dir)
            run.state = state
            run.created_at = datetime(2026, 1, n, 12, 50, 0, (n - 1) * 1000, tzinfo=UTC)
            run.tokens_used = n * 10


@pytest.mark.parametrize(
    ("state", "limit", "offset"),
    [(None, 50, 0), (None, 2, 1), (RunState.DONE_SUCCESS, 50, 0), (RunState.GATE, 5, 0)],
)
def test_the_run_list_equals_the_api_items_of_the_orm(
    db: Database,
    settings: Settings,
    state: RunState | None,
    limit: int,
    offset: int,
) -> None:
    _three_runs(db, settings)
    with unit_of_work(db.factory) as session:
        rows, total = run_service_list(session, state=state, limit=limit, offset=offset)
        expected = [RunListItem.of(r).model_dump(mode="json") for r in rows]
    with db.engine.connect() as conn:
        core = run_overview.list_runs(conn, state=state, limit=limit, offset=offset)
    assert core == (expected, total)
    if state is None and offset == 0:
        assert [i["run_id"] for i in core[0]] == ["r3", "r2", "r1"]
        assert [i["phase_count"] for i in core[0]] == [3, 2, 1]
        created = [i["created_at"] for i in core[0]]
        assert created == [
            "2026-01-03T12:50:00.002000Z",
            "2026-01-02T12:50:00.001000Z",
            "2026-01-01T12:50:00Z",
        ]
    if settings.is_embedded_database:
        reader = _stdlib(settings)
        try:
            assert (
                run_overview.list_runs_sqlite(reader, state=state, limit=limit, offset=offset)
                == core
            )
        finally:
            reader.close()
