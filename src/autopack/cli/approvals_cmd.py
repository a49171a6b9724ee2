"""`autopack approvals list|approve|reject`: a person's decision on held changes."""

from __future__ import annotations

import getpass
import os

import typer
from rich.table import Table

from autopack.cli.main import app
from autopack.cli.output import console, database, print_json, settings
from autopack.domain.states import ApprovalStatus
from autopack.services import approvals as approval_service
from autopack.services import integration

approvals_app = typer.Typer(
    help="Changes waiting for a person (large deletions, Auditor escalations).",
    no_args_is_help=True,
)
app.add_typer(approvals_app, name="approvals")


@approvals_app.command("list")
def approvals_list(
    status: ApprovalStatus = typer.Option(None, help="Only approvals with this status."),
    run_id: str = typer.Option(None, "--run", help="Only this run's approvals."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List approvals, oldest first."""
    db = database()
    with db.factory() as session:
        rows = [
            approval_service.approval_view(a)
            for a in approval_service.list_approvals(session, status=status, run_id=run_id)
        ]
    db.dispose()
    if as_json:
        print_json({"approvals": rows})
        return
    table = Table("id", "run", "phase", "kind", "status", "reason", "requested")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["run_id"],
            row["phase_id"],
            row["kind"],
            row["status"],
            row["reason"],
            row["requested_at"],
        )
    console.print(table)


def cli_identity() -> str:
    """Who decides from the command line: ``cli:<OS user>``. The database is local to this
    user (or reached with its credentials), so the OS account is the identity we know."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        user = f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"cli:{user}"


def _decide(approval_id: int, approve: bool, note: str) -> None:
    from autopack.services.decisions import decide_and_continue

    by = cli_identity()
    cfg = settings()
    db = database()
    try:
        view = decide_and_continue(
            db.factory,
            approval_id,
            approve=approve,
            by=by,
            note=note,
            apply=lambda s, p, a: integration.apply_approved(s, p, a, settings=cfg),
        )
    finally:
        db.dispose()
    console.print(
        f"approval {approval_id} {view['status']} (run {view['run_id']}, phase "
        f"{view['phase_id']}). Continue the run with "
        f"`autopack run --resume {view['run_id']}`."
    )


@approvals_app.command("approve")
def approvals_approve(
    approval_id: int = typer.Argument(..., help="The approval's id."),
    note: str = typer.Option("", "--note", help="Why."),
) -> None:
    """Approve a held change: it is applied and the phase continues. The decision is
    recorded as made by cli:<your OS user>."""
    _decide(approval_id, True, note)


@approvals_app.command("reject")
def approvals_reject(
    approval_id: int = typer.Argument(..., help="The approval's id."),
    note: str = typer.Option("", "--note", help="Why (told to the Builder)."),
) -> None:
    """Reject a held change: it is discarded and the Builder tries again, told why. The
    decision is recorded as made by cli:<your OS user>."""
    _decide(approval_id, False, note)
