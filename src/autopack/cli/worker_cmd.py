"""Remote workers: `autopack worker`, `autopack workers list`, `autopack runs enqueue`."""

from __future__ import annotations

import logging

import typer
from rich.table import Table

from autopack.cli.main import app
from autopack.cli.output import console, database, err_console, print_json, settings
from autopack.cli.runs_cmd import runs_app
from autopack.errors import AutopackError, ConfigurationError

# Services are imported inside each command: this module adds `runs enqueue` to the `runs`
# group, so it is imported for every `runs` sub-command, `runs list` included.

workers_app = typer.Typer(help="Remote workers (PostgreSQL deployments).", no_args_is_help=True)
app.add_typer(workers_app, name="workers")

_NEEDS_POSTGRES = (
    "remote workers need PostgreSQL: set AUTOPACK_DATABASE_URL=postgresql+psycopg://USER@HOST/DB "
    "and run `autopack db upgrade`. With the embedded SQLite database runs execute on the "
    "local pool of `autopack serve`, or in `autopack run`."
)


@app.command("worker")
def worker(
    concurrency: int = typer.Option(
        None,
        "--concurrency",
        min=1,
        max=64,
        help="Runs executed at once (default AUTOPACK_WORKER_CONCURRENCY, 1).",
    ),
) -> None:
    """Take run jobs from the PostgreSQL job queue and execute them, until SIGTERM/Ctrl-C.

    Start any number, on any machines that reach the database and the runs' repositories.
    A worker registers itself (`autopack workers list`). On SIGTERM it finishes each
    current step, releases the run and queues it again for another worker. A worker that
    dies (kill -9) is noticed by the others once its heartbeat is older than
    AUTOPACK_WORKER_STALE_SECONDS, and they resume its runs from their last completed step.
    Exits 2 on SQLite (remote workers need PostgreSQL)."""
    from autopack.distributed.worker import RunWorker

    cfg = settings()
    if cfg.is_embedded_database:
        raise ConfigurationError(_NEEDS_POSTGRES)
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(name)s %(message)s")
    db = database()
    runner = RunWorker(cfg, db, concurrency=concurrency or cfg.worker_concurrency)
    err_console.print(
        f"autopack worker {runner.worker_id}: concurrency {runner.concurrency}, database "
        f"{db.engine.url.render_as_string(hide_password=True)}"
    )
    from autopack.services.notification_sender import start_sender

    sender = start_sender(cfg, db.factory)
    try:
        runner.run()
    finally:
        sender.stop()
        db.dispose()


@workers_app.command("list")
def workers_list(
    include_stopped: bool = typer.Option(
        False, "--all", help="Also list workers that stopped cleanly."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Registered workers: host, pid, version, status (alive or stale by heartbeat age,
    or stopped) and the runs each executes now."""
    from autopack.services import workers as worker_service

    cfg = settings()
    db = database()
    with db.factory() as session:
        views = worker_service.list_workers(
            session, stale_after=cfg.worker_stale_seconds, include_stopped=include_stopped
        )
    db.dispose()
    if as_json:
        print_json([v.to_dict() for v in views])
        return
    if not views:
        console.print(
            "no workers registered"
            + ("" if not cfg.is_embedded_database else f" ({_NEEDS_POSTGRES})")
        )
        return
    table = Table("id", "host", "pid", "version", "status", "heartbeat", "runs")
    for v in views:
        colour = {"alive": "green", "stale": "red"}.get(v.status, "dim")
        table.add_row(
            v.id,
            v.host,
            str(v.pid),
            v.version,
            f"[{colour}]{v.status}[/]",
            f"{v.heartbeat_age_seconds:.0f}s ago",
            ", ".join(v.current_runs) or "-",
        )
    console.print(table)


@runs_app.command("enqueue")
def runs_enqueue(
    run_ids: list[str] = typer.Argument(..., help="Runs to queue for the workers."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Queue runs for `autopack worker` processes (PostgreSQL). A run already waiting in
    the queue is reported as "already queued", not an error. Exits 1 when any run could
    not be queued (finished, executing, no repository), 2 on SQLite."""
    from autopack.cli.identity import cli_identity
    from autopack.distributed.queue import RunQueue
    from autopack.services import execution

    cfg = settings()
    if cfg.is_embedded_database:
        raise ConfigurationError(_NEEDS_POSTGRES)
    cfg = cfg.model_copy(update={"execution": "queue"})
    db = database()
    queue = RunQueue(cfg)
    results: list[dict[str, object]] = []
    failed = False
    try:
        for run_id in run_ids:
            try:
                sub = execution.submit_run(
                    db.factory, cfg, run_id, queue=queue, actor=cli_identity()
                )
                results.append({"run_id": run_id, "queued": sub.accepted, "message": sub.message})
            except AutopackError as exc:
                failed = True
                results.append({"run_id": run_id, "queued": False, "error": exc.message})
    finally:
        queue.close()
        db.dispose()
    if as_json:
        print_json(results)
    else:
        for r in results:
            if "error" in r:
                console.print(f"[red]{r['run_id']}[/]: {r['error']}")
            else:
                console.print(str(r["message"]))
    if failed:
        raise typer.Exit(1)
