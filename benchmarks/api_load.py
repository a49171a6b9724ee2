"""API under load: the two status routes against a bare FastAPI app, on the same machine
and client, plus the time to create a run of a 100-phase plan.

Setup: ``--runs`` runs of ``--phases`` phases (default 100 x 100) are created through the
run service (a third of each run's phases COMPLETE, so the current phase is mid-run), on
the embedded SQLite default or, with ``--postgres URL``, on a private PostgreSQL database
created for the run and dropped after it.

Load: each server runs in its own subprocess under uvicorn (the real one through
``autopack serve``, exactly as an operator starts it, access log on; the bare one is a
FastAPI app with one trivial route, with uvicorn's defaults), while ``--clients`` (32)
concurrent httpx async clients request each target for ``--seconds`` in one-second
turns that alternate between the targets (so a drifting machine load drifts for all of
them), after a one-second warm-up, each asking for a random run. Printed per target:
requests/s, p50, p99 and the ratio to the bare ceiling. Targets: at least half of the
ceiling, p99 under 50 ms.

The client is Python too, on the same cores: also printed per target are the server's
CPU time per request (steadier than requests/s on a shared machine) and the cores the
server and the client process(es) used while it was driven. A client near one core is
the bottleneck, not the server; ``--client-processes N`` spreads the clients over N
processes that start each turn together (the bare app and ours are driven alike).

Run creation (target < 50 ms): the service call (``services.runs.create_run`` in its own
committed transaction) and ``POST /runs`` on the running server, median of ``--creates``.

Run: ``.venv/bin/python benchmarks/api_load.py [--seconds 10] [--postgres URL] [--quick]
[--create-only] [--client-processes N]``. ``--create-only`` skips the load (and the bare
server): the seeded runs, then run creation only, with its fastest, median and slowest time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

import httpx

BARE_APP = """
import sys
import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
def ping() -> dict[str, bool]:
    return {"ok": True}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def plan(run_id: str, phases: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "goal": "benchmark the API",
        "budgets": {"max_phases": phases},
        "tiers": [
            {"tier_id": "T1", "name": "Core", "tier_index": 0},
            {"tier_id": "T2", "name": "Edges", "tier_index": 1},
        ],
        "phases": [
            {
                "phase_id": f"p{i:04d}",
                "tier_id": "T1" if i < phases // 2 else "T2",
                "name": f"Phase {i}",
                "description": f"Do part {i} of the work, with its tests.",
                "scope": {"paths": [f"src/part_{i}.py", f"tests/test_part_{i}.py"]},
            }
            for i in range(phases)
        ],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def private_postgres(url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``url``, migrated; dropped after."""
    from sqlalchemy import make_url, text

    from autopack.db import migrate
    from autopack.db.session import make_engine, normalize_url

    name = f"autopack_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    private = make_url(normalize_url(url)).set(database=name).render_as_string(False)
    engine = make_engine(private)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield private
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(settings: Any, runs: int, phases: int) -> list[str]:
    """``runs`` runs through the run service; the first third of each run's phases done."""
    from sqlalchemy import update

    from autopack.db.database import open_database
    from autopack.db.orm import Phase
    from autopack.db.session import unit_of_work
    from autopack.planning.normalize import plan_from_data
    from autopack.services.runs import create_run

    db = open_database(settings)
    ids = []
    for r in range(runs):
        run_id = f"load-{r:03d}"
        with unit_of_work(db.factory) as session:
            create_run(session, plan_from_data(plan(run_id, phases)), runs_dir=settings.runs_dir)
            session.flush()
            session.execute(
                update(Phase)
                .where(Phase.run_id == run_id, Phase.phase_index < phases // 3)
                .values(state="COMPLETE", builder_attempts=1, auditor_attempts=1)
            )
        ids.append(run_id)
    db.dispose()
    return ids


def time_service_creation(settings: Any, phases: int, repeats: int) -> list[float]:
    """Milliseconds of ``create_run`` for a ``phases``-phase plan, committed."""
    from autopack.db.database import open_database
    from autopack.db.session import unit_of_work
    from autopack.planning.normalize import plan_from_data
    from autopack.services.runs import create_run

    db = open_database(settings)
    times = []
    for i in range(repeats):
        spec = plan_from_data(plan(f"svc-{i:03d}", phases))
        start = time.perf_counter()
        with unit_of_work(db.factory) as session:
            create_run(session, spec, runs_dir=settings.runs_dir)
        times.append((time.perf_counter() - start) * 1000)
    db.dispose()
    return times


@contextmanager
def server(command: list[str], port: int, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    base = f"http://127.0.0.1:{port}"
    # The server's log (with the access log's line per request) goes to a file: a pipe
    # nobody reads would fill and stall it.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        yield from _serve(proc, log, base)


def _serve(proc: subprocess.Popen[bytes], log: IO[bytes], base: str) -> Iterator[tuple[str, int]]:
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                err = log.read().decode(errors="replace")
                raise SystemExit(f"server exited with {proc.returncode}: {err[-2000:]}")
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("server did not start in 60 s") from None
                time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Targets = dict[str, tuple[str, list[str], int]]  # label -> base URL, paths, server pid


async def drive_part(
    targets: Targets, clients: int, seconds: float, slices: int, turn: Any, lead: bool
) -> dict[str, dict[str, Any]]:
    """One client process's share: ``clients`` concurrent clients on each target in
    turns; ``turn()`` waits for the other client processes before each turn. Per target:
    the latencies, the turns' wall time, this process's CPU seconds and (``lead`` only)
    the server's CPU seconds during the turns."""
    found: dict[str, dict[str, Any]] = {
        label: {"latencies": [], "wall": 0.0, "client_cpu": 0.0, "server_cpu": 0.0}
        for label in targets
    }
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    pool = {
        label: httpx.AsyncClient(base_url=base, limits=limits, timeout=30)
        for label, (base, _, _) in targets.items()
    }

    async def worker(label: str, until: float, record: list[float] | None) -> None:
        client, paths, rng = pool[label], targets[label][1], random.Random()
        while time.perf_counter() < until:
            start = time.perf_counter()
            try:
                response = await client.get(rng.choice(paths))
            except (httpx.ReadError, httpx.RemoteProtocolError):
                # A kept-alive connection the server closed while its target waited for
                # its turn (uvicorn closes idle ones after 5 s): ask again, unrecorded.
                continue
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                raise SystemExit(f"{label}: {response.status_code} {response.text[:300]}")
            if record is not None:
                record.append(elapsed)

    try:
        for label in targets:  # warm-up: connections open, first-use work done
            turn()
            until = time.perf_counter() + 1.0
            await asyncio.gather(*(worker(label, until, None) for _ in range(clients)))
        for _ in range(slices):
            for label, (_, _, pid) in targets.items():
                turn()
                into = found[label]
                server_before = cpu_seconds(pid) if lead else 0.0
                cpu_before, start = time.process_time(), time.perf_counter()
                until = start + seconds / slices
                await asyncio.gather(
                    *(worker(label, until, into["latencies"]) for _ in range(clients))
                )
                into["wall"] += time.perf_counter() - start
                into["client_cpu"] += time.process_time() - cpu_before
                if lead:
                    into["server_cpu"] += cpu_seconds(pid) - server_before
    finally:
        for client in pool.values():
            await client.aclose()
    return found


def _drive_process(
    targets: Targets, clients: int, seconds: float, slices: int, barrier: Any, lead: bool, out: Any
) -> None:
    out.put(asyncio.run(drive_part(targets, clients, seconds, slices, barrier.wait, lead)))


def drive(
    targets: Targets, clients: int, seconds: float, slices: int, processes: int = 1
) -> dict[str, dict[str, float]]:
    """Each target (a base URL, the paths to ask at random, its server's pid) under
    ``clients`` concurrent clients for ``seconds`` in all, in ``slices`` turns that
    alternate between the targets: a machine whose load drifts (other processes) drifts
    for all of them alike, so the ratios hold even when the absolute numbers move. The
    clients are spread over ``processes`` client processes that start each turn
    together."""
    if processes == 1:
        parts = [asyncio.run(drive_part(targets, clients, seconds, slices, lambda: None, True))]
    else:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        barrier, out = ctx.Barrier(processes), ctx.Queue()
        shares = [clients // processes + (i < clients % processes) for i in range(processes)]
        procs = [
            ctx.Process(
                target=_drive_process,
                args=(targets, share, seconds, slices, barrier, i == 0, out),
            )
            for i, share in enumerate(shares)
        ]
        for proc in procs:
            proc.start()
        parts = []
        while len(parts) < len(procs):
            try:
                parts.append(out.get(timeout=1))
            except queue.Empty:
                # A client process that died (an error answer, a crash) never reports:
                # stop rather than wait for it forever.
                failed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if failed:
                    for proc in procs:
                        proc.kill()
                    raise SystemExit(f"a client process failed (exit codes {failed})") from None
        for proc in procs:
            proc.join()
    results = {}
    for label in targets:
        found = sorted(x for part in parts for x in part[label]["latencies"])
        wall = max(part[label]["wall"] for part in parts)
        results[label] = {
            "rps": len(found) / wall,
            "p50": found[len(found) // 2] * 1000,
            "p99": found[min(len(found) - 1, int(len(found) * 0.99))] * 1000,
            # Cores busy while the target was driven: the client processes, the server.
            "client_cores": sum(part[label]["client_cpu"] for part in parts) / wall,
            "server_cores": sum(part[label]["server_cpu"] for part in parts) / wall,
            "server_ms": sum(part[label]["server_cpu"] for part in parts) * 1000 / len(found),
        }
    return results


def time_http_creation(base: str, phases: int, repeats: int) -> list[float]:
    times = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(repeats):
            body = plan(f"http-{i:03d}", phases)
            start = time.perf_counter()
            response = client.post("/runs", json=body)
            times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 201:
                raise SystemExit(f"POST /runs answered {response.status_code}: {response.text}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--phases", type=int, default=100)
    parser.add_argument("--creates", type=int, default=20)
    parser.add_argument("--postgres", metavar="URL", help="run on PostgreSQL (any database)")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=1,
        help="spread the clients over this many processes (default 1)",
    )
    parser.add_argument("--quick", action="store_true", help="3 s per target, 20 runs")
    parser.add_argument(
        "--create-only", action="store_true", help="measure run creation only, no load"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.runs, args.creates = 3.0, 20, 10

    from autopack.settings import Settings

    database = private_postgres(args.postgres) if args.postgres else nullcontext(None)
    with tempfile.TemporaryDirectory() as tmp, database as pg_url:
        home = Path(tmp) / "home"
        settings = Settings(home=home, database_url=pg_url) if pg_url else Settings(home=home)
        backend = "PostgreSQL" if pg_url else "SQLite (embedded)"
        print(
            f"api_load: {args.runs} runs x {args.phases} phases on {backend}, "
            f"{args.clients} clients, {args.seconds:g} s per target, {os.cpu_count()} cores"
        )
        start = time.perf_counter()
        run_ids = seed(settings, args.runs, args.phases)
        print(f"seeded in {time.perf_counter() - start:.1f} s")
        service_ms = time_service_creation(settings, args.phases, args.creates)

        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPACK_")}
        env.update(
            AUTOPACK_HOME=str(home),
            AUTOPACK_RUN_CREATE_RATE_PER_MINUTE="100000",
            AUTOPACK_LOG_LEVEL="INFO",  # as deployed: the access log writes every request
        )
        if pg_url:
            env["AUTOPACK_DATABASE_URL"] = pg_url
        # Both servers run at once (the one not driven is idle) so that their turns can
        # alternate.
        bare_port, port = free_port(), free_port()
        # The console script next to this interpreter: what an operator runs.
        autopack = [str(Path(sys.executable).parent / "autopack"), "serve", "--port", str(port)]
        if args.create_only:
            with server(autopack, port, env) as (base, _):
                http_ms = time_http_creation(base, args.phases, args.creates)
            report_creation(args.phases, args.creates, service_ms, http_ms)
            return
        with (
            server([sys.executable, "-c", BARE_APP, str(bare_port)], bare_port, env) as (
                bare,
                bare_pid,
            ),
            server(autopack, port, env) as (base, pid),
        ):
            targets = {
                "bare FastAPI GET /ping": (bare, ["/ping"], bare_pid),
                "GET /runs/{id}/status": (base, [f"/runs/{r}/status" for r in run_ids], pid),
                "GET /dashboard/runs/{id}/status": (
                    base,
                    [f"/dashboard/runs/{r}/status" for r in run_ids],
                    pid,
                ),
            }
            slices = max(1, round(args.seconds))
            results = drive(targets, args.clients, args.seconds, slices, args.client_processes)
            http_ms = time_http_creation(base, args.phases, args.creates)

    ceiling = results["bare FastAPI GET /ping"]["rps"]
    print(
        f"\n{'target':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ceiling':>8}"
        f" {'srv ms/req':>10} {'srv cores':>9} {'cli cores':>9}"
    )
    for label, r in results.items():
        print(
            f"{label:34} {r['rps']:8.0f} {r['p50']:8.1f} {r['p99']:8.1f} {r['rps'] / ceiling:8.0%}"
            f" {r['server_ms']:10.2f} {r['server_cores']:9.2f} {r['client_cores']:9.2f}"
        )
    print(
        "srv ms/req: the server's CPU time per request; srv/cli cores: CPU the server and "
        f"the {args.client_processes} client process(es) used while the target was driven"
    )
    report_creation(args.phases, args.creates, service_ms, http_ms)


def report_creation(
    phases: int, creates: int, service_ms: list[float], http_ms: list[float]
) -> None:
    print(f"\ncreate a {phases}-phase run (median of {creates}; target < 50 ms):")
    for label, found in (
        ("service create_run + commit", service_ms),
        ("POST /runs over HTTP", http_ms),
    ):
        print(
            f"  {label:28} {statistics.median(found):7.1f} ms"
            f"  (range {min(found):.1f} - {max(found):.1f})"
        )


if __name__ == "__main__":
    main()
