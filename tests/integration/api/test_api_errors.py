"""Every error is application/problem+json with a code, a detail and the request id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autopack.api.app import create_app
from autopack.settings import Settings


@pytest.fixture
def small_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(
        Settings(home=settings.home, database_url=settings.database_url, max_body_bytes=2048)
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_malformed_json_is_400(client: TestClient, problem: Any) -> None:
    body = problem(
        client.post(
            "/runs", content=b'{"run_id": "x",', headers={"content-type": "application/json"}
        ),
        400,
        "malformed_json",
    )
    assert "not valid JSON" in body["detail"]


def test_a_body_of_the_wrong_shape_is_422_naming_the_fields(
    client: TestClient, problem: Any
) -> None:
    body = problem(
        client.post("/runs/start", json={"run": {}, "tiers": "T1"}), 422, "validation_error"
    )
    fields = {e["field"] for e in body["errors"]}
    assert {"run.run_id", "tiers"} <= fields
    assert "run.run_id" in body["detail"]


def test_unknown_routes_and_methods(client: TestClient, problem: Any) -> None:
    body = problem(client.get("/no/such/route"), 404, "not_found")
    assert "GET /no/such/route" in body["detail"]
    problem(client.delete("/runs"), 405, "method_not_allowed")


def test_a_client_request_id_is_echoed(client: TestClient, problem: Any) -> None:
    body = problem(
        client.get("/runs/ghost", headers={"X-Request-ID": "trace-42"}), 404, "not_found"
    )
    assert body["request_id"] == "trace-42"
    ok = client.get("/runs", headers={"X-Request-ID": "trace-43"})
    assert ok.headers["x-request-id"] == "trace-43"
    replaced = client.get("/runs/ghost", headers={"X-Request-ID": "x" * 200}).json()
    assert replaced["request_id"] != "x" * 200 and len(replaced["request_id"]) == 32


def test_an_oversized_body_is_413(small_client: TestClient, problem: Any) -> None:
    big = {"run_id": "big", "goal": "x" * 4000}
    body = problem(small_client.post("/runs", json=big), 413, "payload_too_large")
    assert "2048 bytes" in body["detail"] and "AUTOPACK_MAX_BODY_BYTES" in body["detail"]
    assert small_client.get("/runs/big").status_code == 404
    assert small_client.post("/runs", json={"run_id": "small"}).status_code == 201


def test_an_oversized_streamed_body_is_413_too(small_client: TestClient, problem: Any) -> None:
    # Regression: without a Content-Length the limit fired while FastAPI read the body,
    # which answered 400 "There was an error parsing the body".
    chunks = iter([b'{"run_id": "big", "goal": "', b"x" * 3000, b'"}'])
    body = problem(
        small_client.post(
            "/runs",
            content=chunks,
            headers={"content-type": "application/json", "X-Request-ID": "stream-1"},
        ),
        413,
        "payload_too_large",
    )
    assert body["request_id"] == "stream-1"


def test_the_413_by_content_length_carries_a_request_id(small_client: TestClient) -> None:
    # Regression: the early rejection answered "request_id": null.
    response = small_client.post(
        "/runs",
        content=b"x" * 5000,
        headers={"content-type": "application/json", "X-Request-ID": "big-1"},
    )
    assert response.status_code == 413
    assert response.json()["request_id"] == "big-1"
    assert response.headers["x-request-id"] == "big-1"


def test_run_creation_is_rate_limited(settings: Settings, problem: Any) -> None:
    app = create_app(
        Settings(
            home=settings.home, database_url=settings.database_url, run_create_rate_per_minute=2
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/runs", json={"run_id": "a"}).status_code == 201
        assert client.post("/runs/start", json={"run": {"run_id": "b"}}).status_code == 201
        limited = client.post("/runs", json={"run_id": "c"})
        body = problem(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "AUTOPACK_RUN_CREATE_RATE_PER_MINUTE" in body["detail"]
        problem(client.post("/runs/start", json={"run": {"run_id": "c"}}), 429, "rate_limited")
        # Reading is not limited, and nothing was created by the refused calls.
        assert client.get("/runs").json()["total"] == 2


def test_text_the_database_cannot_store_is_a_4xx(
    client: TestClient, settings: Settings, problem: Any
) -> None:
    """PostgreSQL refuses NUL characters in text; that is bad input (422), not an
    unavailable database (503) and not a 500. SQLite stores them."""
    response = client.post("/runs", json={"run_id": "nul", "goal": "a\u0000b"})
    if settings.effective_database_url.startswith("sqlite"):
        assert response.status_code == 201, response.text
    else:
        body = problem(response, 422, "invalid_value")
        assert "NUL" in body["detail"]
        assert client.get("/runs/nul").status_code == 404


def test_counts_beyond_the_database_range_are_refused_before_the_database(
    client: TestClient, make_run: Any, problem: Any
) -> None:
    # Regression: 2**63 reached SQLite (OverflowError, a 500); on PostgreSQL anything over
    # 2**31 - 1 overflows an INTEGER column.
    make_run("big", "p")
    for payload in ({"tokens_used": 2**31}, {"builder_attempts": 2**63}, {"lines_added": 2**40}):
        body = problem(
            client.post(
                "/runs/big/phases/p/builder_result",
                json={"run_id": "big", "phase_id": "p", "status": "success", **payload},
            ),
            422,
            "validation_error",
        )
        assert body["errors"][0]["field"] == next(iter(payload))
    problem(
        client.post(
            "/runs/big/phases/p/update_status", json={"state": "EXECUTING", "tokens_used": 2**31}
        ),
        422,
        "validation_error",
    )
    problem(
        client.post("/runs", json={"run_id": "x", "budgets": {"token_cap": 2**31}}),
        422,
        "validation_error",
    )
    body = problem(
        client.post("/runs/start", json={"run": {"run_id": "x", "max_phases": 2**31}}),
        422,
        "invalid_plan",
    )
    assert body["field"] == "run.max_phases"
    assert client.get("/runs/big").json()["phases"][0]["builder_attempts"] == 0


def test_nan_and_infinity_in_a_result_are_422_not_a_lost_result(
    client: TestClient, make_run: Any, problem: Any
) -> None:
    # Regression: PostgreSQL's json refuses NaN/Infinity, so the attempt could not be stored
    # and the Builder's result was lost behind a 503.
    make_run("r", "p")
    raw = (
        b'{"run_id": "r", "phase_id": "p", "status": "success", "duration_minutes": Infinity,'
        b' "probe_results": [{"probe_type": "pytest", "exit_code": 0,'
        b' "duration_seconds": NaN}]}'
    )
    body = problem(
        client.post(
            "/runs/r/phases/p/builder_result",
            content=raw,
            headers={"content-type": "application/json"},
        ),
        422,
        "validation_error",
    )
    assert {e["field"] for e in body["errors"]} == {
        "duration_minutes",
        "probe_results[0].duration_seconds",
    }
