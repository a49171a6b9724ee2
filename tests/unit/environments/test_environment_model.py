"""What a project command's environment contains, and what it never contains."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from autopack.environments import Environment, EnvironmentSpec
from autopack.environments.base import autopack_paths, sanitized_path
from autopack.environments.build import diagnose
from autopack.errors import EnvironmentBuildError, ToolchainError
from autopack.toolchains.runner import command_env as runner_env


def test_sanitized_path_drops_autopack_virtualenvs_and_keeps_the_rest() -> None:
    environ = {
        "PATH": f"/opt/autopack-venv/bin:{sys.prefix}/bin:/usr/local/bin:/usr/bin:/usr/bin",
        "VIRTUAL_ENV": "/opt/autopack-venv",
    }

    entries = sanitized_path(environ).split(":")

    assert entries[-2:] == ["/usr/local/bin", "/usr/bin"]  # order kept, duplicates dropped
    assert "/opt/autopack-venv/bin" not in entries
    if sys.prefix != sys.base_prefix:  # the tests run inside Autopack's virtualenv
        assert f"{sys.prefix}/bin" not in entries


def test_command_env_puts_the_environment_first_and_autopack_nowhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", f"{sys.prefix}/bin:/usr/bin")
    monkeypatch.setenv("AUTOPACK_HOME", "/secret/home")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    env = Environment(
        key="python-0123456789abcdef0123",
        toolchain="python",
        root=Path("/envs/k"),
        bin_dirs=[Path("/envs/k/w/venv/bin"), Path("/envs/k/venv/bin")],
        variables={"VIRTUAL_ENV": "/envs/k/w/venv", "PATH": "/ignored"},
    )

    variables = env.command_env()
    full = runner_env(variables)  # what run_command really gives the process

    assert full["PATH"].split(":")[:2] == ["/envs/k/w/venv/bin", "/envs/k/venv/bin"]
    assert full["VIRTUAL_ENV"] == "/envs/k/w/venv"
    for path in autopack_paths():
        assert str(path) not in full["PATH"].split(":")
    assert not [k for k in full if k.startswith("AUTOPACK_") or k.endswith("API_KEY")]


def test_an_environment_without_toolchain_still_has_a_clean_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", f"{sys.prefix}/bin:/usr/bin")
    env = Environment(key="none-0123456789abcdef0123", toolchain=None, root=None)

    assert env.command_env()["PATH"] == sanitized_path()


def test_spec_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="setupp"):
        EnvironmentSpec.model_validate({"setupp": ["make"]})


def test_build_error_is_a_toolchain_error_with_its_context() -> None:
    err = EnvironmentBuildError(
        "installing failed", command="uv pip install", exit_code=1, log="boom",
        diagnosis="d", fix="f",
    )  # fmt: skip

    assert isinstance(err, ToolchainError)
    assert err.context == {
        "command": "uv pip install", "exit_code": 1, "log": "boom", "diagnosis": "d", "fix": "f"
    }  # fmt: skip
    assert err.code == "environment_build_failed"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("error: No interpreter found for Python >=3.99", "requires-python"),
        ("hint: Packages were unavailable because the network was disabled", "network"),
        ("No solution found when resolving dependencies", "cannot be resolved"),
        ("something else entirely", "its output says why"),
    ],
)
def test_failed_build_output_is_diagnosed(output: str, expected: str) -> None:
    diagnosis, fix = diagnose(output)
    assert expected in diagnosis and fix
