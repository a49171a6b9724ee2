"""The foundation's CLI: `serve` as a real process in an empty directory, and `db upgrade`,
`runs create|list`, `status`, `apikey create` and the help texts.

Only `serve` runs as a subprocess (it must: it is a server). The other commands run
in-process through the console script's ``main()`` (the same code, exit codes included)
because every `autopack` process spends seconds importing before it starts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from autopack.db import migrate
from autopack.db.orm import ApiKey
from autopack.db.session import make_engine, make_session_factory, unit_of_work
from autopack.domain.states import RunState
from autopack.services import apikeys
from autopack.services import runs as run_service
from autopack.settings import Settings
from cli_runner import invoke_cli

AUTOPACK = str(Path(sys.executable).with_name("autopack"))
REFERENCE = json.loads((Path(__file__).parents[1] / "api" / "reference_payloads.json").read_text())

Result = tuple[int, str, str]


@pytest.fixture
def autopack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Callable[..., Result]:
    """Run `autopack ARGS` in-process with AUTOPACK_HOME (and a database URL) set; returns
    (exit code, stdout, stderr)."""
    home = tmp_path / "home"
    monkeypatch.setenv("AUTOPACK_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str, database_url: str | None = None) -> Result:
        if database_url:
            monkeypatch.setenv("AUTOPACK_DATABASE_URL", database_url)
        code, out, err = invoke_cli(monkeypatch, capsys, *args)
        return code, out, err

    return run


def words(text: str) -> str:
    """Rich wraps long lines; compare text with its whitespace collapsed."""
    return " ".join(text.split())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """`autopack serve` in an empty directory with only AUTOPACK_HOME set."""
    workdir = tmp_path / "empty"
    workdir.mkdir()
    home = tmp_path / "serve-home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPACK_")}
    env["AUTOPACK_HOME"] = str(home)
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        [AUTOPACK, "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"autopack serve exited {process.returncode}:\n{log.read()}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"autopack serve did not answer /health:\n{log.read()}")
            time.sleep(0.25)
        yield base, workdir, home
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_serve_in_an_empty_directory_takes_the_reference_payloads(
    server: tuple[str, Path, Path],
) -> None:
    base, workdir, home = server
    health = httpx.get(f"{base}/health").json()
    assert health["service"] == "autopack"
    assert health["database"] == {"driver": "sqlite+pysqlite"}  # no path without a key
    assert (home / "autopack.db").is_file()
    assert health["schema_revision"] == migrate.head_revision()
    assert health["auth"] == "loopback_only"

    run_id = REFERENCE["run_start"]["run"]["run_id"]
    phase_id = REFERENCE["builder_result"]["phase_id"]
    started = httpx.post(f"{base}/runs/start", json=REFERENCE["run_start"], timeout=30)
    assert started.status_code == 201, started.text
    result = httpx.post(
        f"{base}/runs/{run_id}/phases/{phase_id}/builder_result",
        json=REFERENCE["builder_result"],
        timeout=30,
    )
    assert result.status_code == 200, result.text
    assert result.json()["phase_state"] == "COMPLETE"

    summary = httpx.get(f"{base}/reports/run_summary/{run_id}", timeout=30).json()
    phase = next(p for p in summary["phases"] if p["phase_id"] == phase_id)
    assert [(a["id"], a["role"], a["status"]) for a in phase["attempts"]] == [
        (result.json()["attempt_id"], "builder", "success")
    ]
    # Everything lives in AUTOPACK_HOME; the working directory stays empty.
    assert list(workdir.iterdir()) == []
    assert (home / ".autonomous_runs" / run_id / "run_summary.md").is_file()


def test_serve_logs_one_line_per_request_with_its_route_and_id(
    server: tuple[str, Path, Path], tmp_path: Path
) -> None:
    base, _, _ = server
    response = httpx.get(f"{base}/runs/no-such-run/status", headers={"X-Request-ID": "trace-7"})
    assert response.status_code == 404 and response.headers["x-request-id"] == "trace-7"
    deadline = time.monotonic() + 10
    while True:
        lines = (tmp_path / "serve.log").read_text().splitlines()
        mine = [line for line in lines if "request_id=trace-7" in line]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(mine) == 1, lines
    assert "autopack.access GET /runs/{run_id}/status 404 " in mine[0]
    # The app's line replaces uvicorn's own access line (which shows the concrete path).
    assert not [line for line in lines if "/runs/no-such-run/status" in line]


def test_serve_refuses_to_listen_beyond_loopback_without_a_key(
    autopack: Callable[..., Result],
) -> None:
    code, _, err = autopack("serve", "--host", "0.0.0.0")
    assert code == 2
    message = words(err)
    assert "refusing to listen on 0.0.0.0 without an API key" in message
    assert "autopack apikey create" in message and "AUTOPACK_API_KEYS" in message


def test_db_upgrade_migrates_an_empty_database(
    autopack: Callable[..., Result], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code, out, err = autopack("db", "upgrade", database_url=url)
    assert code == 0, err
    assert f"schema: empty -> {migrate.head_revision()}" in words(out)
    engine = make_engine(url)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()
    code, out, _ = autopack("db", "check", database_url=url)
    assert code == 0 and "ok" in out


def test_runs_create_list_and_status(autopack: Callable[..., Result], tmp_path: Path) -> None:
    plan = tmp_path / "PLAN.yaml"
    plan.write_text("""\
run_id: cli-run
goal: Try the CLI
tiers:
  - tier_id: Auth & Security
    name: Auth
phases:
  - phase_id: F2.3
    name: Rotate keys
    scope:
      deliverables: {code: [src/keys.py], tests: [tests/test_keys.py]}
  - phase_id: F2.4
    name: Audit log
""")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    code, out, err = autopack("runs", "create", str(plan), "--json", database_url=url)
    assert code == 0, err
    created = json.loads(out)
    assert (created["run_id"], created["state"], created["tiers"], created["phases"]) == (
        "cli-run",
        "RUN_CREATED",
        1,
        2,
    )
    assert Path(created["artifacts"]).is_dir()
    assert Path(created["artifacts"]).is_relative_to(tmp_path / "home")

    code, out, err = autopack("runs", "list", "--json", database_url=url)
    assert code == 0, err
    listed = json.loads(out)
    assert listed["total"] == 1
    assert [(r["run_id"], r["state"], r["phase_count"]) for r in listed["runs"]] == [
        ("cli-run", "RUN_CREATED", 2)
    ]

    code, out, err = autopack("status", "cli-run", "--json", database_url=url)
    assert code == 0, err
    status = json.loads(out)
    assert [(p["phase_id"], p["tier_id"], p["state"]) for p in status["phases"]] == [
        ("F2.3", "Auth & Security", "QUEUED"),
        ("F2.4", "Auth & Security", "QUEUED"),
    ]

    code, out, _ = autopack("status", "cli-run", database_url=url)
    assert code == 0 and "cli-run" in out and "RUN_CREATED" in out and "F2.3" in out

    # A failed run's status exits 1, so scripts can tell.
    engine = make_engine(url)
    with unit_of_work(make_session_factory(engine)) as session:
        run_service.set_run_state(
            session,
            run_service.get_run(session, "cli-run"),
            RunState.DONE_FAILED_ENVIRONMENT,
            reason="no python",
        )
    engine.dispose()
    code, out, _ = autopack("status", "cli-run", database_url=url)
    assert code == 1 and "no python" in words(out)

    code, out, err = autopack("runs", "create", str(plan), database_url=url)
    assert code == 1 and "already exists" in words(err)
    code, _, err = autopack("status", "ghost", database_url=url)
    assert code == 2 and "'ghost' not found" in words(err)


def test_runs_create_reports_a_bad_plan_and_creates_nothing(
    autopack: Callable[..., Result], tmp_path: Path
) -> None:
    plan = tmp_path / "bad.yaml"
    plan.write_text("run_id: bad\nphases:\n  - phase_id: p\n    name: x\n    tier_id: T9\n")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    code, out, err = autopack("runs", "create", str(plan), database_url=url)
    assert code == 2
    assert "tier_id" in words(err) and "T9" in err
    code, out, _ = autopack("runs", "list", "--json", database_url=url)
    assert json.loads(out)["total"] == 0


def test_apikey_create_prints_the_key_once_and_stores_its_hash(
    autopack: Callable[..., Result], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    code, out, err = autopack("apikey", "create", "--name", "ci", database_url=url)
    assert code == 0, err
    plain = out.strip().splitlines()[-1]
    assert plain.startswith("ap_")
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        row = session.scalars(select(ApiKey)).one()
        assert row.name == "ci" and row.key_hash == apikeys.hash_key(plain)
        assert apikeys.identify_api_key(session, plain, []) is not None
    engine.dispose()
    settings = Settings(home=tmp_path / "home", database_url=url)
    assert settings.plain_api_keys() == []  # the key lives only in the database, hashed


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["serve", "db", "runs", "status", "apikey"]),
        (("db",), ["upgrade", "check", "repair"]),
        (("runs",), ["create", "list"]),
        (("apikey",), ["create"]),
        (("db", "repair"), ["--yes", "audit log"]),
        (("serve",), ["--host", "--port", "loopback"]),
    ],
)
def test_help_texts(
    autopack: Callable[..., Result], args: tuple[str, ...], expected: list[str]
) -> None:
    code, out, err = autopack(*args, "--help")
    assert code == 0, err
    text = words(out)
    for word in expected:
        assert word in text, (args, word)


def test_version(autopack: Callable[..., Result]) -> None:
    import autopack as package

    code, out, _ = autopack("--version")
    assert (code, out.strip()) == (0, f"autopack {package.__version__}")
