"""`autopack runs execute RUN_ID... [--max-concurrent N]`: several runs at once, each in
its own worker process, with one live table and a report (cli/batch.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from autopack.cli.output import database, settings
from autopack.cli.runs_cmd import runs_app
from autopack.errors import ValidationError

# cli/batch.py (the execution pool, progress, the database layer) is imported inside the
# command: this module adds `runs execute` to the `runs` group, so it is imported for every
# `runs` sub-command, `runs list` included.


@runs_app.command("execute")
def runs_execute(
    run_ids: list[str] = typer.Argument(..., help="Runs to execute (created, or to resume)."),
    max_concurrent: int = typer.Option(
        4, "--max-concurrent", "-j", min=1, max=64, help="How many runs execute at once."
    ),
    report: Path = typer.Option(
        None,
        "--report",
        file_okay=False,
        help="Directory for the report (default: AUTOPACK_HOME/reports).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON, no table."),
) -> None:
    """Execute several runs at once, each in its own worker process.

    Shows one live table (run, state, phase, tokens, elapsed) and writes a report, in
    Markdown and JSON, of each run's timing, state, tokens and cost; prints its paths. A
    run another executor holds is reported, not executed twice. Exit codes: 0 when every
    run ends in DONE_SUCCESS, 1 otherwise, 2 on usage errors.
    """
    from autopack.cli.batch import batch_succeeded, execute_many, known_runs

    cfg = settings()
    db = database()
    try:
        unknown = sorted(set(run_ids) - {p.run_id for p in known_runs(db, run_ids)})
        if unknown:
            raise ValidationError(
                f"unknown run(s): {', '.join(unknown)}; create them with `autopack runs "
                "create PLAN --repo DIR` (see `autopack runs list`)",
                field="run_ids",
            )
        batch = execute_many(
            cfg, db, run_ids, max_concurrent=max_concurrent, report_dir=report, as_json=as_json
        )
    finally:
        db.dispose()
    if not batch_succeeded(batch):
        raise typer.Exit(1)
