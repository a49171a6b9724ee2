"""`autopack notify test CHANNEL` and `autopack notify list`: channels and the outbox."""

from __future__ import annotations

import typer
from rich.table import Table

from autopack.cli.main import app
from autopack.cli.output import console, database, err_console, print_json, settings
from autopack.domain.states import NotificationState

notify_app = typer.Typer(
    help="Notifications: test a channel, list the outbox (docs/operations.md).",
    no_args_is_help=True,
)
app.add_typer(notify_app, name="notify")


@notify_app.command("test")
def notify_test(
    channel: str = typer.Argument(..., help="A channel name from AUTOPACK_NOTIFY_CHANNELS."),
) -> None:
    """Send a test message through CHANNEL now and print the result; exit 1 with the
    error when it cannot be delivered. Nothing is queued."""
    from autopack.domain.states import NotificationEvent
    from autopack.errors import DeliveryError, NotFoundError
    from autopack.notifications.base import Message
    from autopack.services.notification_sender import configured_channels

    channels = configured_channels(settings())
    target = channels.get(channel)
    if target is None:
        raise NotFoundError(
            f"no notification channel named {channel!r}; configured: "
            f"{', '.join(sorted(channels)) or 'none'} (AUTOPACK_NOTIFY_CHANNELS)"
        )
    message = Message(
        event=NotificationEvent.TEST.value,
        title="Autopack test notification",
        text=f"If you read this, channel {channel!r} ({target.kind}) works.",
    )
    try:
        receipt = target.send(message)
    except DeliveryError as exc:
        err_console.print(f"[red]FAIL[/] {channel} ({target.kind}): {exc.message}")
        raise typer.Exit(1) from None
    console.print(f"[green]ok[/] {channel} ({target.kind}): {receipt}", highlight=False)


@notify_app.command("list")
def notify_list(
    state: NotificationState = typer.Option(None, help="Only rows in this state."),
    run_id: str = typer.Option(None, "--run", help="Only this run's notifications."),
    limit: int = typer.Option(50, min=1, max=1000, help="How many rows, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The outbox, newest first: event, channel, state, attempts, next attempt, last error."""
    from autopack.services import notifications

    db = database()
    try:
        with db.factory() as session:
            rows = [
                notifications.notification_view(n)
                for n in notifications.list_notifications(
                    session, state=state, run_id=run_id, limit=limit
                )
            ]
    finally:
        db.dispose()
    if as_json:
        print_json({"notifications": rows})
        return
    table = Table("id", "event", "channel", "run", "state", "attempts", "next", "last error")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["event"],
            row["channel"],
            row["run_id"] or "-",
            row["state"],
            str(row["attempts"]),
            row["next_attempt_at"] if row["state"] == "pending" else "-",
            (row["last_error"] or "")[:80],
        )
    console.print(table)
