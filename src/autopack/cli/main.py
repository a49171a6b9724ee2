"""`autopack`: the command line entry point.

Sub-command groups live in sibling modules and are registered here. Exceptions become
exit codes in one place, :func:`main`: 0 success, 1 a failed or rejected outcome,
2 usage or configuration errors.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from autopack import __version__
from autopack.errors import (
    AutopackError,
    ConfigurationError,
    NotFoundError,
    SchemaMismatch,
    ValidationError,
)

app = typer.Typer(
    name="autopack",
    help="Autopack: build a plan into a git repository with LLM agents, safely and cheaply.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)

#: Exit codes by exception class; the first matching entry wins.
EXIT_CODES: list[tuple[type[AutopackError], int]] = [
    (ConfigurationError, 2),
    (ValidationError, 2),
    (SchemaMismatch, 2),
    (NotFoundError, 2),
    (AutopackError, 1),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autopack {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Autopack: build a plan into a git repository with LLM agents, safely and cheaply."""


def _register() -> None:
    # Imported here so `autopack --version` stays fast and import cycles stay impossible.
    from autopack.cli import commands  # noqa: F401


def exit_code_for(exc: AutopackError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def main() -> None:
    """Console-script entry point. Click handles usage errors (exit 2) itself."""
    _register()
    try:
        app()
    except AutopackError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True
        )
        sys.exit(exit_code_for(exc))
