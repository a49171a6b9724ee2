"""Notifications never slow a run: a scripted run's duration with no sender, with a sender
busy on a channel that hangs 5 s per request and then answers 503, and with a sender on a
channel that answers at once; plus how fast one sender drains a backlog.

The busy sender has a backlog of 30 due rows, so it claims, waits and records failures
for the whole run, sharing the SQLite database with the executor.

Run: ``.venv/bin/python benchmarks/notifications.py [PHASES]`` (default 20).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from autopack.db.database import Database, open_database
from autopack.db.session import unit_of_work
from autopack.executor.loop import build_deps, execute_run
from autopack.notifications.webhook import WebhookChannel, WebhookConfig
from autopack.planning.normalize import load_plan
from autopack.services import notifications
from autopack.services.notification_sender import NotificationSender
from autopack.services.runs import create_run
from autopack.settings import Settings


@contextmanager
def receiver(delay: float, status: int) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


def _repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir(parents=True)
    (repo / "README.md").write_text("benchmark\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


def _run(root: Path, settings: Settings, db: Database, run_id: str, n: int) -> float:
    repo = _repo(root / run_id)
    phases = [
        {
            "phase_id": f"p{i:03d}",
            "name": f"phase {i}",
            "scope": {"paths": ["out/"], "tests": ["true"]},
        }
        for i in range(n)
    ]
    plan = root / f"{run_id}.yaml"
    plan.write_text(
        yaml.safe_dump({"run_id": run_id, "phases": phases, "budgets": {"max_phases": n + 1}})
    )
    lines = []
    usage = {"prompt_tokens": 100, "completion_tokens": 20}
    verdict = json.dumps(
        {"recommendation": "approve", "confidence": 0.9, "review_notes": "ok", "issues": []}
    )
    for i in range(n):
        create = json.dumps({"op": "create", "path": f"out/f{i}.txt", "content": f"{i}\n"})
        lines.append(
            {"role": "builder", "phase_id": f"p{i:03d}", "content": create, "usage": usage}
        )
        lines.append(
            {"role": "auditor", "phase_id": f"p{i:03d}", "content": verdict, "usage": usage}
        )
    script = root / f"{run_id}.jsonl"
    script.write_text("".join(json.dumps(x) + "\n" for x in lines))
    cfg = settings.model_copy(update={"llm_script": script})
    with unit_of_work(db.factory) as session:
        create_run(session, load_plan(plan), runs_dir=cfg.runs_dir, repo_path=str(repo))
    start = time.perf_counter()
    outcome = execute_run(build_deps(cfg, db), run_id)
    elapsed = time.perf_counter() - start
    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    return elapsed


def _backlog(db: Database, run_id: str, count: int) -> None:
    with unit_of_work(db.factory) as session:
        for i in range(count):
            notifications.enqueue(session, "run_failed", run_id, payload={"title": f"b{i}"})


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory(prefix="autopack-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(home=root / "home", llm_provider="scripted")
        db = open_database(settings)
        quiet = _run(root, settings, db, "quiet", n)

        _backlog(db, "quiet", 30)
        with receiver(5.0, 503) as url:
            channel = WebhookChannel("slow", WebhookConfig(url=url, secret="x" * 16))
            sender = NotificationSender(db.factory, {"slow": channel}, poll_seconds=0.1).start()
            busy = _run(root, settings, db, "busy", n)
            sender.stop(timeout=0.1)

        with receiver(0.0, 200) as url:
            channel = WebhookChannel("fast", WebhookConfig(url=url, secret="x" * 16))
            sender = NotificationSender(db.factory, {"fast": channel}, poll_seconds=0.1).start()
            served = _run(root, settings, db, "served", n)
            sender.stop(timeout=1)
            _backlog(db, "served", 200)
            start = time.perf_counter()
            drainer = NotificationSender(db.factory, {"fast": channel}).start()
            left = drainer.flush(60)
            drain = time.perf_counter() - start
            drainer.stop()
        db.dispose()
    print(f"{'run of ' + str(n) + ' phases':<44} {'seconds':>8}")
    print(f"{'no sender':<44} {quiet:>8.2f}")
    print(f"{'sender on a channel hanging 5 s, then 503':<44} {busy:>8.2f}")
    print(f"{'sender on a channel answering at once':<44} {served:>8.2f}")
    print(f"slowdown with the hanging channel: {100 * (busy - quiet) / quiet:+.1f}%")
    print(f"drain 200 rows through one sender: {drain:.2f} s ({200 / drain:.0f}/s), {left} left")


if __name__ == "__main__":
    main()
