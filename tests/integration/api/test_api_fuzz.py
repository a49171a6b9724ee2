"""Fuzz every route in /openapi.json with schemathesis: no input may reach a 500, and
every error is a problem document (code, detail, request id).

Two passes over every operation:

* the coverage phase: each field's boundary and invalid values as the schema defines them,
  positive and negative, with whatever path ids schemathesis generates (bodies are
  validated before ids are looked up, so these reach every model validator);
* random fuzzing aimed at a run and phase that exist, so generated bodies get past the 404
  into the services and the state machine.

SQLite only: the routes and services have no per-database branch that the PostgreSQL API
tests do not cover, and fuzzing both would double the time.

(``schemathesis.pytest.from_fixture`` does not work with pytest 9: it reads
``node._nodeid``. So the schema is read once from an app that never touches its database,
and the cases are sent to one app per module, on its own database, via ``case.call(app=)``.)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from autopack.api.app import create_app
from autopack.db.database import Database
from autopack.db.session import make_engine, make_session_factory
from autopack.settings import Settings

RUN_ID, PHASE_ID = "fuzz-run", "F1.1"
START = {
    "run": {"run_id": RUN_ID},
    "tiers": [{"tier_id": "T1", "tier_index": 0, "name": "Tier"}],
    "phases": [
        {"phase_id": PHASE_ID, "phase_index": 0, "tier_id": "T1", "name": "Phase"},
        {"phase_id": "F1.2", "phase_index": 1, "tier_id": "T1", "name": "Phase 2"},
    ],
}


def _openapi_document() -> dict[str, Any]:
    engine = make_engine("sqlite://")  # never connected: only the routes are read
    shell = Database(engine=engine, factory=make_session_factory(engine), url="sqlite://")
    document: dict[str, Any] = create_app(
        Settings(home=Path("/nonexistent")), database=shell
    ).openapi()
    engine.dispose()
    return document


#: The coverage phase: every boundary and every invalid value the schema defines for each
#: field (positive and negative), with whatever path ids schemathesis generates. Bodies are
#: validated before ids are looked up, so these reach every model validator.
schema = schemathesis.openapi.from_dict(_openapi_document())
schema.config.phases.update(phases=["coverage"])
#: Random fuzzing (positive and negative), aimed at ids that exist, so generated bodies get
#: past the 404 into the services and the state machine.
schema_on_existing_ids = schemathesis.openapi.from_dict(_openapi_document())
schema_on_existing_ids.config.phases.update(phases=["fuzzing"])
#: Bounded and deterministic: the same cases on every machine, no example database.
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Any]:
    """One app for the module: what one operation's cases create, the next one sees."""
    home = tmp_path_factory.mktemp("fuzz-home")
    shutil.copy(sqlite_template, home / "fuzz.db")
    # Run creation is rate limited per client; the limit has its own test, and here it
    # would turn most generated run creations into 429s before they reach validation.
    app = create_app(
        Settings(
            home=home,
            database_url=f"sqlite:///{home / 'fuzz.db'}",
            run_create_rate_per_minute=10**6,
            # Module-scoped: created before the per-test environment names TestClient's host.
            allowed_hosts=["testserver"],
        )
    )
    with TestClient(app) as client:
        assert client.post("/runs/start", json=START).status_code == 201
        yield app


def _check(case: Any, app: Any) -> None:
    response = case.call(app=app)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: "
        f"{response.text[:500]}\n{case.as_curl_command()}"
    )
    if response.status_code >= 400:
        # schemathesis' responses keep headers as lists of values.
        assert response.headers["content-type"][0].startswith("application/problem+json")
        problem = response.json()
        assert problem["code"] and problem["detail"] and problem["request_id"]


@schema.parametrize()
@FUZZ
def test_no_input_reaches_a_server_error(case: Any, fuzz_app: Any) -> None:
    _check(case, fuzz_app)


@schema_on_existing_ids.parametrize()
@FUZZ
def test_no_input_on_existing_ids_reaches_a_server_error(case: Any, fuzz_app: Any) -> None:
    params = case.path_parameters or {}
    if "run_id" in params:
        params["run_id"] = RUN_ID
    if "phase_id" in params:
        params["phase_id"] = PHASE_ID
    if isinstance(case.body, dict):
        # Result bodies must repeat the URL's ids; make them agree so the body is judged.
        for key, value in (("run_id", RUN_ID), ("phase_id", PHASE_ID)):
            if key in case.body and key in params:
                case.body[key] = value
    _check(case, fuzz_app)
