"""Dashboard speed: server time of each page, empty and with 10,000 phases, and the
latency of one live event fanned out to 50 connected SSE clients.

Pages are requested in-process (Starlette's TestClient: the whole app, middleware and
templates, no network), on the embedded SQLite database, median of 7 requests after one
warm-up. The 10,000 phases are 50 runs of 200 phases (each phase with a Builder and an
Auditor attempt, two LLM calls and two decisions; an approval for one phase in 20, a few
still pending; 20 backlog issues per run), plus, for the run page, one run of 10,000 phases
measured on its own. The fan-out test runs the real server (uvicorn) and 50 streaming
HTTP clients; latency is from ``publish`` to each client reading the event. It runs on
both paths: in-process (SQLite) and, when ``AUTOPACK_TEST_POSTGRES_URL`` is set, through
PostgreSQL LISTEN/NOTIFY (the event is published by a second bus with its own relay and
engine, as another process's would be; the server's listener hands it to its clients).

The usage page is also timed right after one more LLM call is recorded (40,000 calls
seeded), server and CPU time.

Run: ``.venv/bin/python benchmarks/dashboard.py`` (add ``--quick`` for 1,000 phases,
``--usage`` for the usage page's numbers alone).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, make_url, select, text

from autopack.api.app import create_app
from autopack.db import migrate
from autopack.db.orm import (
    Approval,
    DecisionLog,
    LlmUsageEvent,
    Phase,
    PhaseAttempt,
    ProjectIssue,
)
from autopack.db.session import make_engine, normalize_url, unit_of_work
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.planning.normalize import plan_from_data
from autopack.services.event_relay import PgNotifyRelay
from autopack.services.events import EventBus
from autopack.services.runs import create_run
from autopack.services.usage import rebuild_usage_daily, record_usage
from autopack.settings import Settings

PAGES = [
    "/ui/",
    "/ui/runs/{run}",
    "/ui/runs/{run}/phases/{phase}",
    "/ui/approvals",
    "/ui/usage",
    "/ui/models",
    "/ui/issues",
    "/ui/decisions",
    "/ui/notes",
    "/ui/health",
]


def seed(app: Any, runs: int, phases_per_run: int, prefix: str = "bench") -> None:
    """``runs`` runs of ``phases_per_run`` phases, each phase with two attempts and two
    LLM calls, written with the real run-creation service."""
    factory = app.state.session_factory
    settings: Settings = app.state.settings
    for r in range(runs):
        run_id = f"{prefix}-{r:03d}"
        spec = plan_from_data(
            {
                "run_id": run_id,
                "goal": "benchmark",
                "budgets": {"max_phases": phases_per_run},
                "tiers": [{"tier_id": "T1", "name": "Core"}],
                "phases": [
                    {"phase_id": f"p{i:05d}", "tier_id": "T1", "name": f"Phase {i}"}
                    for i in range(phases_per_run)
                ],
            }
        )
        with unit_of_work(factory) as session:
            run = create_run(session, spec, runs_dir=settings.runs_dir)
            session.flush()
            phase_rows = session.query(Phase.id, Phase.phase_id).filter(Phase.run_id == run.id)
            attempts, calls = [], []
            for pk, phase_id in phase_rows:
                attempts.append(
                    {
                        "run_id": run_id,
                        "phase_pk": pk,
                        "role": "builder",
                        "status": "done",
                        "tokens_used": 1200,
                        "payload": {"stage": "done", "text": "{}"},
                    }
                )
                attempts.append(
                    {
                        "run_id": run_id,
                        "phase_pk": pk,
                        "role": "auditor",
                        "status": "approve",
                        "tokens_used": 600,
                        "payload": {"recommendation": "approve"},
                    }
                )
                for role in ("builder", "auditor"):
                    calls.append(
                        {
                            "provider": "anthropic",
                            "model": "claude-sonnet-4-5",
                            "role": role,
                            "run_id": run_id,
                            "phase_id": phase_id,
                            "prompt_tokens": 900,
                            "completion_tokens": 300,
                            "total_tokens": 1200,
                            "cost_usd": 0.0072,
                        }
                    )
            session.bulk_insert_mappings(PhaseAttempt, attempts)  # type: ignore[arg-type]
            session.bulk_insert_mappings(LlmUsageEvent, calls)  # type: ignore[arg-type]
            # Two executor decisions per phase, an approval decided for one phase in 20
            # (the runs' first one still pending in every tenth run), and a backlog that
            # grows by 20 issue keys per run.
            session.bulk_insert_mappings(
                DecisionLog,  # type: ignore[arg-type]
                [
                    {
                        "run_id": run_id,
                        "phase_id": f"p{i // 2:05d}",
                        "decision": "auditor_approved" if i % 2 else "patch_applied",
                        "rationale": "tests pass; the diff stays in scope",
                    }
                    for i in range(2 * phases_per_run)
                ],
            )
            session.bulk_insert_mappings(
                Approval,  # type: ignore[arg-type]
                [
                    {
                        "run_id": run_id,
                        "phase_id": f"p{i:05d}",
                        "kind": "large_deletion",
                        "status": "pending" if i == 0 and r % 10 == 0 else "approved",
                        "reason": "deletes 120 lines",
                        "details": {"diff": "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"},
                    }
                    for i in range(0, phases_per_run, 20)
                ],
            )
            session.bulk_insert_mappings(
                ProjectIssue,  # type: ignore[arg-type]
                [
                    {
                        "issue_key": f"{prefix}-{r:03d}-issue-{k:02d}",
                        "category": "test_failure",
                        "age_in_runs": k,
                        "occurrence_count": k + 1,
                        "seen_in_runs": [run_id],
                        "first_seen_run_id": run_id,
                        "last_seen_run_id": run_id,
                    }
                    for k in range(20)
                ],
            )
            session.query(Phase).filter(Phase.run_id == run_id).update(
                {Phase.state: "COMPLETE", Phase.builder_attempts: 1, Phase.auditor_attempts: 1}
            )


def count_calls(app: Any) -> int:
    with unit_of_work(app.state.session_factory) as session:
        return int(session.scalar(select(func.count()).select_from(LlmUsageEvent)) or 0)


def time_pages(client: TestClient, run: str, phase: str, repeats: int = 7) -> dict[str, float]:
    """Median server time in milliseconds of each page."""
    out = {}
    for template in PAGES:
        url = template.format(run=run, phase=phase)
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            client.get(url)
            samples.append((time.perf_counter() - start) * 1000)
        out[template] = statistics.median(samples)
    return out


def usage_after_new_calls(app: Any, client: TestClient, repeats: int = 7) -> tuple[float, float]:
    """Median server time and CPU time (ms) of the usage page right after one more LLM
    call is recorded (through ``record_usage``, as executors do), so nothing cached about
    the previous calls can answer it."""
    completion = Completion(
        text="x",
        provider="anthropic",
        model="claude-sonnet-4-5",
        usage=Usage.reported(900, 300),
        stop_reason="end",
    )
    request = LLMRequest(
        role="builder", system="s", messages=(Message("user", "u"),), max_tokens=10
    )
    wall, cpu = [], []
    client.get("/ui/usage")
    for _ in range(repeats):
        with unit_of_work(app.state.session_factory) as session:
            record_usage(session, completion=completion, request=request)
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get("/ui/usage")
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, response.text[:300]
    return statistics.median(wall), statistics.median(cpu)


def print_table(title: str, empty: dict[str, float], loaded: dict[str, float]) -> None:
    print(f"\n{title}")
    print(f"{'page':34} {'empty':>10} {'loaded':>10}")
    for page in PAGES:
        print(f"{page:34} {empty[page]:9.1f}ms {loaded[page]:9.1f}ms")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fan_out(
    settings: Settings, clients: int = 50, events: int = 20, *, remote: bool = False
) -> list[float]:
    """Latencies (ms) of ``events`` events, each read by ``clients`` SSE clients; with
    ``remote`` the events come from another bus through PostgreSQL NOTIFY."""
    port = free_port()
    cfg = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    app = create_app(cfg)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    bus = app.state.event_bus
    engine = make_engine(settings.effective_database_url) if remote else None
    publisher = EventBus(relay=PgNotifyRelay(engine)) if engine is not None else bus
    latencies: list[float] = []

    async def client(ready: asyncio.Event, counter: list[int]) -> None:
        async with (
            httpx.AsyncClient(timeout=60) as http,
            http.stream("GET", f"http://127.0.0.1:{port}/events") as response,
        ):
            counter[0] += 1
            if counter[0] == clients:
                ready.set()
            seen = 0
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    published = json.loads(line[5:])["t"]
                    latencies.append((time.perf_counter() - published) * 1000)
                    seen += 1
                    if seen == events:
                        return

    async def main() -> None:
        ready = asyncio.Event()
        counter = [0]
        tasks = [asyncio.create_task(client(ready, counter)) for _ in range(clients)]
        await ready.wait()
        while bus.subscriber_count < clients:
            await asyncio.sleep(0.01)

        def publish() -> None:
            for i in range(events):
                publisher.publish("progress", "bench", line=f"event {i}", t=time.perf_counter())
                time.sleep(0.05)

        await asyncio.to_thread(publish)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)

    asyncio.run(main())
    server.should_exit = True
    thread.join(5)
    if engine is not None:
        engine.dispose()
    return latencies


def postgres_fan_out(home: Path) -> list[float] | None:
    """The fan-out on a scratch PostgreSQL database, or None without one configured."""
    admin_url = os.environ.get("AUTOPACK_TEST_POSTGRES_URL")
    if not admin_url:
        return None
    name = f"autopack_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(normalize_url(admin_url)).set(database=name)
        url_text = url.render_as_string(hide_password=False)
        engine = make_engine(url_text)
        migrate.upgrade(engine)
        engine.dispose()
        settings = Settings(
            home=home / "pg", database_url=url_text, allowed_hosts=["testserver", "127.0.0.1"]
        )
        return fan_out(settings, remote=True)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def print_latencies(title: str, latencies: list[float]) -> None:
    latencies = sorted(latencies)
    n = len(latencies)
    print(
        f"{title} ({n} deliveries): p50 {latencies[n // 2]:.1f}ms, "
        f"p95 {latencies[int(n * 0.95)]:.1f}ms, max {latencies[-1]:.1f}ms"
    )


def main() -> None:
    quick = "--quick" in sys.argv
    usage_only = "--usage" in sys.argv
    runs, per_run, big = (5, 200, 1000) if quick else (50, 200, 10_000)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ.pop("AUTOPACK_API_KEYS", None)
        settings = Settings(home=home, allowed_hosts=["testserver", "127.0.0.1"])
        app = create_app(settings)
        with TestClient(app) as client:
            with unit_of_work(app.state.session_factory) as session:
                create_run(
                    session,
                    plan_from_data(
                        {
                            "run_id": "empty",
                            "tiers": [{"tier_id": "T1", "name": "Core"}],
                            "phases": [{"phase_id": "p00000", "tier_id": "T1", "name": "One"}],
                        }
                    ),
                    runs_dir=settings.runs_dir,
                )
            empty = time_pages(client, "empty", "p00000")
            start = time.perf_counter()
            seed(app, runs, per_run)
            seed(app, 1, big, prefix="big")
            # The calls went in by bulk insert, around record_usage: sum them per day.
            with unit_of_work(app.state.session_factory) as session:
                rebuild_usage_daily(session)
            seeded = time.perf_counter() - start
            calls = count_calls(app)
            usage_wall, usage_cpu = usage_after_new_calls(app, client)
            if usage_only:
                print(
                    f"usage page after a new LLM call, {calls:,} calls: "
                    f"{usage_wall:.1f}ms server time, {usage_cpu:.1f}ms CPU (median of 7)"
                )
                return
            loaded = time_pages(client, "bench-000", "p00000")
            big_run = time_pages(client, "big-000", "p00000")
        total = runs * per_run
        print(
            f"seeded {total:,} phases in {runs} runs + one run of {big:,} phases "
            f"in {seeded:.1f}s (SQLite)"
        )
        print_table(
            f"server time per page (median of 7), empty vs {total:,} phases in {runs} runs "
            f"(run/phase pages: a {per_run}-phase run)",
            empty,
            loaded,
        )
        print(
            f"\nrun page of a single run with {big:,} phases: "
            f"{big_run['/ui/runs/{run}']:.1f}ms, one of its phases "
            f"{big_run['/ui/runs/{run}/phases/{phase}']:.1f}ms; board with {total + big:,} phases: "
            f"{big_run['/ui/']:.1f}ms"
        )
        print(
            f"usage page after a new LLM call, {calls:,} calls: "
            f"{usage_wall:.1f}ms server time, {usage_cpu:.1f}ms CPU (median of 7)"
        )
        print()
        print_latencies(
            "SSE fan-out in-process (SQLite), 50 clients x 20 events", fan_out(settings)
        )
        remote = postgres_fan_out(home)
        if remote is None:
            print("SSE fan-out over PostgreSQL NOTIFY: skipped (AUTOPACK_TEST_POSTGRES_URL unset)")
        else:
            print_latencies("SSE fan-out over PostgreSQL NOTIFY, 50 clients x 20 events", remote)


if __name__ == "__main__":
    main()
