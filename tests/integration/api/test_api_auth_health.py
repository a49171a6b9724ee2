"""API keys (configured, and created with the service, stored hashed) and GET /health."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, select, text

import autopack
from access_fixtures import user_key
from autopack.api.app import create_app
from autopack.db import migrate
from autopack.db.database import open_database
from autopack.db.orm import ApiKey
from autopack.db.session import make_engine, unit_of_work
from autopack.errors import SchemaMismatch, StorageUnavailable
from autopack.settings import Settings


@pytest.fixture
def keyed(settings: Settings) -> Iterator[TestClient]:
    app = create_app(
        Settings(home=settings.home, database_url=settings.database_url, api_keys=["k1"])
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_requests_without_a_key_are_401(keyed: TestClient, problem: Any) -> None:
    for method, path in (
        ("GET", "/runs"),
        ("POST", "/runs"),
        ("GET", "/metrics/runs"),
        ("GET", "/project/issues/backlog"),
        ("GET", "/runs/x/status"),
    ):
        response = keyed.request(method, path, json={"run_id": "x"})
        body = problem(response, 401, "unauthorized")
        assert "X-API-Key" in body["detail"] and "autopack apikey create" in body["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
    problem(keyed.get("/runs", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    problem(keyed.get("/runs", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    # A refused creation creates nothing.
    assert keyed.get("/runs", headers={"X-API-Key": "k1"}).json()["total"] == 0


def test_x_api_key_and_bearer_both_work(keyed: TestClient) -> None:
    assert keyed.get("/runs", headers={"X-API-Key": "k1"}).status_code == 200
    assert keyed.get("/runs", headers={"Authorization": "Bearer k1"}).status_code == 200
    assert keyed.get("/runs", headers={"Authorization": "bearer k1"}).status_code == 200
    created = keyed.post("/runs", json={"run_id": "ok"}, headers={"X-API-Key": "k1"})
    assert created.status_code == 201


def test_health_needs_no_key(keyed: TestClient) -> None:
    response = keyed.get("/health")
    assert response.status_code == 200
    assert response.json()["auth"] == "api_key"


def test_a_created_key_works_and_only_its_hash_is_stored(
    client: TestClient, in_db: Any, problem: Any
) -> None:
    assert client.get("/health").json()["auth"] == "loopback_only"
    assert client.get("/runs").status_code == 200  # no key anywhere: loopback-only server
    with in_db() as session:
        plain, _ = user_key(session, "ci")
        other, _ = user_key(session, "laptop")
    assert plain.startswith("ap_") and len(plain) > 40 and other != plain
    # Once a key exists, every request needs one.
    problem(client.get("/runs"), 401, "unauthorized")
    assert client.get("/runs", headers={"X-API-Key": plain}).status_code == 200
    assert client.get("/runs", headers={"Authorization": f"Bearer {plain}"}).status_code == 200
    assert client.get("/health").json()["auth"] == "api_key"
    with in_db() as session:
        stored = session.scalars(select(ApiKey).where(ApiKey.name == "ci")).one()
        assert stored.key_hash == hashlib.sha256(plain.encode()).hexdigest()
        assert stored.prefix == plain[:8] and stored.name == "ci"
        assert stored.last_used_at is not None
        rows = session.execute(text("SELECT * FROM api_keys")).mappings().all()
        assert not any(
            key in str(value) for row in rows for value in row.values() for key in (plain, other)
        )
        stored.revoked = True
    problem(client.get("/runs", headers={"X-API-Key": plain}), 401, "unauthorized")
    assert client.get("/runs", headers={"X-API-Key": other}).status_code == 200


def test_revoking_the_last_key_does_not_open_a_server_beyond_loopback(
    settings: Settings, problem: Any
) -> None:
    """Regression: with no active key left, every request passed, on any address."""
    app = create_app(
        Settings(home=settings.home, database_url=settings.database_url, host="0.0.0.0")
    )
    factory = app.state.session_factory
    with TestClient(app, raise_server_exceptions=False) as client:
        with unit_of_work(factory) as session:
            plain, row = user_key(session, "only")
        assert client.get("/runs", headers={"X-API-Key": plain}).status_code == 200
        with unit_of_work(factory) as session:
            session.get(ApiKey, row.id).revoked = True  # type: ignore[union-attr]
        problem(client.get("/runs"), 401, "unauthorized")
        problem(client.get("/runs", headers={"X-API-Key": plain}), 401, "unauthorized")
        assert client.get("/health").status_code == 200


def test_a_result_submitted_with_a_stored_key_is_not_blocked_by_the_key_check(
    client: TestClient, in_db: Any, make_run: Any
) -> None:
    """Regression: the key check wrote last_used_at in the request's session and held
    SQLite's write lock, so the result's own transaction waited 30 s and the result was
    lost with a 503."""
    make_run("r", "p")
    with in_db() as session:
        plain, _ = user_key(session, "worker")
    started = time.monotonic()
    response = client.post(
        "/runs/r/phases/p/builder_result",
        json={"run_id": "r", "phase_id": "p", "status": "success"},
        headers={"X-API-Key": plain},
    )
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 10
    assert (
        client.get("/runs/r", headers={"X-API-Key": plain}).json()["phases"][0]["state"]
        == "COMPLETE"
    )


def test_health_identifies_service_version_database_and_revision(
    client: TestClient, settings: Settings, in_db: Any
) -> None:
    with in_db() as session:
        plain, _ = user_key(session, "ops")
    # Where the database lives is for callers with a key (test_api_keys_identity.py).
    response = client.get("/health", headers={"X-API-Key": plain})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["service"] == "autopack"
    assert body["version"] == autopack.__version__
    assert body["schema_revision"] == body["expected_revision"] == migrate.head_revision()
    database = body["database"]
    url = make_engine(settings.effective_database_url).url
    if url.get_backend_name() == "sqlite":
        assert database["driver"] == "sqlite+pysqlite"
        assert database["file"] == url.database
        assert database["host"] is None
    else:
        assert database["driver"] == "postgresql+psycopg"
        assert database["host"] == f"{url.host}:{url.port or 5432}"
        assert database["database"] == url.database
        assert database["file"] is None


def with_password(url: str) -> tuple[str, str]:
    """``url`` with a password: its own, or a made-up one (the local test server trusts
    every login, so an extra password is accepted and ignored)."""
    parsed = make_url(url)
    if parsed.password is None:
        parsed = parsed.set(password="s3cret-pw")
    return parsed.render_as_string(hide_password=False), str(parsed.password)


@pytest.mark.postgres
def test_health_never_shows_credentials(private_postgres_url: str, tmp_path: Path) -> None:
    url, password = with_password(private_postgres_url)
    app = create_app(Settings(home=tmp_path, database_url=url))
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert password not in response.text
    assert f"{make_url(url).username}:" not in response.text


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_health_is_503_when_the_schema_is_gone(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # A database of its own: the shared PostgreSQL test database must keep its schema.
    url = (
        request.getfixturevalue("private_postgres_url")
        if backend == "postgres"
        else request.getfixturevalue("sqlite_settings").database_url
    )
    app = create_app(Settings(home=tmp_path, database_url=url))
    client = TestClient(app)
    with unit_of_work(app.state.session_factory) as session:
        session.execute(text("DROP TABLE alembic_version"))
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["schema_revision"]) == ("degraded", None)
    assert body["service"] == "autopack"


@pytest.mark.postgres
def test_health_is_503_when_the_database_disappears(
    private_postgres_url: str, tmp_path: Path
) -> None:
    app = create_app(Settings(home=tmp_path, database_url=private_postgres_url))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        name = make_engine(private_postgres_url).url.database
        admin = make_engine(os.environ["AUTOPACK_TEST_POSTGRES_URL"])
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["status"] == "degraded"
        # Other routes say the storage is unavailable, as a problem, not a 500.
        runs = client.get("/runs")
        assert runs.status_code == 503
        assert runs.json()["code"] == "storage_unavailable"


@pytest.mark.postgres
def test_a_database_that_does_not_exist_stops_the_app_with_a_clear_error(
    private_postgres_url: str, tmp_path: Path
) -> None:
    url, password = with_password(private_postgres_url)
    missing = make_url(url).set(database="autopack_no_such_db")
    with pytest.raises(StorageUnavailable) as caught:
        create_app(
            Settings(home=tmp_path, database_url=missing.render_as_string(hide_password=False))
        )
    assert "autopack_no_such_db" in str(caught.value)
    assert password not in str(caught.value)


@pytest.mark.postgres
def test_a_server_database_behind_the_code_is_refused_not_upgraded(
    private_postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(private_postgres_url)
    migrate.downgrade(engine, "base")
    with pytest.raises(SchemaMismatch) as caught:
        create_app(Settings(home=tmp_path, database_url=private_postgres_url))
    assert "autopack db upgrade" in str(caught.value)
    assert migrate.current_revision(engine) is None
    engine.dispose()


def test_the_embedded_default_is_created_and_upgraded_on_first_start(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    settings = Settings(home=home, api_keys=["k1"])
    assert settings.database_url is None
    with TestClient(create_app(settings)) as client:
        body = client.get("/health", headers={"X-API-Key": "k1"}).json()
    assert body["schema_revision"] == migrate.head_revision()
    assert body["database"]["file"] == str(home / "autopack.db")
    assert (home / "autopack.db").is_file()
    database = open_database(settings)
    with unit_of_work(database.factory) as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    database.dispose()
