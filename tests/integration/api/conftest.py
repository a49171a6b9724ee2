"""API fixtures: the app on a fresh database (SQLite and PostgreSQL), the reference payloads."""

from __future__ import annotations

import copy
import json
import os
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
