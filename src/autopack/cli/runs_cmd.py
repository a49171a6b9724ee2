"""Run commands: `runs create`, `runs list`, `status`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from autopack.cli.main import app
from autopack.cli.output import console, database, print_json, read_database, settings
from autopack.cli.text import counted
from autopack.domain.states import RunState

runs_app = typer.Typer(help="Create, list and delete runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("create")
def runs_create(
    plan: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        help="Plan file (.yaml/.yml/.json RunSpec or RunStartRequest, or .md).",
    ),
    run_id: str = typer.Option(None, "--run-id", help="Override the plan's run id."),
    repo: Path = typer.Option(None, "--repo", help="Target repository for the run."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a run from a plan file without executing it.

    Refused (exit 2, naming the field) when a plan path is absolute or leaves the
    repository, or the repository (--repo, else the plan's 'repo') is not a git
    repository."""
    from autopack.planning.normalize import load_plan
    from autopack.planning.validation import check_repository
    from autopack.services import runs as run_service

    spec = load_plan(plan, run_id=run_id)
    repo_path: str | None = None
    if repo is not None:
        repo_path = str(check_repository(str(repo.resolve()), field="--repo"))
    elif spec.repo is not None:
        # A relative 'repo' in a plan file means relative to the file, as `plan` reads it.
        repo_path = str(check_repository(str((plan.parent / spec.repo).resolve())))
    db = database()
    with db.factory.begin() as session:
        run = run_service.create_run(
            session, spec, runs_dir=settings().runs_dir, repo_path=repo_path
        )
        summary = {
            "run_id": run.id,
            "state": run.state,
            "tiers": len(spec.tiers),
            "phases": len(spec.phases),
            "artifacts": str(settings().runs_dir / run.id),
        }
    db.dispose()
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"created run [bold]{summary['run_id']}[/] ({counted(len(spec.tiers), 'tier')}, "
            f"{counted(len(spec.phases), 'phase')}); artifacts in {summary['artifacts']}"
        )


@runs_app.command("list")
def runs_list(
    state: RunState = typer.Option(None, help="Only runs in this state."),
    limit: int = typer.Option(50, min=1, max=500),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List runs, newest first."""
    # Core, or sqlite3 on the embedded database: no ORM (see services/run_overview.py).
    from autopack.services import run_overview

    items, total = read_database(
        lambda conn: run_overview.list_runs_sqlite(conn, state=state, limit=limit),
        lambda conn: run_overview.list_runs(conn, state=state, limit=limit),
    )
    if as_json:
        print_json({"total": total, "runs": items})
        return
    table = Table("run", "state", "phases", "tokens", "created")
    for item in items:
        table.add_row(
            item["run_id"],
            item["state"],
            str(item["phase_count"]),
            f"{item['tokens_used']:,}/{item['token_cap']:,}",
            item["created_at"],
        )
    console.print(table)
    console.print(f"{len(items)} of {total} run(s)")


@app.command("status")
def status(
    run_id: str = typer.Argument(..., help="The run id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a run's state, budgets and phases."""
    # Core, or sqlite3 on the embedded database: never the ORM (see services/run_overview.py).
    from autopack.services import run_overview

    summary = read_database(
        lambda conn: run_overview.read_run_summary_sqlite(conn, run_id),
        lambda conn: run_overview.read_run_summary(conn, run_id),
    )
    if as_json:
        print_json(summary)
        return
    budgets = summary["budgets"]
    console.print(
        f"run [bold]{summary['run_id']}[/]: {summary['state']}"
        + (f" ({summary['failure_reason']})" if summary["failure_reason"] else "")
    )
    console.print(
        f"tokens {budgets['tokens_used']:,} / {budgets['token_cap']:,}   "
        f"branch {summary['branch'] or '-'}"
    )
    table = Table("phase", "tier", "state", "builder", "auditor", "tokens", "issues")
    for phase in summary["phases"]:
        table.add_row(
            phase["phase_id"],
            phase["tier_id"],
            phase["state"],
            str(phase["builder_attempts"]),
            str(phase["auditor_attempts"]),
            f"{phase['tokens_used']:,}",
            f"{phase['minor_issues']} minor / {phase['major_issues']} major",
        )
    console.print(table)
    if RunState(summary["state"]).is_failure:
        raise typer.Exit(1)
