"""`autopack cancel`, `autopack runs delete`, `autopack gc`: stopping runs and cleaning up.

``cancel RUN_ID`` goes through the same service as ``POST /runs/{id}/cancel``: a run not
executing ends now (DONE_CANCELLED); one executing anywhere (this machine, a server, a
worker) stops at its next checkpoint, because its executor reads the flag there.

``runs delete RUN_ID`` removes the run's database rows, worktree, branch, base ref,
savepoints and artifacts. It refuses a run that is executing, and a DONE_SUCCESS run
whose branch is merged nowhere unless ``--force`` (the branch is the only copy).

``gc`` removes, for finished runs older than ``--older-than`` days: worktrees, then
branches, base refs and savepoints (never an unmerged successful branch without ``--force``);
worktrees and artifact directories of runs no longer in the database; and project
environments no run has used in that time and none is using now. ``--dry-run`` prints
the same list and removes nothing. Exit codes: 0 done, 1 refused, 2 usage errors.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from autopack.cli.main import app
from autopack.cli.output import console, database, err_console, print_json, settings
from autopack.cli.runs_cmd import runs_app

# The database and workspace layers are imported inside each command: this module adds
# `runs delete` to the `runs` group, so it is imported for every `runs` sub-command,
# `runs list` included (tests/unit/cli/test_lazy_cli.py holds that line).

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("cancel")
def cancel(
    run_id: Annotated[str, typer.Argument(help="The run to stop.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Stop a run: now when nothing executes it, else at its executor's next checkpoint
    (also when it executes in a server or on another machine). Exit 2 for an unknown run,
    1 for a run that has already ended."""
    from autopack.cli.identity import cli_identity
    from autopack.db.session import unit_of_work
    from autopack.errors import IllegalTransition
    from autopack.services import cleanup
    from autopack.services.runs import request_cancel

    db = database()
    try:
        with unit_of_work(db.factory) as session:
            run = request_cancel(session, run_id, actor=cli_identity())
            state, executing = run.state, cleanup.is_executing(run)
    except IllegalTransition as exc:
        err_console.print(f"[bold red]refused:[/] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    if as_json:
        print_json({"run_id": run_id, "state": state, "cancel_requested": True})
    elif executing:
        console.print(
            f"cancel requested: run {run_id} stops at its next step (now {state}); "
            f"follow it with `autopack status {run_id}`",
            highlight=False,
        )
    else:
        console.print(f"run {run_id} cancelled: {state}", highlight=False)


@runs_app.command("delete")
def runs_delete(
    run_id: Annotated[str, typer.Argument(help="The run to delete.", show_default=False)],
    force: Annotated[
        bool,
        typer.Option("--force", help="Also delete a successful run whose branch is unmerged."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a run: database rows, worktree, branch, refs and artifacts."""
    from autopack.db.session import unit_of_work
    from autopack.services import cleanup
    from autopack.workspace.retention import (
        directory_size,
        human_size,
        remove_run_refs,
        remove_worktree,
        run_git_state,
    )

    cfg = settings()
    db = database()
    try:
        with db.factory() as session:
            run = cleanup.deletable_run(session, run_id)
        git = run_git_state(run.repo_path, run_id)
        if run.succeeded and git.branch_exists and not git.merged and not force:
            err_console.print(
                f"[bold red]refused:[/] run {run_id} succeeded and its branch {git.branch} "
                "is not merged into any other branch, so deleting it would lose the work; "
                f"merge it first (git -C {run.repo_path} merge {git.branch}) or pass --force",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
        removed: list[str] = []
        freed = 0
        worktree = Path(run.worktree_path) if run.worktree_path else cfg.worktrees_dir / run_id
        if worktree.exists():
            freed += remove_worktree(git.repo, worktree)
            removed.append(f"worktree {worktree}")
        removed += remove_run_refs(git, run_id)
        artifacts = cfg.runs_dir / run_id
        if artifacts.exists():
            freed += directory_size(artifacts)
            shutil.rmtree(artifacts)
            removed.append(f"artifacts {artifacts}")
        with unit_of_work(db.factory) as session:
            cleanup.delete_run_rows(session, run_id)
        removed.append("database rows")
    finally:
        db.dispose()
    if as_json:
        print_json({"run_id": run_id, "removed": removed, "freed_bytes": freed})
        return
    for item in removed:
        console.print(f"removed {item}", highlight=False, soft_wrap=True)
    console.print(f"run {run_id} deleted; {human_size(freed)} freed", highlight=False)


@app.command("gc")
def gc(
    older_than: Annotated[
        float,
        typer.Option(
            "--older-than", metavar="DAYS", min=0, help="Only runs that ended this long ago."
        ),
    ] = 14.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would go; remove nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also delete unmerged branches of successful runs.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove what finished runs left behind (worktrees, branches, refs, artifacts of
    deleted runs, unused environments), printing each item and the space freed."""
    from autopack.cli.garbage import collect_garbage
    from autopack.workspace.retention import human_size

    cfg = settings()
    db = database()
    try:
        report = collect_garbage(cfg, db, older_than_days=older_than, dry_run=dry_run, force=force)
    finally:
        db.dispose()
    if as_json:
        print_json(report.as_dict())
        return
    verb = "would remove" if dry_run else "removed"
    for item in report.items:
        size = f" ({human_size(item.size)})" if item.size else ""
        console.print(f"{verb} {item.kind} {item.what}{size}", highlight=False, soft_wrap=True)
    for kept in report.kept:
        console.print(f"kept {kept}", highlight=False, soft_wrap=True)
    total = human_size(report.freed)
    console.print(
        f"{len(report.items)} item(s) {'to remove' if dry_run else 'removed'}; {total} "
        f"{'would be freed (dry run: nothing was removed)' if dry_run else 'freed'}",
        highlight=False,
    )
