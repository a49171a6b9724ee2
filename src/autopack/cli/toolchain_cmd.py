"""`autopack toolchain detect PATH` and `autopack verify PATH`.

``toolchain detect`` prints what each adapter makes of a project: confidence, reasons and
commands; it runs nothing. Exit 0 when a toolchain was detected, 1 when none was.

``verify`` runs the project's tests (the detected test command, or ``--command``) and
prints the report. Exit 0 when the suite passed; 1 when tests failed, could not be
collected, none were collected, or the run timed out; 2 on usage errors, including a
command that cannot be started.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from autopack.cli.main import app
from autopack.cli.output import console, err_console, print_json, settings
from autopack.errors import ToolchainError, ValidationError
from autopack.toolchains.base import Detection
from autopack.toolchains.detect import command_from_text, detect_all, plan_test_commands
from autopack.toolchains.results import TestReport
from autopack.verify.suite import run_tests

toolchain_app = typer.Typer(
    help="Inspect how Autopack sees a project's toolchain.", no_args_is_help=True
)
app.add_typer(toolchain_app, name="toolchain")

PathArg = Annotated[Path, typer.Argument(help="Project directory.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _project(path: Path) -> Path:
    if not path.is_dir():
        raise ValidationError(f"{str(path)!r} is not a directory", field="path")
    return path.resolve()


@toolchain_app.command("detect")
def detect_command(path: PathArg, as_json: JsonOpt = False) -> None:
    """Show the detected toolchains, most confident first, with their commands."""
    detections = detect_all(_project(path))
    if as_json:
        print_json([d.model_dump(mode="json") for d in detections])
    elif not detections:
        err_console.print(f"no toolchain detected in {path}")
    for d in [] if as_json else detections:
        console.print(_render_detection(d), highlight=False, soft_wrap=True)
    if not detections:
        raise typer.Exit(1)


def _render_detection(d: Detection) -> str:
    lines = [f"[bold]{d.toolchain}[/] ({escape(d.test_tool)}) confidence {d.confidence:.2f}"]
    lines += [f"  - {escape(reason)}" for reason in d.reasons]
    for label, cmd in (
        ("install", d.install_command),
        ("build", d.build_command),
        ("test", d.test_command),
        ("lint", d.lint_command),
    ):
        lines.append(f"  {label:8} {escape(shlex.join(cmd)) if cmd else '-'}")
    lines.append(f"  results  {d.report_format}")
    return "\n".join(lines)


@app.command("verify")
def verify_command(
    path: PathArg,
    as_json: JsonOpt = False,
    command: Annotated[
        str | None,
        typer.Option("--command", help="Test command to run instead of the detected one."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=1.0,
            help="Seconds before the run is killed. Default: AUTOPACK_COMMAND_TIMEOUT_SECONDS.",
        ),
    ] = None,
) -> None:
    """Run the project's tests and print the report. Exit 0 only when the suite passes."""
    project = _project(path)
    commands = [command_from_text(command)] if command else plan_test_commands(project)
    if not commands:
        raise ValidationError(
            f"no test command detected in {project}; pass --command", field="command"
        )
    limit = timeout if timeout is not None else settings().command_timeout_seconds
    if not as_json:
        err_console.print(
            f"running {commands[0].display} in {project}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    try:
        report = run_tests(project, commands, timeout=limit)
    except ToolchainError as exc:
        raise ValidationError(exc.message, field="command") from exc
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        console.print(_render_report(report), highlight=False, markup=False, soft_wrap=True)
    if not report.passed:
        raise typer.Exit(1)


def _render_report(report: TestReport) -> str:
    lines = [report.summary()]
    for case in report.tests:
        if case.outcome in ("failed", "error"):
            first = case.message.strip().splitlines()[0] if case.message.strip() else ""
            lines.append(f"  {case.outcome.upper():6} {case.id}" + (f": {first}" if first else ""))
    lines += [f"  COLLECTION ERROR {e.splitlines()[0]}" for e in report.collection_errors]
    if report.note:
        lines.append(f"  note: {report.note}")
    return "\n".join(lines)
