"""The instant CLI: the root imports nothing heavy, and the command table tells the truth."""

from __future__ import annotations

import json
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
