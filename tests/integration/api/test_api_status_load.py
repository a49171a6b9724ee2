"""Status routes hold their load: a fixed number of SQL statements whatever the size of
the run, phases paged with totals, and one timed access-log line per request."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from autopack.db.orm import Phase
from autopack.domain.access import Role
from autopack.planning.normalize import plan_from_data
from autopack.services import apikeys, users
from autopack.services.runs import create_run
from autopack.settings import Settings
from sql_statements import recorded_statements

STATUS_ROUTES = ("/runs/{}/status", "/dashboard/runs/{}/status")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app's approval-expiry round (every 30 s by default) queries the same engine: a
    slow test crossing it would count its statements as the request's."""
    return settings.model_copy(update={"approval_expiry_check_seconds": 3600.0})


def seed_run(client: TestClient, in_db: Callable[[], Any], run_id: str, phases: int) -> None:
    """A run of ``phases`` phases over two tiers, through the run service; the first
    third COMPLETE, the next one FAILED, so the current phase is mid-run."""
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    spec = plan_from_data(
        {
            "run_id": run_id,
            "goal": "status under load",
            "budgets": {"max_phases": phases},
            "tiers": [
                {"tier_id": "T1", "name": "Core", "tier_index": 0},
                {"tier_id": "T2", "name": "Edges", "tier_index": 1},
            ],
            "phases": [
                {
                    "phase_id": f"p{i:04d}",
                    "name": f"Phase {i}",
                    "tier_id": "T1" if i < phases // 2 else "T2",
                }
                for i in range(phases)
            ],
        }
    )
    done = phases // 3
    with in_db() as session:
        create_run(session, spec, runs_dir=settings.runs_dir)
        session.flush()
        session.execute(
            update(Phase)
            .where(Phase.run_id == run_id, Phase.phase_index < done)
            .values(state="COMPLETE")
        )
        session.execute(
            update(Phase)
            .where(Phase.run_id == run_id, Phase.phase_index == done)
            .values(state="FAILED")
        )


def counted_statements(client: TestClient) -> AbstractContextManager[list[str]]:
    return recorded_statements(client.app.state.database.engine)  # type: ignore[attr-defined]


@pytest.mark.parametrize("route", STATUS_ROUTES)
def test_status_costs_the_same_statements_for_10_and_200_phases(
    client: TestClient, in_db: Callable[[], Any], route: str
) -> None:
    seed_run(client, in_db, "small", 10)
    seed_run(client, in_db, "large", 200)
    client.get(route.format("small"))  # warm: first-use queries of the app are not counted
    counts = {}
    for run_id in ("small", "large"):
        with counted_statements(client) as statements:
            response = client.get(route.format(run_id))
        assert response.status_code == 200, response.text
        counts[run_id] = len(statements)
    assert counts["small"] == counts["large"], counts
    # The key check, the run's columns, the counts and the current phase: nothing per phase.
    assert counts["large"] <= 5, counts


def test_status_reads_counts_and_current_phase_from_the_database(
    client: TestClient, in_db: Callable[[], Any]
) -> None:
    seed_run(client, in_db, "mid", 200)
    status = client.get("/runs/mid/status").json()
    assert status["phase_counts"] == {"QUEUED": 133, "COMPLETE": 66, "FAILED": 1}
    assert (status["total_phases"], status["current_phase_id"]) == (200, "p0067")
    dashboard = client.get("/dashboard/runs/mid/status").json()
    assert dashboard["completed_phases"] == 66
    assert dashboard["percent_complete"] == 33.0
    assert (dashboard["total_tiers"], dashboard["completed_tiers"]) == (2, 0)
    assert (dashboard["current_tier_name"], dashboard["current_phase_index"]) == ("Core", 67)


def test_a_finished_run_has_no_current_phase(client: TestClient, in_db: Callable[[], Any]) -> None:
    seed_run(client, in_db, "over", 6)
    with in_db() as session:
        session.execute(update(Phase).where(Phase.run_id == "over").values(state="SKIPPED"))
    status = client.get("/runs/over/status").json()
    assert (status["phase_counts"], status["current_phase_id"]) == ({"SKIPPED": 6}, None)
    dashboard = client.get("/dashboard/runs/over/status").json()
    assert (dashboard["percent_complete"], dashboard["current_phase_name"]) == (100.0, None)


def test_phases_come_in_pages_with_a_total(client: TestClient, in_db: Callable[[], Any]) -> None:
    seed_run(client, in_db, "paged", 200)
    first = client.get("/runs/paged/phases").json()
    assert (first["total"], first["limit"], first["offset"]) == (200, 100, 0)
    assert [p["phase_id"] for p in first["phases"]] == [f"p{i:04d}" for i in range(100)]
    last = client.get("/runs/paged/phases", params={"limit": 30, "offset": 180}).json()
    assert [p["phase_id"] for p in last["phases"]] == [f"p{i:04d}" for i in range(180, 200)]
    assert {p["tier_id"] for p in first["phases"] + last["phases"]} == {"T1", "T2"}
    complete = client.get("/runs/paged/phases", params={"state": "COMPLETE", "limit": 5}).json()
    assert complete["total"] == 66
    assert {p["state"] for p in complete["phases"]} == {"COMPLETE"}
    with counted_statements(client) as small_page:
        client.get("/runs/paged/phases", params={"limit": 10})
    with counted_statements(client) as large_page:
        client.get("/runs/paged/phases", params={"limit": 200})
    assert len(small_page) == len(large_page)


def test_phase_pages_refuse_what_they_cannot_answer(
    client: TestClient, in_db: Callable[[], Any]
) -> None:
    seed_run(client, in_db, "few", 3)
    missing = client.get("/runs/nope/phases")
    assert missing.status_code == 404 and "GET /runs" in missing.json()["detail"]
    bad = client.get("/runs/few/phases", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.limit"
    unknown_state = client.get("/runs/few/phases", params={"state": "DONE"})
    assert unknown_state.status_code == 422


def test_each_request_logs_one_line_with_its_route_and_id(
    client: TestClient, in_db: Callable[[], Any], caplog: pytest.LogCaptureFixture
) -> None:
    seed_run(client, in_db, "logged", 3)
    with caplog.at_level(logging.INFO, logger="autopack.access"):
        mine = client.get("/runs/logged/status", headers={"X-Request-ID": "req-42"})
        theirs = client.get("/runs/missing/status")
        unrouted = client.get("/no/such/route")
    assert mine.headers.get_list("x-request-id") == ["req-42"]
    generated = theirs.headers["x-request-id"]
    assert len(generated) == 32 and theirs.json()["request_id"] == generated
    # One id per response, even when the error document named it too.
    assert theirs.headers.get_list("x-request-id") == [generated]
    records = [r for r in caplog.records if r.name == "autopack.access"]
    assert [(r.method, r.path, r.status) for r in records] == [  # type: ignore[attr-defined]
        ("GET", "/runs/{run_id}/status", 200),
        ("GET", "/runs/{run_id}/status", 404),
        ("GET", "/no/such/route", 404),
    ]
    assert [r.request_id for r in records][:2] == ["req-42", generated]  # type: ignore[attr-defined]
    assert all(0 < r.duration_ms < 10_000 for r in records)  # type: ignore[attr-defined]
    assert records[0].getMessage().startswith("GET /runs/{run_id}/status 200 ")
    assert records[0].getMessage().endswith("ms request_id=req-42")
    assert unrouted.headers["x-request-id"] == records[2].request_id  # type: ignore[attr-defined]


def test_an_unusable_request_id_is_replaced(client: TestClient) -> None:
    response = client.get("/health", headers={"X-Request-ID": "x" * 129})
    assert len(response.headers["x-request-id"]) == 32


def test_a_key_records_its_use_once_a_minute_not_on_every_request(
    in_db: Callable[[], Any],
) -> None:
    """The key check is on every request's path: a write each time would serialize all
    authenticated requests on SQLite's one writer."""
    from autopack.db.orm import ApiKey

    with in_db() as session:
        owner = users.create_user(session, "ci-bot", Role.OPERATOR)
        plain, row = apikeys.create_api_key(session, "ci", owner)
        key_id = row.id
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def use(at: datetime) -> datetime | None:
        with in_db() as session:
            assert apikeys.identify_api_key(session, plain, [], now=at) == "user:ci-bot"
        with in_db() as session:
            used: datetime | None = session.get(ApiKey, key_id).last_used_at
            return used

    assert use(t0) == t0
    assert use(t0 + timedelta(seconds=59)) == t0
    assert use(t0 + timedelta(seconds=61)) == t0 + timedelta(seconds=61)


@pytest.mark.parametrize("route", STATUS_ROUTES)
def test_a_status_request_hops_to_the_thread_pool_only_for_blocking_work(
    client: TestClient, in_db: Callable[[], Any], monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    """FastAPI runs every plain `def` dependency and route in its thread pool; under load
    those hops were most of a status request's own work. The two left: the key check, and
    the read with its serialization (api/polled.py)."""
    import anyio.to_thread

    seed_run(client, in_db, "hops", 10)
    client.get(route.format("hops"))
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        called = func.func if isinstance(func, functools.partial) else func
        hops.append(getattr(called, "__qualname__", repr(called)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    response = client.get(route.format("hops"))
    assert response.status_code == 200, response.text
    assert len(hops) == 2, hops
    assert hops[0] == "require_api_key" and hops[1].startswith("answer_json"), hops


@pytest.mark.parametrize("route", STATUS_ROUTES)
def test_status_is_304_while_unchanged_and_fresh_after_another_process_changes_the_run(
    client: TestClient, in_db: Callable[[], Any], settings: Settings, route: str
) -> None:
    """The ETag is a hash of a fresh read: a client polling with If-None-Match gets 304
    without a body while nothing changed, and the new status on its very next request
    once anything changed, whoever changed it (here another engine on the same database,
    as a worker process or a second server would) and whichever server it asks."""
    from autopack.api.app import create_app
    from autopack.db.session import make_engine

    seed_run(client, in_db, "polled", 10)
    path = route.format("polled")
    first = client.get(path)
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "no-cache"

    unchanged = client.get(path, headers={"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert unchanged.headers["etag"] == etag
    listed = client.get(path, headers={"If-None-Match": f'"stale", W/{etag}'})
    assert listed.status_code == 304
    assert client.get(path, headers={"If-None-Match": '"stale"'}).status_code == 200

    other = make_engine(settings.effective_database_url)
    try:
        with other.begin() as conn:
            conn.execute(
                update(Phase)
                .where(Phase.run_id == "polled", Phase.phase_id == "p0004")
                .values(state="COMPLETE")
            )
    finally:
        other.dispose()
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != etag
    body = changed.json()
    if route.startswith("/runs"):
        assert body["phase_counts"] == {"QUEUED": 5, "COMPLETE": 4, "FAILED": 1}
        assert first.json()["phase_counts"] == {"QUEUED": 6, "COMPLETE": 3, "FAILED": 1}
    else:
        assert (first.json()["completed_phases"], body["completed_phases"]) == (3, 4)

    # A second server on the same database answers the same, tag included.
    with TestClient(create_app(settings), raise_server_exceptions=False) as second:
        again = second.get(path, headers={"If-None-Match": changed.headers["etag"]})
    assert again.status_code == 304


def test_status_of_an_unknown_run_is_a_404_problem_with_no_etag(
    client: TestClient, problem: Callable[..., dict[str, Any]]
) -> None:
    for route in STATUS_ROUTES:
        response = client.get(route.format("nope"), headers={"If-None-Match": "*"})
        problem(response, 404, "not_found")
        assert "etag" not in response.headers
