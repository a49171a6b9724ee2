"""Live events across processes on PostgreSQL: an event another process publishes (a
subprocess, as `autopack run` or a worker would) reaches an SSE client of a running
server (uvicorn on a free port) through LISTEN/NOTIFY, and ``Last-Event-ID`` resumes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from autopack.api.app import create_app
from autopack.services.event_relay import MAX_PAYLOAD_BYTES, decode, encode
from autopack.services.events import EventBus
from autopack.settings import Settings

PUBLISHER = textwrap.dedent(
    """
    import sys
    from autopack.db.session import make_engine
    from autopack.services.event_relay import event_bus_for

    engine = make_engine(sys.argv[1])
    bus = event_bus_for(engine)
    bus.publish("progress", sys.argv[2], line=sys.argv[3], card={"state": "RUNNING"})
    engine.dispose()
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(postgres_database: str, tmp_path: Path) -> Iterator[tuple[FastAPI, str]]:
    port = _free_port()
    settings = Settings(
        home=tmp_path / "home",
        database_url=postgres_database,
        host="127.0.0.1",
        port=port,
        allowed_hosts=["127.0.0.1"],
    )
    app = create_app(settings)
    srv = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def _publish_from_another_process(url: str, run_id: str, line: str) -> None:
    subprocess.run([sys.executable, "-c", PUBLISHER, url, run_id, line], check=True, timeout=60)


def _read_events(
    base: str, run_id: str, count: int, bus: EventBus, headers: dict[str, str], publish: Any
) -> list[dict[str, Any]]:
    """Connect, wait until subscribed, call ``publish``, read ``count`` data events."""
    seen: list[dict[str, Any]] = []
    before = bus.subscriber_count
    with (
        httpx.Client(timeout=30) as http,
        http.stream("GET", f"{base}/events", params={"run_id": run_id}, headers=headers) as resp,
    ):
        assert resp.status_code == 200
        deadline = time.monotonic() + 10
        while bus.subscriber_count <= before:
            assert time.monotonic() < deadline, "the stream never subscribed"
            time.sleep(0.02)
        publish()
        for line in resp.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
                if len(seen) == count:
                    break
    return seen


@pytest.mark.postgres
def test_an_event_of_another_process_reaches_the_servers_sse_client(
    server: tuple[FastAPI, str], postgres_database: str
) -> None:
    app, base = server
    bus: EventBus = app.state.event_bus
    assert app.state.event_listener is not None and app.state.event_listener.listening.is_set()

    (first,) = _read_events(
        base,
        "r-remote",
        1,
        bus,
        {},
        lambda: _publish_from_another_process(postgres_database, "r-remote", "line one"),
    )
    assert first["kind"] == "progress" and first["run_id"] == "r-remote"
    assert first["line"] == "line one" and first["card"] == {"state": "RUNNING"}

    # Published while no client is connected: a reconnect with Last-Event-ID replays it
    # (and not the first one, already seen).
    _publish_from_another_process(postgres_database, "r-remote", "line two")
    deadline = time.monotonic() + 10
    while not any(e.data.get("line") == "line two" for e in bus.history("r-remote")):
        assert time.monotonic() < deadline, "the second event never arrived"
        time.sleep(0.02)
    replayed = _read_events(
        base, "r-remote", 1, bus, {"Last-Event-ID": str(first["id"])}, lambda: None
    )
    assert [e["line"] for e in replayed] == ["line two"]


@pytest.mark.postgres
def test_the_servers_own_events_are_delivered_once(
    server: tuple[FastAPI, str], postgres_database: str
) -> None:
    app, base = server
    bus: EventBus = app.state.event_bus
    events = _read_events(
        base,
        "r-own",
        2,
        bus,
        {},
        lambda: (
            bus.publish("progress", "r-own", line="mine"),
            _publish_from_another_process(postgres_database, "r-own", "theirs"),
        ),
    )
    # Our own NOTIFY comes back to the listener, which skips it: no duplicate before
    # the other process's event.
    assert [e["line"] for e in events] == ["mine", "theirs"]


def test_payloads_stay_under_the_notify_limit_and_keep_what_matters() -> None:
    big_card = {"failure_reason": "x" * 20_000}
    payload = encode("o1", "progress", "r1", {"line": "short", "card": big_card})
    assert len(payload.encode()) < MAX_PAYLOAD_BYTES
    assert decode(payload) == ("o1", "progress", "r1", {"line": "short"})

    payload = encode("o1", "progress", "r1", {"line": "y" * 50_000, "detail": {"a": 1}})
    decoded = decode(payload)
    assert decoded is not None and len(payload.encode()) < MAX_PAYLOAD_BYTES
    assert decoded[3]["line"].startswith("yyy") and "detail" not in decoded[3]

    payload = encode("o1", "progress", "r1", {"other": "z" * 50_000})
    assert decode(payload) == ("o1", "progress", "r1", {"truncated": True})


def test_foreign_payloads_are_ignored() -> None:
    assert decode("not json") is None
    assert decode(json.dumps({"k": "progress"})) is None
    assert decode(json.dumps({"o": "x", "k": 3, "r": None, "d": {}})) is None


@pytest.mark.postgres
def test_an_executor_outside_the_server_notifies_its_progress(postgres_database: str) -> None:
    import psycopg

    from autopack.db.session import make_engine, make_session_factory
    from autopack.services.event_relay import CHANNEL, libpq_url, with_remote_progress

    engine = make_engine(postgres_database)
    seen: list[tuple[str, dict[str, Any]]] = []
    try:
        listener = with_remote_progress(
            lambda event, **data: seen.append((event, data)),
            engine,
            make_session_factory(engine),
            "r-cli",
        )
        with psycopg.connect(libpq_url(engine), autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            listener("phase_started", phase_id="p1")
            notes = list(conn.notifies(timeout=10, stop_after=1))
    finally:
        engine.dispose()
    assert seen == [("phase_started", {"phase_id": "p1"})]  # the terminal still gets it
    decoded = decode(notes[0].payload)
    assert decoded is not None
    _origin, kind, run_id, data = decoded
    assert (kind, run_id) == ("progress", "r-cli")
    assert data["event"] == "phase_started" and "phase_started phase_id=p1" in data["line"]


def test_on_sqlite_the_progress_listener_is_left_as_it_is(sqlite_settings: Settings) -> None:
    from autopack.db.session import make_engine, make_session_factory
    from autopack.services.event_relay import event_bus_for, with_remote_progress

    engine = make_engine(sqlite_settings.effective_database_url)
    try:

        def listener(event: str, **data: Any) -> None:
            return None

        assert with_remote_progress(listener, engine, make_session_factory(engine), "r") is listener
        assert event_bus_for(engine).relay is None
    finally:
        engine.dispose()
