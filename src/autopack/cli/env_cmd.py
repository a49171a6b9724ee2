"""`autopack env prepare | list | prune`: the project environments under AUTOPACK_HOME/envs.

``prepare --repo DIR`` builds (or finds) the environment a run of DIR would get (with the
``setup`` and ``env`` of DIR's ``.autopack.yaml``, as a plan without overrides). It works
on a temporary git worktree of DIR's HEAD, as a run does, so the user's checkout is never
touched (no ``node_modules`` replaced, nothing installed from it); a directory that is not
a git repository with a commit is used as it is. Exit 0 when the environment is ready,
1 when it cannot be built (the report says which command failed, why, and what to do),
2 on usage errors.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from autopack.cli.main import app
from autopack.cli.output import console, err_console, print_json, settings
from autopack.environments import (
    Environment,
    EnvironmentBuildError,
    EnvironmentSpec,
    list_environments,
    prepare_environment,
    prune_environments,
)
from autopack.environments.store import read_record
from autopack.errors import ValidationError, WorkspaceError
from autopack.planning.project_config import read_project_config
from autopack.workspace.git_cli import run_git

env_app = typer.Typer(
    help="Project environments: where a target project's dependencies are installed "
    "(AUTOPACK_HOME/envs/<key>/), built once per key and reused by later runs.",
    no_args_is_help=True,
)
app.add_typer(env_app, name="env")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@env_app.command("prepare")
def prepare_command(
    repo: Annotated[
        Path, typer.Option("--repo", help="The project's repository (its HEAD is used).")
    ],
    as_json: JsonOpt = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Install without the network (also AUTOPACK_ENV_OFFLINE); wheels may come "
            "from AUTOPACK_ENV_FIND_LINKS.",
        ),
    ] = False,
) -> None:
    """Build or find the environment for the project in --repo; print its key,
    interpreter, what was installed, the time it took and its size."""
    if not repo.is_dir():
        raise ValidationError(f"{str(repo)!r} is not a directory", field="repo")
    config = settings()
    with _checkout(repo.resolve()) as worktree:
        # The repository's .autopack.yaml, as a run without plan overrides reads it: the
        # same key as that run's environment.
        project = read_project_config(worktree)
        spec = EnvironmentSpec(
            setup=list(project.setup) if project else [],
            env=dict(project.env) if project else {},
            offline=offline,
        )
        try:
            env = prepare_environment(
                worktree,
                spec,
                envs_dir=config.envs_dir,
                progress=_progress(as_json),
                timeout=config.env_build_timeout_seconds,
                settings=config,
            )
        except EnvironmentBuildError as exc:
            _report_failure(exc, as_json)
            raise typer.Exit(1) from exc
        if env.worktree_dir is not None and worktree != repo.resolve():
            env = _detach(env)
    if as_json:
        print_json(env.model_dump(mode="json"))
        return
    console.print(_render(env), highlight=False, soft_wrap=True)


@env_app.command("list")
def list_command(as_json: JsonOpt = False) -> None:
    """List the ready environments, most recently used first."""
    found = list_environments(settings().envs_dir)
    if as_json:
        print_json([e.model_dump(mode="json") for e in found])
        return
    if not found:
        err_console.print(f"no environments in {settings().envs_dir}")
        return
    table = Table("key", "toolchain", "tools", "packages", "size", "last used")
    for env in found:
        table.add_row(
            env.key,
            env.toolchain or "-",
            ", ".join(f"{k} {v}" for k, v in env.tool_versions.items()),
            str(len(env.installed)),
            _size(env.size_bytes),
            (env.last_used_at or "-").replace("+00:00", "Z"),
        )
    console.print(table)


@env_app.command("prune")
def prune_command(
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            min=0.0,
            metavar="DAYS",
            help="Remove only environments last used more than DAYS ago. Default: all "
            "(environments being built or prepared right now are always kept).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove environments (and every half-built one); they are rebuilt when needed."""
    removed = prune_environments(settings().envs_dir, older_than, now=datetime.now(UTC))
    freed = sum(e.size_bytes for e in removed)
    if as_json:
        print_json({"removed": [e.key for e in removed], "freed_bytes": freed})
        return
    for env in removed:
        console.print(f"removed {env.key} ({_size(env.size_bytes)})", highlight=False)
    console.print(f"{len(removed)} environment(s) removed, {_size(freed)} freed", highlight=False)


@contextlib.contextmanager
def _checkout(repo: Path) -> Iterator[Path]:
    """A temporary worktree of ``repo``'s HEAD, removed afterwards; ``repo`` itself when it
    is not a git repository with a commit."""
    try:
        run_git(repo, "rev-parse", "--verify", "HEAD")
    except WorkspaceError:
        yield repo
        return
    with tempfile.TemporaryDirectory(prefix="autopack-env-") as tmp:
        worktree = Path(tmp) / repo.name
        run_git(repo, "worktree", "add", "--detach", str(worktree), "HEAD")
        try:
            yield worktree
        finally:
            run_git(repo, "worktree", "remove", "--force", str(worktree), check=False)


def _detach(env: Environment) -> Environment:
    """The temporary worktree goes away, and so does its attachment (the overlay venv):
    what remains to show is the keyed environment a run will attach to."""
    if env.worktree_dir is not None:
        shutil.rmtree(env.worktree_dir, ignore_errors=True)
    keyed = read_record(env.root) if env.root else None
    build_log = env.root / "build.log" if env.root else None
    return env.model_copy(
        update={
            "interpreter": keyed.interpreter if keyed else None,
            "bin_dirs": keyed.bin_dirs if keyed else [],
            "setup_log": build_log if build_log and build_log.exists() else None,
            "worktree_dir": None,
        }
    )


def _progress(quiet: bool) -> Callable[[str], None]:
    def show(line: str) -> None:
        if not quiet:
            err_console.print(f"[dim]{escape(line)}[/]", highlight=False, soft_wrap=True)

    return show


def _report_failure(exc: EnvironmentBuildError, as_json: bool) -> None:
    if as_json:
        print_json({"error": exc.code, "message": exc.message, **exc.context})
        return
    err_console.print(f"[bold red]environment build failed:[/] {escape(exc.message)}")
    for label, value in (
        ("command", exc.command),
        ("exit code", exc.exit_code),
        ("diagnosis", exc.diagnosis),
        ("fix", exc.fix),
        ("log", exc.context.get("log_path")),
    ):
        if value is not None:
            err_console.print(f"  {label:9} {escape(str(value))}", highlight=False)
    if exc.log.strip():
        err_console.print("  output (last lines):", highlight=False)
        for line in exc.log.strip().splitlines()[-20:]:
            err_console.print(f"    {escape(line)}", highlight=False, soft_wrap=True)


def _render(env: Environment) -> str:
    state = "reused" if env.reused else "built"
    lines = [
        f"[bold]{env.key}[/] ({env.toolchain or 'no toolchain'}) {state} in "
        f"{env.prepare_seconds:.1f}s",
        f"  root         {escape(str(env.root or '-'))}",
        f"  interpreter  {escape(env.interpreter or '-')}",
        f"  tools        {escape(', '.join(f'{k} {v}' for k, v in env.tool_versions.items()))}",
        f"  size         {_size(env.size_bytes)} (built in {env.build_seconds:.1f}s)",
        f"  installed    {len(env.installed)} package(s)",
    ]
    lines += [f"    {escape(item)}" for item in env.installed]
    lines += [f"  note: {escape(note)}" for note in env.notes]
    return "\n".join(lines)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
