"""`autopack toolchain detect` and `autopack verify`: output and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli import main as cli_main
from autopack.errors import ValidationError
from autopack.toolchains.results import TestReport

VENV_PYTHON = f'#!/bin/sh\nPYTEST_DISABLE_PLUGIN_AUTOLOAD=1 exec "{sys.executable}" "$@"\n'
TESTS = "def test_ok():\n    assert True\n\ndef test_{name}():\n    assert {value}\n"


@pytest.fixture
def runner() -> CliRunner:
    cli_main._register()
    return CliRunner()


def python_project(root: Path, *, failing: bool) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n[tool.pytest.ini_options]\n")
    name, value = ("bad", "1 == 2") if failing else ("good", "2 == 2")
    (root / "tests" / "test_x.py").write_text(TESTS.format(name=name, value=value))
    venv = root / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(VENV_PYTHON)
    (venv / "python").chmod(0o755)
    return root


def test_detect_prints_commands_and_reasons(runner: CliRunner, tmp_path: Path) -> None:
    root = python_project(tmp_path / "p", failing=False)
    result = runner.invoke(cli_main.app, ["toolchain", "detect", str(root)])
    assert result.exit_code == 0, result.output
    assert "python (pytest) confidence 0.90" in result.stdout
    assert "pyproject.toml present" in result.stdout
    assert "--junitxml={junit_xml}" in result.stdout

    as_json = runner.invoke(cli_main.app, ["toolchain", "detect", str(root), "--json"])
    detections = json.loads(as_json.stdout)
    assert [d["toolchain"] for d in detections] == ["python"]
    assert detections[0]["report_format"] == "junit"


def test_detect_nothing_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli_main.app, ["toolchain", "detect", str(tmp_path)])
    assert result.exit_code == 1
    assert "no toolchain detected" in result.stderr


@pytest.mark.slow
def test_verify_passing_and_failing_suites(runner: CliRunner, tmp_path: Path) -> None:
    good = python_project(tmp_path / "good", failing=False)
    passed = runner.invoke(cli_main.app, ["verify", str(good)])
    assert passed.exit_code == 0, passed.output
    assert passed.stdout.startswith("PASSED: 2 passed, 0 failed")

    bad = python_project(tmp_path / "bad", failing=True)
    failed = runner.invoke(cli_main.app, ["verify", str(bad)])
    assert failed.exit_code == 1
    assert "FAILED tests.test_x::test_bad: assert 1 == 2" in failed.stdout

    as_json = runner.invoke(cli_main.app, ["verify", str(bad), "--json"])
    assert as_json.exit_code == 1
    report = TestReport.model_validate_json(as_json.stdout)
    assert report.failing_ids == ["tests.test_x::test_bad"]


def test_verify_given_command_and_timeout(runner: CliRunner, tmp_path: Path) -> None:
    ok = runner.invoke(cli_main.app, ["verify", str(tmp_path), "--command", "true"])
    assert ok.exit_code == 0, ok.output
    assert "judged by the exit code" in ok.stdout

    slow = runner.invoke(
        cli_main.app, ["verify", str(tmp_path), "--command", "sleep 30", "--timeout", "1"]
    )
    assert slow.exit_code == 1
    assert "TIMED OUT" in slow.stdout


def test_verify_usage_errors_map_to_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    missing_dir = runner.invoke(cli_main.app, ["verify", str(tmp_path / "nope")])
    assert isinstance(missing_dir.exception, ValidationError)
    assert cli_main.exit_code_for(missing_dir.exception) == 2

    nothing = runner.invoke(cli_main.app, ["verify", str(tmp_path)])
    assert isinstance(nothing.exception, ValidationError)
    assert "pass --command" in str(nothing.exception)

    no_tool = runner.invoke(
        cli_main.app, ["verify", str(tmp_path), "--command", "no-such-tool-xyz run"]
    )
    assert isinstance(no_tool.exception, ValidationError)
    assert "no-such-tool-xyz" in str(no_tool.exception)

    bad_timeout = runner.invoke(cli_main.app, ["verify", str(tmp_path), "--timeout", "0"])
    assert bad_timeout.exit_code == 2


@pytest.mark.slow
def test_usage_error_exit_code_through_the_console_entry_point(tmp_path: Path) -> None:
    code = "from autopack.cli.main import main; main()"
    usage = subprocess.run(
        [sys.executable, "-c", code, "verify", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert usage.returncode == 2
    assert "is not a directory" in usage.stderr
