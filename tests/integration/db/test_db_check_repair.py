"""`autopack db check` and `autopack db repair`: states the code does not know (written with
the constraints off, as another tool could), orphan rows, and a schema behind the code.

The CLI runs as a real subprocess with AUTOPACK_DATABASE_URL and AUTOPACK_HOME, as an
operator would run it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from autopack.api.app import create_app
from autopack.db import migrate
from autopack.db.orm import PhaseAttempt, Run
from autopack.db.schema_check import check_database, repair_database
from autopack.db.session import make_engine, make_session_factory, unit_of_work
from autopack.domain.plan import RunSpec
from autopack.services import runs as run_service
from autopack.settings import Settings

AUTOPACK = str(Path(sys.executable).with_name("autopack"))


def cli(*args: str, url: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AUTOPACK_DATABASE_URL": url,
        "AUTOPACK_HOME": str(home),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [AUTOPACK, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def create_run(url: str, runs_dir: Path, run_id: str = "r1") -> None:
    spec = RunSpec.model_validate(
        {
            "run_id": run_id,
            "tiers": [{"tier_id": "T1", "name": "t"}],
            "phases": [{"phase_id": "p1", "name": "one"}, {"phase_id": "p2", "name": "two"}],
        }
    )
    engine = make_engine(url)
    with unit_of_work(make_session_factory(engine)) as session:
        run_service.create_run(session, spec, runs_dir=runs_dir)
    engine.dispose()


def write_unknown_states(url: str) -> None:
    """Write states the code does not know, past the CHECK constraints."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA ignore_check_constraints=ON")
        conn.execute("UPDATE runs SET state = 'READY' WHERE id = 'r1'")
        conn.execute("UPDATE phases SET state = 'WAITING' WHERE phase_id = 'p2'")
        conn.commit()
        conn.close()
        return
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE runs DROP CONSTRAINT ck_runs_state_known"))
        conn.execute(text("ALTER TABLE phases DROP CONSTRAINT ck_phases_state_known"))
        conn.execute(text("UPDATE runs SET state = 'READY' WHERE id = 'r1'"))
        conn.execute(text("UPDATE phases SET state = 'WAITING' WHERE phase_id = 'p2'"))
    engine.dispose()


def stored_states(url: str) -> dict[str, str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT 'run' AS k, state FROM runs WHERE id = 'r1' UNION ALL "
                "SELECT phase_id AS k, state FROM phases"
            )
        ).all()
    engine.dispose()
    return {r.k: r.state for r in rows}


def test_unknown_states_are_reported_answered_as_problems_and_repaired(
    private_url: str, tmp_path: Path, run_cli: Any
) -> None:
    """On SQLite the CLI runs as a subprocess (the operator's view, settings from the
    environment); on PostgreSQL the same commands run in-process, to save start-up time."""
    home = tmp_path / "home"
    settings = Settings(home=home, database_url=private_url)
    create_run(private_url, settings.runs_dir)
    write_unknown_states(private_url)

    # The API answers a problem that says what to do, never a 500.
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for path in (
            "/runs/r1",
            "/runs/r1/status",
            "/reports/run_summary/r1",
            "/dashboard/runs/r1/status",
            "/metrics/tiers/r1",
        ):
            response = client.get(path)
            assert response.status_code == 409, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["code"] == "invalid_stored_state"
            assert "autopack db repair" in problem["detail"]
            assert "READY" in problem["detail"]
            assert problem["request_id"]
        # The list still shows the run, with the value as stored.
        listed = client.get("/runs").json()["runs"]
        assert [(r["run_id"], r["state"]) for r in listed] == [("r1", "READY")]
        # A result for a phase in an unknown state is refused, but stored first.
        response = client.post(
            "/runs/r1/phases/p2/builder_result",
            json={"run_id": "r1", "phase_id": "p2", "status": "success"},
        )
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_stored_state"
        assert response.json()["attempt_id"] >= 1

    def autopack(*args: str) -> tuple[int, str]:
        if private_url.startswith("sqlite"):
            done = cli(*args, url=private_url, home=home)
            return done.returncode, " ".join((done.stdout + done.stderr).split())
        code, output = run_cli(*args, url=private_url, home=home)
        return code, output

    code, out = autopack("db", "check")
    assert code == 1, out
    assert "unknown_state runs" in out and "READY" in out and "'r1'" in out
    assert "unknown_state phases" in out and "WAITING" in out
    assert "'READY' -> 'QUEUED'" in out
    assert "autopack db repair" in out

    code, out = run_cli("db", "repair", url=private_url, home=home)  # no --yes: dry run
    assert code == 1 and "Run again with --yes" in out
    assert stored_states(private_url)["run"] == "READY"
    code, out = autopack("db", "repair", "--yes")
    assert code == 0, out
    assert "repair(s) applied" in out
    assert stored_states(private_url) == {"run": "QUEUED", "p1": "QUEUED", "p2": "QUEUED"}

    lines = (home / "db_repair_audit.jsonl").read_text().splitlines()
    audit = [json.loads(line) for line in lines]
    states = [a for a in audit if a["kind"] == "unknown_state"]
    assert {(a["table"], a["pk"], a["from"], a["to"]) for a in states} >= {
        ("runs", "r1", "READY", "QUEUED")
    }
    assert any(a["table"] == "phases" and a["from"] == "WAITING" for a in states)
    assert all(a["at"] and a["actor"] for a in audit)
    # The constraints dropped to write those values (PostgreSQL) are put back.
    recreated = {a["constraint"] for a in audit if a["kind"] == "missing_constraint"}
    if not private_url.startswith("sqlite"):
        assert recreated == {"ck_runs_state_known", "ck_phases_state_known"}
        engine = make_engine(private_url)
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE runs SET state = 'READY'"))
        engine.dispose()

    engine = make_engine(private_url)
    assert check_database(engine).ok
    with make_session_factory(engine)() as session:
        attempts = session.scalars(select(PhaseAttempt)).all()
        assert [(a.role, a.status) for a in attempts] == [("builder", "success")]
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        assert client.get("/runs/r1").json()["state"] == "QUEUED"


def test_orphan_rows_are_found_and_repaired(sqlite_settings: Settings, run_cli: Any) -> None:
    url = sqlite_settings.effective_database_url
    create_run(url, sqlite_settings.runs_dir)
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))  # foreign keys are off here
    conn.execute("INSERT INTO tiers (run_id, tier_id) VALUES ('ghost', 'T9')")
    phase_pk = conn.execute("SELECT id FROM phases WHERE phase_id = 'p1'").fetchone()[0]
    conn.execute("INSERT INTO phase_attempts (run_id, phase_pk) VALUES ('r1', 424242)")
    conn.execute("INSERT INTO phase_attempts (run_id, phase_pk) VALUES ('r1', ?)", (phase_pk,))
    # A decision about no single run (a user added) has no run: not an orphan.
    conn.execute(
        "INSERT INTO decision_log (run_id, actor, decision) VALUES (NULL, 'user:a', 'user_added')"
    )
    conn.commit()
    conn.close()

    engine = make_engine(url)
    report = check_database(engine)
    orphans = {(f.table, f.column): f.rows for f in report.findings if f.kind == "orphan"}
    assert set(orphans) == {("tiers", "run_id"), ("phase_attempts", "phase_pk")}
    assert orphans[("tiers", "run_id")][0]["ref"] == "ghost"
    assert orphans[("phase_attempts", "phase_pk")][0]["ref"] == 424242

    home = sqlite_settings.home
    code, out = run_cli("db", "check", url=url, home=home)
    assert code == 1
    assert "orphan tiers" in out and "'ghost'" in out
    assert "orphan phase_attempts" in out
    assert "autopack db repair" in out

    applied = repair_database(engine, sqlite_settings.audit_log_path)
    assert sorted((a["table"], a["action"]) for a in applied) == [
        ("phase_attempts", "deleted"),
        ("tiers", "deleted"),
    ]
    assert check_database(engine).ok
    with engine.connect() as conn:
        # The run's own rows are untouched.
        assert conn.execute(text("SELECT count(*) FROM phase_attempts")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM decision_log")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM tiers")).scalar() == 1
    engine.dispose()
    audit = sqlite_settings.audit_log_path.read_text().splitlines()
    assert len(audit) == 2


def test_a_schema_behind_the_code_is_reported_and_upgraded(
    private_url: str, tmp_path: Path
) -> None:
    engine = make_engine(private_url)
    migrate.downgrade(engine, "base")
    report = check_database(engine)
    assert [f.kind for f in report.findings] == ["revision"]
    assert report.findings[0].repair == "autopack db upgrade"
    assert not report.revision_ok
    applied = repair_database(engine, tmp_path / "audit.jsonl")
    assert applied == [{"kind": "revision", "from": None, "to": migrate.head_revision()}]
    assert check_database(engine).ok
    engine.dispose()
    entry = json.loads((tmp_path / "audit.jsonl").read_text())
    assert entry["kind"] == "revision" and entry["to"] == migrate.head_revision()


def test_a_healthy_database_checks_ok_and_repair_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    create_run(database_url, tmp_path / "runs")
    engine = make_engine(database_url)
    report = check_database(engine)
    assert report.ok and report.revision_ok
    assert report.to_dict()["findings"] == []
    assert repair_database(engine, tmp_path / "audit.jsonl") == []
    assert not (tmp_path / "audit.jsonl").exists()
    with make_session_factory(engine)() as session:
        assert session.get(Run, "r1") is not None
    engine.dispose()


def test_legacy_state_names_map_to_their_meaning() -> None:
    from autopack.db.schema_check import suggested_state

    cases: dict[tuple[str, str], Any] = {
        ("runs", "COMPLETED"): "DONE_SUCCESS",
        ("runs", "running"): "PHASE_EXECUTION",
        ("runs", "done_success"): "DONE_SUCCESS",
        ("runs", "???"): "DONE_FAILED_REQUIRES_HUMAN_REVIEW",
        ("phases", "READY"): "QUEUED",
        ("phases", "BLOCKED"): "AWAITING_APPROVAL",
        ("tiers", "RUNNING"): "IN_PROGRESS",
        ("tiers", "gibberish"): "PENDING",
    }
    for (table, value), expected in cases.items():
        assert suggested_state(table, "state", value) == expected, (table, value)
