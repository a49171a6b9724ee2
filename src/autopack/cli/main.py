"""`autopack`: the command line entry point.

Importing this module is cheap on purpose (no Typer, Rich, SQLAlchemy, FastAPI or SDKs):
``autopack --version`` and ``autopack --help`` are answered from the command table
(:mod:`autopack.cli.commands`) without importing any command; any other invocation builds
the Typer root (:mod:`autopack.cli.app`), which imports only the module of the command
that runs. Command modules keep writing ``from autopack.cli.main import app``: the name
resolves to the Typer root on first use.

Exceptions become exit codes in one place, :func:`main`: 0 success, 1 a failed or
rejected outcome, 2 usage or configuration errors.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from autopack.cli.commands import command_names, help_for
from autopack.errors import (
    AutopackError,
    ConfigurationError,
    NotFoundError,
    SchemaMismatch,
    ValidationError,
)

if TYPE_CHECKING:
    from autopack.cli.app import app as app

ABOUT = "Autopack: build a plan into a git repository with LLM agents, safely and cheaply."

#: Exit codes by exception class; the first matching entry wins.
EXIT_CODES: list[tuple[type[AutopackError], int]] = [
    (ConfigurationError, 2),
    (ValidationError, 2),
    (SchemaMismatch, 2),
    (NotFoundError, 2),
    (AutopackError, 1),
]

#: The root's options, as `autopack --help` lists them (the Typer root defines them).
ROOT_OPTIONS: tuple[tuple[str, str], ...] = (
    ("--version", "Print the version and exit."),
    ("--install-completion", "Install completion for the current shell."),
    ("--show-completion", "Show completion for the current shell, to copy it or customize it."),
    ("--help", "Show this message and exit."),
)


def __getattr__(name: str) -> Any:
    # `from autopack.cli.main import app` in a command module builds the Typer root only
    # when a command module is imported, never for --version/--help.
    if name == "app":
        from autopack.cli.app import app as typer_app

        return typer_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register() -> None:
    """Import every command module now (tests and tools that walk the whole tree; the
    CLI itself never needs this: the root imports a command's module on first use)."""
    from autopack.cli.app import register_all

    register_all()


def root_help() -> str:
    """The text of ``autopack --help``: usage, options, and every command of the table."""
    names = command_names()
    width = max(len(n) for n in [*names, *(o for o, _ in ROOT_OPTIONS)]) + 2
    lines = [
        "Usage: autopack [OPTIONS] COMMAND [ARGS]...",
        "",
        f"  {ABOUT}",
        "",
        "Options:",
        *(f"  {opt:<{width}}{text}" for opt, text in ROOT_OPTIONS),
        "",
        "Commands:",
        *(f"  {name:<{width}}{help_for(name)}" for name in names),
        "",
        "Run `autopack COMMAND --help` for a command's options. Exit codes: 0 success,",
        "1 a failed or rejected outcome, 2 a usage or configuration error.",
    ]
    return "\n".join(lines) + "\n"


def version_line() -> str:
    from autopack import __version__

    return f"autopack {__version__}"


def exit_code_for(exc: AutopackError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point. Click handles usage errors (exit 2) itself."""
    args = sys.argv[1:] if argv is None else argv
    # The shell's completion protocol calls `autopack` with this variable set (Click's
    # contract, not a setting): that must reach the Typer root, never the fast paths.
    if "_AUTOPACK_COMPLETE" not in os.environ:
        if args == ["--version"]:
            sys.stdout.write(version_line() + "\n")
            return
        if args in (["--help"], []):
            sys.stdout.write(root_help())
            if not args:  # a usage error, as in a Click group with no_args_is_help
                sys.exit(2)
            return
    from autopack.cli.app import app as typer_app

    try:
        typer_app(args=args, prog_name="autopack")
    except AutopackError as exc:
        report_error(exc)
        sys.exit(exit_code_for(exc))


def report_error(exc: AutopackError) -> None:
    """One line on stderr: ``error: <message>`` (the message says what to do)."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(
        f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True
    )
