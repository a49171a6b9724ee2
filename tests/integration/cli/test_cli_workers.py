"""`autopack worker`, `autopack workers list`, `autopack runs enqueue`, `db upgrade` (queue)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.db.database import Database
from autopack.db.session import unit_of_work
from autopack.services import workers as worker_service
from autopack.settings import Settings
from cli_runner import invoke_cli

Result = tuple[int, str, str]


@pytest.fixture
def autopack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: Settings
) -> Callable[..., Result]:
    """`autopack ARGS` in-process on the test's database; (exit code, stdout, stderr)."""
    monkeypatch.setenv("AUTOPACK_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> Result:
        code, out, err = invoke_cli(monkeypatch, capsys, *args)
        return code, out, err

    return run


def test_remote_worker_commands_need_postgres(
    autopack: Callable[..., Result], settings: Settings
) -> None:
    if not settings.is_embedded_database:
        pytest.skip("the SQLite refusal")
    code, _, err = autopack("worker", "--concurrency", "2")
    assert code == 2
    assert "remote workers need PostgreSQL" in " ".join(err.split())
    assert "AUTOPACK_DATABASE_URL" in err
    code, _, err = autopack("runs", "enqueue", "some-run")
    assert code == 2 and "need PostgreSQL" in " ".join(err.split())
    code, out, _ = autopack("workers", "list")
    assert code == 0 and "no workers registered" in out


def test_workers_list_shows_registered_workers(
    autopack: Callable[..., Result], db: Database
) -> None:
    with unit_of_work(db.factory) as session:
        worker_service.register_worker(
            session, "h1:42:abc", host="h1", pid=42, version="0.1.0", concurrency=2
        )
        worker_service.heartbeat(session, "h1:42:abc", current_runs=["run-a"])
    code, out, _ = autopack("workers", "list", "--json")
    assert code == 0
    (worker,) = json.loads(out)
    assert (worker["id"], worker["host"], worker["pid"], worker["status"]) == (
        "h1:42:abc",
        "h1",
        42,
        "alive",
    )
    assert worker["current_runs"] == ["run-a"]
    code, out, _ = autopack("workers", "list")
    assert "h1:42:abc" in out and "alive" in out and "run-a" in out


@pytest.mark.postgres
def test_db_upgrade_creates_the_queue_schema_once_and_enqueue_reports_each_run(
    autopack: Callable[..., Result], settings: Settings, tmp_path: Path
) -> None:
    if settings.is_embedded_database:
        pytest.skip("PostgreSQL only")
    code, out, _ = autopack("db", "upgrade")
    assert code == 0 and "job queue schema: present" in out  # idempotent
    code, out, _ = autopack("runs", "enqueue", "no-such-run", "--json")
    assert code == 1
    assert json.loads(out)[0]["queued"] is False and "not found" in json.loads(out)[0]["error"]
