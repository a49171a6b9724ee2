"""`autopack plan PLAN --repo DIR`: show a plan as Autopack reads it, and what looks wrong.

Standard output is the normalized RunSpec as YAML (a valid plan file in its own right);
preflight warnings and a one-line summary go to standard error, then one ``error:`` line
naming the codes that make ``autopack run`` refuse the plan, if any. Nothing runs and nothing
is written. Exit 0 with or without findings, 2 when the plan or the options are invalid;
with ``--strict``, also 2 when preflight finds an error (a plan ``autopack run`` refuses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from autopack.cli.main import app
from autopack.cli.text import counted
from autopack.domain.plan import RunSpec
from autopack.errors import ValidationError
from autopack.planning import PreflightWarning, load_plan, preflight


def render_plan_yaml(spec: RunSpec) -> str:
    """The whole RunSpec as YAML, fields in contract order, defaults included."""
    return yaml.safe_dump(
        spec.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=100
    )


def format_warning(warning: PreflightWarning) -> str:
    """One finding as a line: ``warning [code] phase ID: message``."""
    where = f" phase {warning.phase_id}" if warning.phase_id else ""
    return f"warning [{warning.code}]{where}: {warning.message}"


def resolve_repo(spec: RunSpec, plan: Path, repo: Path | None) -> Path:
    """The target repository: ``--repo``, else the plan's ``repo`` (relative to the plan
    file), else the current directory. Raises ValidationError when it is not a directory."""
    if repo is not None:
        target, origin = repo, "--repo"
    elif spec.repo:
        target, origin = plan.parent / Path(spec.repo).expanduser(), "the plan's 'repo'"
    else:
        target, origin = Path.cwd(), "the current directory"
    if not target.is_dir():
        raise ValidationError(
            f"{origin} {str(target)!r} is not a directory; pass --repo with the path of the "
            "repository the plan should change",
            field="repo",
        )
    return target.resolve()


@app.command("plan")
def plan_command(
    plan: Annotated[
        Path,
        typer.Argument(
            help="Plan file: a YAML or JSON RunSpec (.yaml, .yml, .json), the original's "
            "RunStartRequest JSON, or a Markdown plan (.md).",
            show_default=False,
        ),
    ],
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            help="Repository the plan targets. Default: the plan's 'repo', else the "
            "current directory.",
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="Run id to use instead of the plan's own."),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Exit 2 when preflight finds an error (as `autopack run` would)."
        ),
    ] = False,
) -> None:
    """Print the normalized plan as YAML and warn about likely problems. Runs nothing."""
    spec = load_plan(plan, run_id=run_id)
    target = resolve_repo(spec, plan, repo)
    spec = spec.model_copy(update={"repo": str(target)})
    typer.echo(render_plan_yaml(spec), nl=False)
    warnings = preflight(spec, target)
    for warning in warnings:
        typer.echo(format_warning(warning), err=True)
    typer.echo(
        f"plan {spec.run_id}: {counted(len(spec.tiers), 'tier')}, "
        f"{counted(len(spec.phases), 'phase')}, {counted(len(warnings), 'warning')}; "
        "nothing was run",
        err=True,
    )
    errors = sorted({w.code for w in warnings if w.is_error})
    if errors:
        typer.echo(
            f"error: `autopack run` refuses this plan ({', '.join(errors)}); fix the "
            "warnings with those codes first",
            err=True,
        )
    if strict and errors:
        raise typer.Exit(2)
