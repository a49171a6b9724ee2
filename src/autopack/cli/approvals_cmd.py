"""`autopack approvals list|approve|reject`: a person's decision on held changes."""

from __future__ import annotations

import typer
from rich.table import Table

from autopack.cli.identity import cli_identity
from autopack.cli.main import app
from autopack.cli.output import console, database, print_json, settings
from autopack.db.orm import utcnow
from autopack.db.session import unit_of_work
from autopack.domain.states import ApprovalStatus
from autopack.services import approvals as approval_service
from autopack.services import integration

approvals_app = typer.Typer(
    help="Changes waiting for a person (large deletions, Auditor escalations, governance "
    "requests for protected paths).",
    no_args_is_help=True,
)
app.add_typer(approvals_app, name="approvals")


@approvals_app.command("list")
def approvals_list(
    status: ApprovalStatus = typer.Option(None, help="Only approvals with this status."),
    run_id: str = typer.Option(None, "--run", help="Only this run's approvals."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List approvals, oldest first. Approvals past their expiry (the plan's `approvals`
    policy) are expired first, and said so."""
    db = database()
    with unit_of_work(db.factory) as session:
        expired = [
            (a.id, a.run_id, a.decision_note)
            for a in approval_service.expire_overdue(session, utcnow())
        ]
    with db.factory() as session:
        rows = [
            approval_service.approval_view(a)
            for a in approval_service.list_approvals(session, status=status, run_id=run_id)
        ]
    db.dispose()
    if as_json:
        print_json({"approvals": rows, "expired_now": [e[0] for e in expired]})
        return
    for approval_id, run, note in expired:
        console.print(f"approval {approval_id} of run {run} expired now: {note}")
    table = Table("id", "run", "phase", "kind", "status", "reason", "requested", "expires")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["run_id"],
            row["phase_id"],
            row["kind"],
            row["status"],
            row["reason"],
            row["requested_at"],
            f"{row['expires_at']} ({row['on_expiry']})" if row["expires_at"] else "",
        )
    console.print(table)


def _decide(approval_id: int, approve: bool, note: str) -> None:
    from autopack.services.approval_decisions import decide_and_continue

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
