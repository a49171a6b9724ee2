"""`autopack env prepare | list | prune`, in-process through the console script's main()."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.settings import Settings
from cli_runner import invoke_cli
from environment_fixtures import git, no_pytest_project, write_project

pytestmark = pytest.mark.slow

Result = tuple[int, str, str]


@pytest.fixture
def autopack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: Settings
) -> Callable[..., Result]:
    """Run `autopack ARGS` with the offline environment settings; (exit code, out, err)."""
    monkeypatch.setenv("AUTOPACK_HOME", str(settings.home))
    monkeypatch.setenv("AUTOPACK_ENV_FIND_LINKS", ",".join(map(str, settings.env_find_links)))
    monkeypatch.setenv("AUTOPACK_ENV_OFFLINE", "1")
    monkeypatch.setenv("AUTOPACK_ENV_CACHE_DIR", str(settings.env_cache_dir))
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> Result:
        code, out, err = invoke_cli(monkeypatch, capsys, *args)
        return code, out, err

    return run


def test_prepare_builds_then_finds_and_list_and_prune_see_it(
    autopack: Callable[..., Result], tmp_path: Path
) -> None:
    repo = no_pytest_project(tmp_path / "repo")

    code, out, err = autopack("env", "prepare", "--repo", str(repo))
    assert code == 0, err
    assert "built in" in out and "pytest==" in out and "pytest added" in out
    assert "installing the dependencies" in err  # live progress on stderr

    code, out, _ = autopack("env", "prepare", "--repo", str(repo), "--json")
    data = json.loads(out)
    assert code == 0 and data["reused"] is True and data["toolchain"] == "python"
    assert data["interpreter"].startswith(data["root"])
    # the user's checkout is untouched: no egg-info, no overlay, no extra worktree
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1

    code, out, _ = autopack("env", "list", "--json")
    assert code == 0 and [e["key"] for e in json.loads(out)] == [data["key"]]

    code, out, _ = autopack("env", "prune", "--older-than", "1", "--json")
    assert json.loads(out)["removed"] == []
    code, out, _ = autopack("env", "prune", "--json")
    assert code == 0 and json.loads(out)["removed"] == [data["key"]]
    assert json.loads(out)["freed_bytes"] > 0
    assert json.loads(autopack("env", "list", "--json")[1]) == []


def test_prepare_failure_exits_1_with_the_command_and_the_fix(
    autopack: Callable[..., Result], tmp_path: Path
) -> None:
    repo = write_project(tmp_path / "repo", {
        "pyproject.toml": '[project]\nname = "calc"\nversion = "1"\nrequires-python = ">=3.99"\n',
        "test_calc.py": "def test_x():\n    pass\n",
    })  # fmt: skip

    code, _, err = autopack("env", "prepare", "--repo", str(repo))

    assert code == 1
    assert "environment build failed" in err and ">=3.99" in err
    assert "fix" in err and "install a Python matching" in " ".join(err.split())


def test_prepare_of_a_missing_directory_is_a_usage_error(
    autopack: Callable[..., Result], tmp_path: Path
) -> None:
    code, _, err = autopack("env", "prepare", "--repo", str(tmp_path / "nope"))
    assert code == 2 and "is not a directory" in err


def test_prepare_runs_the_setup_of_the_repositorys_autopack_yaml_inside_the_environment(
    autopack: Callable[..., Result], tmp_path: Path
) -> None:
    repo = no_pytest_project(tmp_path / "repo")
    # exit 7 only when tinydep (an environment package) imports; 1 otherwise
    setup = "python -c 'import tinydep; raise SystemExit(7)'"
    (repo / ".autopack.yaml").write_text(f"setup:\n  - {json.dumps(setup)}\n")
    git(repo, "add", ".autopack.yaml")
    git(repo, "commit", "-q", "-m", "setup")

    code, _, err = autopack("env", "prepare", "--repo", str(repo))

    assert code == 1
    assert "exit code 7" in " ".join(err.split())
    assert "setup command" in err
