"""`autopack merge` and `autopack push`: deliver a finished run's branch.

Both record the decision as made by ``cli:<OS user>``. Exit codes as ``cli/main.py`` maps
them: 0 done (or already merged), 1 refused (conflicts, a dirty checkout, a run that did
not succeed, a remote that refused), 2 bad input (unknown run, branch or remote).
"""

from __future__ import annotations

import typer
from rich.markup import escape

from autopack.cli.identity import cli_identity
from autopack.cli.main import app
from autopack.cli.output import console, database, print_json
from autopack.db.session import unit_of_work
from autopack.errors import ValidationError
from autopack.services import delivery
from autopack.services.delivery import MergeMode


@app.command("merge")
def merge(
    run_id: str = typer.Argument(..., help="The run whose branch autopack/RUN_ID to merge."),
    into: str = typer.Option(
        None,
        "--into",
        help="The branch to merge into (default: the branch the run started from).",
    ),
    ff_only: bool = typer.Option(
        False, "--ff-only", help="Only fast-forward; refuse when the branches diverged."
    ),
    no_ff: bool = typer.Option(
        False, "--no-ff", help="Always make a merge commit, even when a fast-forward is possible."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Merge a run that ended DONE_SUCCESS into a branch of your repository.

    Fast-forwards when possible, else makes a merge commit. Uncommitted work in your
    checkout is never touched: when the target branch is checked out with uncommitted
    changes the merge is refused (commit or stash them first, or use --into). A merge
    that conflicts is refused naming the files, and changes nothing."""
    if ff_only and no_ff:
        raise ValidationError("--ff-only and --no-ff contradict each other; pass one")
    mode: MergeMode = "ff" if ff_only else "merge" if no_ff else "auto"
    db = database()
    try:
        with unit_of_work(db.factory) as session:
            result = delivery.merge_run(session, run_id, into=into, mode=mode, actor=cli_identity())
    finally:
        db.dispose()
    if as_json:
        print_json(result.model_dump())
    else:
        console.print(escape(result.message), highlight=False, soft_wrap=True)


@app.command("push")
def push(
    run_id: str = typer.Argument(..., help="The run whose branch autopack/RUN_ID to push."),
    remote: str = typer.Option(
        "origin", "--remote", help="A remote of the run's repository, by name."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Push a finished run's branch to a remote of its repository, under the same name.

    Never forced: when the remote's branch has commits the run's branch lacks, the push
    is refused."""
    db = database()
    try:
        with unit_of_work(db.factory) as session:
            result = delivery.push_run(session, run_id, remote=remote, actor=cli_identity())
    finally:
        db.dispose()
    if as_json:
        print_json(result.model_dump())
    else:
        console.print(escape(result.message), highlight=False, soft_wrap=True)
