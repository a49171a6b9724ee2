"""Several runs at once, each in its own worker process, with one live table and a report
at the end: what `autopack runs execute RUN_ID...` and `autopack run PLAN...
--max-concurrent N` do."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.live import Live
from rich.table import Table

from autopack.cli.batch_report import BatchRun, report_data, write_report
from autopack.cli.output import console, err_console, print_json
from autopack.db.database import Database
from autopack.errors import ValidationError
from autopack.executor.pool import ExecutionPool
from autopack.services.progress import RunProgress, runs_progress
from autopack.settings import Settings

REFRESH_SECONDS = 0.5


def _table(progress: list[RunProgress], pool: ExecutionPool, done: dict[str, str | None]) -> Table:
    table = Table(title="Autopack runs", expand=False)
    for column in ("run", "state", "phase", "phases", "tokens", "elapsed"):
        table.add_column(column, justify="right" if column in ("tokens", "elapsed") else "left")
    now = time.time()
    for p in progress:
        started, ended = pool.timing(p.run_id)
        if started is None:
            elapsed, state = "-", "waiting" if p.run_id not in done else p.state
        else:
            elapsed, state = f"{(ended or now) - started:6.1f}s", p.state
        error = done.get(p.run_id)
        table.add_row(
            p.run_id,
            f"[red]{state}[/]" if error or "FAILED" in state else state,
            p.phase or "-",
            f"{p.phases_done}/{p.phases_total}",
            f"{p.tokens_used:,}",
            elapsed,
        )
    return table


def execute_many(
    cfg: Settings,
    db: Database,
    run_ids: list[str],
    *,
    max_concurrent: int,
    report_dir: Path | None,
    as_json: bool,
) -> list[BatchRun]:
    """Execute ``run_ids`` in worker processes, ``max_concurrent`` at once, showing a live
    table (not with ``as_json``); write the report and print its paths (or, with
    ``as_json``, print the report with its paths)."""
    if len(set(run_ids)) != len(run_ids):
        raise ValidationError("a run id is given twice; give each run once", field="run_ids")
    finished: dict[str, str | None] = {}
    all_done = threading.Event()
    lock = threading.Lock()

    def on_done(run_id: str, result: dict[str, object]) -> None:
        with lock:
            error = result.get("error")
            finished[run_id] = str(error) if error else None
            if len(finished) == len(run_ids):
                all_done.set()

    started = time.time()
    pool = ExecutionPool(cfg, max_concurrent, on_done=on_done)
    try:
        for run_id in run_ids:
            pool.submit(run_id)
        if as_json:
            all_done.wait()
        else:
            with Live(console=err_console, refresh_per_second=4, transient=False) as live:
                while not all_done.wait(REFRESH_SECONDS):
                    live.update(_view(db, run_ids, pool, finished))
                live.update(_view(db, run_ids, pool, finished))
    finally:
        pool.shutdown(wait=True)
    wall = time.time() - started
    with db.factory() as session:
        progress = {p.run_id: p for p in runs_progress(session, run_ids)}
    batch = [
        BatchRun(
            run_id=run_id,
            progress=progress.get(run_id),
            started_at=pool.timing(run_id)[0],
            ended_at=pool.timing(run_id)[1],
            error=finished.get(run_id),
        )
        for run_id in run_ids
    ]
    data = report_data(batch, max_concurrent=max_concurrent, wall_seconds=wall)
    directory = report_dir or cfg.home / "reports"
    markdown, as_json_path = write_report(data, directory, now=datetime.now(UTC))
    if as_json:
        print_json({**data, "report_markdown": str(markdown), "report_json": str(as_json_path)})
    else:
        console.print(
            f"{data['succeeded']} of {len(run_ids)} runs succeeded in {wall:.1f}s "
            f"(at most {max_concurrent} at once), {data['total_tokens']:,} tokens"
        )
        for run in batch:
            if run.error:
                console.print(f"[red]{run.run_id}:[/] {run.error}")
        # Plain lines, never wrapped: scripts pick the paths up.
        console.print(f"report: {markdown}", soft_wrap=True, highlight=False)
        console.print(f"report (JSON): {as_json_path}", soft_wrap=True, highlight=False)
    return batch


def _view(
    db: Database, run_ids: list[str], pool: ExecutionPool, finished: dict[str, str | None]
) -> Table:
    with db.factory() as session:
        return _table(runs_progress(session, run_ids), pool, dict(finished))


def batch_succeeded(batch: list[BatchRun]) -> bool:
    """Every run of the batch ended in DONE_SUCCESS."""
    return all(r.progress is not None and r.progress.state == "DONE_SUCCESS" for r in batch)


def known_runs(db: Database, run_ids: list[str]) -> list[RunProgress]:
    """The runs of ``run_ids`` that exist."""
    with db.factory() as session:
        return runs_progress(session, run_ids)
