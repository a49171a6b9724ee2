"""The Typer root of `autopack`, whose commands are imported only when they are used.

:class:`LazyGroup` is the root's Click group. It lists commands from the table in
:mod:`autopack.cli.commands` (so help and shell completion import nothing) and imports a
command's module(s) the first time that command is looked up: when it runs, when its own
``--help`` is shown, or when the shell completes its options. The imported module
registers on :data:`app` with ``@app.command`` / ``app.add_typer`` as any Typer module
does; the group then builds the Click command from that registration.
"""

from __future__ import annotations

import importlib
import inspect
from difflib import get_close_matches

import typer
import typer.core
import typer.main
from typer import _click as click
from typer._click.exceptions import UsageError
from typer._click.shell_completion import CompletionItem

from autopack.cli.commands import COMMANDS, command_names, help_for, modules_for


class LazyGroup(typer.core.TyperGroup):
    """A Typer group that imports a command's module on first use (see the module doc)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        extra = [name for name in super().list_commands(ctx) if name not in command_names()]
        return [*command_names(), *extra]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is not None:
            # Registered before this group was built (an earlier lookup in this process,
            # or register_all): built by Typer, so not reflowed yet (reflow is idempotent).
            _reflow_help(command)
            return command
        modules = modules_for(cmd_name)
        if not modules:
            return super().get_command(ctx, cmd_name)
        for module in modules:
            importlib.import_module(module)
        # A fresh conversion of the root holds exactly the commands registered so far.
        built = typer.main.get_command(app)
        assert isinstance(built, typer.core.TyperGroup)
        command = built.commands.get(cmd_name)
        if command is None:
            raise RuntimeError(
                f"the command table says {', '.join(modules)} define(s) `{cmd_name}`, "
                "but none registers it; fix the table in autopack/cli/commands.py"
            )
        _reflow_help(command)
        self.add_command(command, cmd_name)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            # Typer suggests only among commands already imported; suggest from the table.
            close = get_close_matches(args[0], command_names()) if args else []
            if close and "Did you mean" not in exc.message:
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {close[0]!r}?"
            raise

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The same text as the fast path in main.py: from the table, importing nothing.
        from autopack.cli.main import root_help

        formatter.write(root_help())

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        # Click's own version looks up every command to read its help: every import.
        items = [
            CompletionItem(name, help=help_for(name))
            for name in command_names()
            if name.startswith(incomplete)
        ]
        return [*items, *click.Command.shell_complete(self, ctx, incomplete)]


def reflow(text: str) -> str:
    """A docstring's paragraphs each on one line, so help wraps at the reader's width.

    Rich help keeps a docstring's own line breaks, so at any width narrower than the source
    a sentence breaks twice ("... with a" / "live table ..."). Paragraphs holding an
    indented line or a list item, and Click's ``\\b`` (keep as written) paragraphs, stay
    as they are; ``\\f`` and what follows it stay too.
    """
    shown, cut, hidden = inspect.cleandoc(text).partition("\f")
    paragraphs = []
    for paragraph in shown.split("\n\n"):
        lines = paragraph.splitlines()
        verbatim = paragraph.startswith("\b") or any(
            line.startswith((" ", "\t", "- ", "* ")) for line in lines[1:]
        )
        paragraphs.append(paragraph if verbatim else " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs) + cut + hidden


def _reflow_help(command: click.Command) -> None:
    """:func:`reflow` a command's help and, for a group, each subcommand's."""
    if command.help:
        command.help = reflow(command.help)
    for sub in getattr(command, "commands", {}).values():
        _reflow_help(sub)


app = typer.Typer(
    name="autopack",
    cls=LazyGroup,
    help="Autopack: build a plan into a git repository with LLM agents, safely and cheaply.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from autopack.cli.main import version_line

        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Autopack: build a plan into a git repository with LLM agents, safely and cheaply."""


def register_all() -> None:
    """Import every command module now: for tools and tests that walk the whole tree."""
    for module in dict.fromkeys(c.module for c in COMMANDS):
        importlib.import_module(module)
