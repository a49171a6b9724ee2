"""API fixtures: the app on a fresh database (SQLite and PostgreSQL), the reference payloads."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

from autopack.api.app import create_app
from autopack.db.session import make_engine, normalize_url, unit_of_work
from autopack.settings import Settings

REFERENCE = json.loads((Path(__file__).parent / "reference_payloads.json").read_text())
POSTGRES_URL = os.environ.get("AUTOPACK_TEST_POSTGRES_URL")


@pytest.fixture
def reference() -> dict[str, Any]:
    """The original RunStartRequest, BuilderResult and AuditorResult bodies."""
    return copy.deepcopy(REFERENCE)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def in_db(client: TestClient) -> Callable[[], Any]:
    """A unit of work on the app's own database, for arranging what no route can."""
    factory = client.app.state.session_factory  # type: ignore[attr-defined]

    def open_unit() -> Any:
        return unit_of_work(factory)

    return open_unit


def run_start(run_id: str, *phases: str, tiers: tuple[str, ...] = ("T1",)) -> dict[str, Any]:
    """A small RunStartRequest: phases spread over ``tiers`` in order."""
    return {
        "run": {"run_id": run_id},
        "tiers": [
            {"tier_id": t, "tier_index": i, "name": f"Tier {t}"} for i, t in enumerate(tiers)
        ],
        "phases": [
            {
                "phase_id": p,
                "phase_index": i,
                "tier_id": tiers[min(i, len(tiers) - 1)],
                "name": f"Phase {p}",
            }
            for i, p in enumerate(phases)
        ],
    }


@pytest.fixture
def make_run(client: TestClient) -> Callable[..., dict[str, Any]]:
    def make(run_id: str, *phases: str, tiers: tuple[str, ...] = ("T1",)) -> dict[str, Any]:
        response = client.post("/runs/start", json=run_start(run_id, *phases, tiers=tiers))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    return make


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with our code, a detail and a request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["detail"]
    assert body["request_id"] and response.headers["x-request-id"] == body["request_id"]
    return body


@pytest.fixture
def problem() -> Callable[..., dict[str, Any]]:
    return assert_problem


@pytest.fixture
def private_postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database for this test alone (it may be dropped under the app)."""
    if not POSTGRES_URL:
        pytest.skip("AUTOPACK_TEST_POSTGRES_URL is not set")
    from autopack.db import migrate

    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"autopack_api_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = (
        make_url(normalize_url(POSTGRES_URL))
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# -- a run with a target repository (governed apply through the API) -------------------
CALC_PATCH = """--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,5 @@
 def add(a, b):
     return a + b
+
+def mul(a, b):
+    return a * b
"""


def git_output(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def calc_patch() -> str:
    """A unified diff adding mul() to the target repository's calc.py."""
    return CALC_PATCH


@pytest.fixture
def git() -> Callable[..., str]:
    return git_output


@pytest.fixture
def target_repo(tmp_path: Path) -> Path:
    """A git repository with calc.py and a 250-line legacy.py (for deletion guards)."""
    repo = tmp_path / "target"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "legacy.py").write_text("".join(f"X{i} = {i}\n" for i in range(250)))
    git_output(repo, "init", "-q", "-b", "main")
    git_output(repo, "add", "-A")
    git_output(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return repo


@pytest.fixture
def ga_client(settings: Settings, target_repo: Path) -> Iterator[TestClient]:
    """A client with run "ga" created on ``target_repo`` (phase P1: calc.py, legacy.py)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        spec = {
            "run_id": "ga",
            "repo": str(target_repo),
            "phases": [
                {"phase_id": "P1", "name": "mul", "scope": {"paths": ["calc.py", "legacy.py"]}}
            ],
        }
        assert client.post("/runs", json=spec).status_code == 201
        yield client


def builder_result(patch: str, status: str = "success") -> dict[str, object]:
    return {
        "run_id": "ga",
        "phase_id": "P1",
        "status": status,
        "patch_content": patch,
        "notes": "add mul",
    }


@pytest.fixture
def result_for() -> Callable[..., dict[str, object]]:
    """Builds a BuilderResult body for run "ga", phase P1."""
    return builder_result
