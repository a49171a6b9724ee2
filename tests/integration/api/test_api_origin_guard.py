"""The server answers only for its own names (421 otherwise) and refuses state changes from
other sites' pages (403), with and without API keys; checked in process and against a
running `autopack serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from autopack.api.app import create_app
from autopack.api.origin_guard import HostPolicy, normalize_origin, split_host
from autopack.settings import Settings


def _app_settings(settings: Settings, **changes: Any) -> Settings:
    base = {"home": settings.home, "database_url": settings.database_url, "allowed_hosts": []}
    return Settings(**{**base, **changes})


@pytest.fixture
def loopback(settings: Settings) -> Iterator[TestClient]:
    """A keyless loopback server on port 8000, reached as http://127.0.0.1:8000."""
    app = create_app(_app_settings(settings, port=8000))
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
        yield client


def test_foreign_host_headers_get_421_naming_the_host_and_the_fix(
    loopback: TestClient, problem: Any
) -> None:
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost:9"):
        for method, path in (("GET", "/runs"), ("GET", "/health"), ("POST", "/runs")):
            response = loopback.request(method, path, headers={"Host": host}, json={})
            body = problem(response, 421, "misdirected_request")
            assert body["host"] == host
            assert "AUTOPACK_ALLOWED_HOSTS" in body["detail"] and repr(host) in body["detail"]
    # Nothing was created by the refused POSTs.
    assert loopback.get("/runs").json()["total"] == 0


def test_the_bound_loopback_names_are_answered_with_and_without_the_port(
    loopback: TestClient,
) -> None:
    for host in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "[::1]"):
        assert loopback.get("/runs", headers={"Host": host}).status_code == 200, host


def test_configured_hosts_are_answered(settings: Settings) -> None:
    app = create_app(_app_settings(settings, allowed_hosts="autopack.internal, Build.Box:9000"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/runs", headers={"Host": "autopack.internal:443"}).status_code == 200
        assert client.get("/runs", headers={"Host": "build.box:9000"}).status_code == 200
        assert client.get("/runs", headers={"Host": "build.box:9001"}).status_code == 421


def test_a_server_on_every_interface_answers_only_configured_and_machine_names() -> None:
    policy = HostPolicy.for_settings(
        Settings(host="0.0.0.0", port=8000, allowed_hosts=["ci.example.com"]),
        machine_names=["Buildbox"],
    )
    assert policy.allows("ci.example.com:8000") and policy.allows("buildbox:8000")
    assert policy.allows("localhost:8000")
    assert not policy.allows("0.0.0.0:8000")
    assert not policy.allows("evil.example:8000")
    specific = HostPolicy.for_settings(Settings(host="10.0.0.5", port=8000))
    assert specific.allows("10.0.0.5:8000") and not specific.allows("localhost:8000")


def test_host_and_origin_parsing_refuses_what_is_not_a_host() -> None:
    assert split_host("[::1]:8000") == ("::1", 8000)
    assert split_host("Localhost.:80") == ("localhost", 80)
    for bad in ("", "a:b", "[::1", "[::1]x", "host:99999", ":8000"):
        assert split_host(bad) is None, bad
    assert normalize_origin("HTTP://LocalHost:80/") == "http://localhost"
    assert normalize_origin("https://a.example:8443") == "https://a.example:8443"
    assert normalize_origin("null") is None
    assert normalize_origin("file:///etc") is None


def test_state_changes_from_another_site_get_403(loopback: TestClient, problem: Any) -> None:
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "http://localhost:3000"},  # same site, another origin (a dev server)
        {"Origin": "null"},  # sandboxed frames and file:// pages
        {"Sec-Fetch-Site": "cross-site"},
    ):
        response = loopback.post("/runs", json={"run_id": "csrf"}, headers=headers)
        body = problem(response, 403, "cross_site_request")
        assert "AUTOPACK_ALLOWED_ORIGINS" in body["detail"] or "Sec-Fetch-Site" in body["detail"]
    assert loopback.get("/runs").json()["total"] == 0
    # Reads are not state changes; the browser's same-origin policy keeps them private.
    assert loopback.get("/runs", headers={"Origin": "https://evil.example"}).status_code == 200


def test_own_origin_configured_origins_and_non_browsers_may_change_state(
    settings: Settings,
) -> None:
    app = create_app(
        _app_settings(settings, port=8000, allowed_origins="https://tools.example.com/")
    )
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        for i, headers in enumerate(
            (
                {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
                {"Origin": "https://tools.example.com", "Sec-Fetch-Site": "cross-site"},
                {"Sec-Fetch-Site": "none"},  # typed into the address bar
                {},  # curl, the CLI, scripts
            )
        ):
            response = client.post("/runs", json={"run_id": f"ok-{i}"}, headers=headers)
            assert response.status_code == 201, (headers, response.text)


def test_the_checks_hold_with_api_keys(settings: Settings, problem: Any) -> None:
    app = create_app(_app_settings(settings, api_keys="k1"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        key = {"X-API-Key": "k1"}
        problem(
            client.get("/runs", headers={**key, "Host": "evil.example"}), 421, "misdirected_request"
        )
        response = client.post(
            "/runs", json={"run_id": "x"}, headers={**key, "Origin": "https://evil.example"}
        )
        problem(response, 403, "cross_site_request")
        assert client.post("/runs", json={"run_id": "x"}, headers=key).status_code == 201


# -- against a running server -----------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`autopack serve` on a free loopback port, keyless (the default); its base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPACK_")}
    env["AUTOPACK_HOME"] = str(tmp_path / "served-home")
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from autopack.cli.main import main; main()",
            "serve",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"autopack serve did not start: {(tmp_path / 'serve.log').read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_a_running_server_refuses_a_rebound_host_and_a_cross_site_post(served: str) -> None:
    port = served.rsplit(":", 1)[1]
    spec = {"run_id": "rebind"}
    with httpx.Client(base_url=served, timeout=10) as client:
        # DNS rebinding: the attacker's name now points at 127.0.0.1.
        rebound = client.post("/runs", json=spec, headers={"Host": f"attacker.example:{port}"})
        assert rebound.status_code == 421, rebound.text
        assert rebound.headers["content-type"].startswith("application/problem+json")
        assert rebound.json()["host"] == f"attacker.example:{port}"
        assert rebound.json()["request_id"] == rebound.headers["x-request-id"]
        health = client.get("/health", headers={"Host": "attacker.example"})
        assert health.status_code == 421
        # A page elsewhere posting to the real address.
        csrf = client.post("/runs", json=spec, headers={"Origin": "https://attacker.example"})
        assert csrf.status_code == 403 and csrf.json()["code"] == "cross_site_request"
        assert client.get("/runs").json()["total"] == 0
        # The server's own names still work, from its own page and from scripts.
        own = client.post(
            "/runs",
            json=spec,
            headers={"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"},
        )
        assert own.status_code == 201, own.text
        assert client.get("/runs").json()["total"] == 1
