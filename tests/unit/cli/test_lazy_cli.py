"""The instant CLI: the root imports nothing heavy, and the command table tells the truth."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autopack.cli.commands import COMMANDS, command_names, help_for

AUTOPACK = str(Path(sys.executable).with_name("autopack"))
HEAVY = ("fastapi", "sqlalchemy", "anthropic", "openai", "httpx", "jinja2", "alembic")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_importing_the_entry_point_imports_no_heavy_library() -> None:
    modules = _modules_after("import autopack.cli.main")
    assert _heavy(modules) == []
    assert "typer" not in modules and "rich" not in modules


def test_the_version_and_help_fast_paths_import_no_framework() -> None:
    code = (
        "import io, contextlib\nfrom autopack.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--version']); main(['--help'])"
    )
    modules = _modules_after(code)
    assert _heavy(modules) == [] and "typer" not in modules


def test_running_one_command_imports_only_its_module() -> None:
    code = (
        "from autopack.cli.main import main\n"
        "try:\n    main(['plan', '--help'])\nexcept SystemExit:\n    pass"
    )
    modules = _modules_after(code)
    assert "autopack.cli.plan_cmd" in modules
    others = {c.module for c in COMMANDS} - {"autopack.cli.plan_cmd"}
    assert sorted(others & modules) == []
    assert _heavy(modules) == []


def test_a_dry_run_apply_and_a_plan_check_never_load_libgit2(tmp_path: Path) -> None:
    # pygit2 takes tens of milliseconds to import; these commands never commit.
    (tmp_path / "answer.ndjson").write_text(
        '{"op": "create", "path": "hello.py", "content": "x = 1\\n"}\n'
    )
    (tmp_path / "plan.yaml").write_text("phases:\n  - {phase_id: p1, name: One}\n")
    for argv in (
        ["apply", str(tmp_path / "answer.ndjson"), "--repo", str(tmp_path), "--dry-run"],
        ["plan", str(tmp_path / "plan.yaml")],
    ):
        code = (
            "from autopack.cli.main import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass"
        )
        modules = _modules_after(code)
        assert "pygit2" not in modules, argv


def test_help_lists_every_command_with_its_help_text() -> None:
    done = subprocess.run([AUTOPACK, "--help"], capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    for name in command_names():
        assert any(line.split()[:1] == [name] and help_for(name) in line for line in lines), name
    assert "--install-completion" in done.stdout and "--version" in done.stdout


def test_every_table_entry_is_a_command_its_modules_define() -> None:
    from autopack.cli.app import LazyGroup, app
    from autopack.cli.main import _register

    _register()
    import typer.main

    root = typer.main.get_command(app)
    assert isinstance(root, LazyGroup)
    registered = set(root.commands)
    assert set(command_names()) <= registered
    # Every command a module registers is in the table, so --help never hides one.
    assert registered <= set(command_names())
    assert all(help_for(name) for name in command_names())


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_fast_paths_answer_like_the_full_root(args: list[str]) -> None:
    fast = subprocess.run([AUTOPACK, *args], capture_output=True, text=True)
    full = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from autopack.cli.app import app; app(args=sys.argv[1:], "
            "prog_name='autopack')",
            *args,
        ],
        capture_output=True,
        text=True,
    )
    assert (fast.returncode, fast.stdout) == (full.returncode, full.stdout)


def test_a_mistyped_command_is_a_usage_error_with_a_suggestion() -> None:
    done = subprocess.run([AUTOPACK, "stauts", "x"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Did you mean 'status'" in done.stderr


def test_no_arguments_print_the_help_and_exit_2() -> None:
    done = subprocess.run([AUTOPACK], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Commands:" in done.stdout


def test_shell_completion_lists_commands_from_the_table() -> None:
    done = subprocess.run(
        [AUTOPACK],
        capture_output=True,
        text=True,
        env={
            "_AUTOPACK_COMPLETE": "complete_bash",
            "COMP_WORDS": "autopack st",
            "COMP_CWORD": "1",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert done.returncode == 0, done.stderr
    assert "status" in done.stdout.split()


# What each hot command must not import: the costs issue 15 took off their paths
# (benchmarks/cli_startup.py measures the rest).
ORM_AND_SERVER = ("sqlalchemy.orm", "alembic", "fastapi", "starlette", "autopack.db.orm")


def _command_modules(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules loaded after `autopack ARGS` ran in a fresh interpreter (its output and
    exit code are not this check's business: other tests hold those)."""
    code = (
        "import io, contextlib\nfrom autopack.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    try:\n        main({args!r})\n    except SystemExit:\n        pass"
    )
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_status_reads_the_database_without_the_orm_or_alembic(
    tmp_path: Path, sqlite_template: Path
) -> None:
    from autopack.db.database import open_database
    from autopack.domain.plan import RunSpec
    from autopack.services.runs import create_run
    from autopack.settings import Settings

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "autopack.db")  # the embedded default, migrated
    settings = Settings(home=home)
    db = open_database(settings)
    spec = RunSpec.model_validate({"run_id": "r1", "phases": [{"phase_id": "p", "name": "P"}]})
    with db.factory.begin() as session:
        create_run(session, spec, runs_dir=settings.runs_dir)
    db.dispose()

    modules = _command_modules(["status", "r1"], {"AUTOPACK_HOME": str(home)})
    assert "autopack.services.run_overview" in modules  # it did read the run
    assert _loaded(modules, ORM_AND_SERVER) == []
    assert _loaded(modules, ("autopack.services.runs", "autopack.domain.plan")) == []
    # On the embedded database, at its revision, not even SQLAlchemy Core: sqlite3 runs
    # the generated statements (autopack/db/embedded_read.py).
    assert "autopack.db.embedded_read" in modules
    assert _loaded(modules, ("sqlalchemy", "autopack.db.session", "autopack.db.types")) == []


def test_runs_list_reads_without_sqlalchemy_the_orm_or_the_api_schemas(
    tmp_path: Path, sqlite_template: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "autopack.db")
    modules = _command_modules(["runs", "list"], {"AUTOPACK_HOME": str(home)})
    assert "autopack.services.run_overview" in modules  # it did list the runs
    # The modules that add sub-commands to `runs` (delete, enqueue, execute) are imported
    # too; they keep their database, pool and service imports inside their commands.
    assert {"autopack.cli.cleanup_cmd", "autopack.cli.parallel_cmd"} <= modules
    assert _loaded(modules, ("sqlalchemy", "autopack.api")) == []
    assert _loaded(modules, (*ORM_AND_SERVER, "autopack.executor", "autopack.cli.batch")) == []


def test_status_on_an_outdated_embedded_database_takes_the_upgrading_path(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """An embedded database the stdlib read cannot trust (here: one migration behind) is
    opened as every command opens it: Alembic upgrades it, then status answers."""
    import sqlite3

    from sqlalchemy import create_engine

    from autopack.db import migrate

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "autopack.db")
    with sqlite3.connect(home / "autopack.db") as conn:
        before = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    engine = create_engine(f"sqlite:///{home / 'autopack.db'}")
    migrate.downgrade(engine, "-1")  # really one revision behind, not a relabelled head
    engine.dispose()
    with sqlite3.connect(home / "autopack.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] != before
    env = {**os.environ, "AUTOPACK_HOME": str(home)}
    env.pop("AUTOPACK_DATABASE_URL", None)
    done = subprocess.run([AUTOPACK, "status", "ghost"], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "'ghost' not found" in done.stderr, done.stderr
    with sqlite3.connect(home / "autopack.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == before


def test_plan_imports_no_database_layer(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("run_id: r\nphases:\n  - {phase_id: p, name: P, description: d}\n")
    modules = _command_modules(
        ["plan", str(plan), "--repo", str(tmp_path)], {"AUTOPACK_HOME": str(tmp_path / "h")}
    )
    assert "autopack.planning.preflight" in modules  # it did check the plan
    assert _loaded(modules, ("sqlalchemy", "alembic", "fastapi", "rich", "prometheus_client")) == []
    assert not (tmp_path / "h").exists()  # nor opened the database


def test_apply_dry_run_imports_neither_metrics_nor_yaml_nor_the_plan_models(
    tmp_path: Path,
) -> None:
    answer = tmp_path / "answer.ndjson"
    answer.write_text('{"op": "create", "path": "a.txt", "content": "a\\n"}\n')
    repo = tmp_path / "repo"
    repo.mkdir()
    modules = _command_modules(
        ["apply", str(answer), "--repo", str(repo), "--dry-run"],
        {"AUTOPACK_HOME": str(tmp_path / "h")},
    )
    assert "autopack.workspace.apply" in modules  # it did apply
    heavy = ("sqlalchemy", "prometheus_client", "yaml", "autopack.domain.plan", "autopack.metrics")
    assert _loaded(modules, heavy) == []
