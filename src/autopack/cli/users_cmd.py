"""`autopack user add|list|disable`: the people (and bot accounts) that own API keys.

A user's role decides what their keys may do (viewer reads; operator also starts,
cancels, approves and merges; admin also manages keys and users). Users are disabled,
never deleted, so recorded decisions keep naming them. Each change is recorded in the
decision log as made by ``cli:<OS user>``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from autopack.cli.identity import cli_identity
from autopack.cli.main import app
from autopack.cli.output import console, database, print_json
from autopack.db.session import unit_of_work
from autopack.services import users

user_app = typer.Typer(
    help="Users and their roles (viewer, operator, admin).", no_args_is_help=True
)
app.add_typer(user_app, name="user")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user's name (how decisions name them).")],
    role: Annotated[
        str, typer.Option("--role", help="viewer, operator or admin.", show_default=False)
    ],
    email: Annotated[
        str | None, typer.Option("--email", help="Where email notifications reach them.")
    ] = None,
    telegram_id: Annotated[
        int | None,
        typer.Option(
            "--telegram-id", min=1, help="Their Telegram user id (for approve/reject buttons)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user with a role. Give them a key with `autopack apikey create --user NAME`.
    Exit 2 for a bad name or role, 1 when the name or Telegram id is taken."""
    parsed = users.parse_role(role)
    db = database()
    try:
        with unit_of_work(db.factory) as session:
            user = users.create_user(
                session,
                name,
                parsed,
                email=email,
                telegram_user_id=telegram_id,
                actor=cli_identity(),
            )
            view = users.user_view(user)
    finally:
        db.dispose()
    if as_json:
        print_json(view)
    else:
        console.print(f"user {name!r} added with role {parsed.value}", highlight=False)


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """List users, oldest first, with their role and whether they are disabled."""
    db = database()
    try:
        with db.factory() as session:
            views = [users.user_view(u) for u in users.list_users(session)]
    finally:
        db.dispose()
    if as_json:
        print_json({"users": views})
        return
    table = Table("name", "role", "disabled", "email", "telegram id", "created")
    for v in views:
        table.add_row(
            str(v["name"]),
            str(v["role"]),
            "yes" if v["disabled"] else "no",
            str(v["email"] or "-"),
            str(v["telegram_user_id"] or "-"),
            str(v["created_at"]),
        )
    console.print(table)


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="The user to disable.")],
    as_json: JsonOpt = False,
) -> None:
    """Disable a user: their keys and dashboard sessions stop working at once. Exit 2 for
    an unknown user."""
    db = database()
    try:
        with unit_of_work(db.factory) as session:
            view = users.user_view(users.disable_user(session, name, actor=cli_identity()))
    finally:
        db.dispose()
    if as_json:
        print_json(view)
    else:
        console.print(f"user {name!r} disabled; their keys no longer work", highlight=False)
