"""Node and Go environments built for real, offline, from fixture projects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autopack.environments import EnvironmentSpec, prepare_environment
from autopack.settings import Settings
from autopack.toolchains.runner import run_command
from environment_fixtures import (
    clone,
    git,
    go_replace_project,
    node_file_dependency_project,
    write_project,
)

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("npm") is None, reason="`npm` is not installed")
def test_node_project_with_a_lock_file_gets_node_modules_from_npm_ci(
    tmp_path: Path, settings: Settings
) -> None:
    project = node_file_dependency_project(tmp_path / "web")

    env = prepare_environment(
        project, EnvironmentSpec(), envs_dir=settings.envs_dir, settings=settings
    )
    again = prepare_environment(
        project, EnvironmentSpec(), envs_dir=settings.envs_dir, settings=settings
    )

    assert env.toolchain == "node" and again.reused
    assert "tinylib@1.0.0" in env.installed
    assert "npm ci" in env.setup_log.read_text()  # type: ignore[union-attr]
    assert env.variables["npm_config_cache"].startswith(str(settings.env_cache_dir))
    result = run_command(["node", "--test"], project, timeout=120, env=env.command_env())
    assert result.exit_code == 0, result.output
    # node_modules is never committed, though the project does not ignore it
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.skipif(shutil.which("go") is None, reason="`go` is not installed")
def test_go_module_with_a_local_replace_downloads_into_the_shared_cache(
    tmp_path: Path, settings: Settings
) -> None:
    project = go_replace_project(tmp_path / "calc")

    env = prepare_environment(
        project, EnvironmentSpec(), envs_dir=settings.envs_dir, settings=settings
    )

    assert env.toolchain == "go"
    assert env.variables["GOMODCACHE"].startswith(str(settings.env_cache_dir))
    assert env.variables["GOPROXY"] == "off"  # the settings say offline
    result = run_command(["go", "test", "./..."], project, timeout=300, env=env.command_env())
    assert result.exit_code == 0, result.output


@pytest.mark.skipif(shutil.which("cargo") is None, reason="`cargo` is not installed")
def test_rust_crates_of_one_repository_share_a_target_dir_outside_the_worktree(
    tmp_path: Path, settings: Settings
) -> None:
    project = write_project(tmp_path / "calc", {
        "Cargo.toml": '[package]\nname = "calc"\nversion = "0.1.0"\nedition = "2021"\n',
        "src/lib.rs": "pub fn add(a: i32, b: i32) -> i32 { a + b }\n\n#[cfg(test)]\n"
        "mod tests {\n    #[test]\n    fn adds() { assert_eq!(super::add(2, 3), 5); }\n}\n",
    })  # fmt: skip
    other = clone(project, tmp_path / "other")

    env = prepare_environment(
        project, EnvironmentSpec(), envs_dir=settings.envs_dir, settings=settings
    )
    env_other = prepare_environment(
        other, EnvironmentSpec(), envs_dir=settings.envs_dir, settings=settings
    )

    target = env.variables["CARGO_TARGET_DIR"]
    assert target.startswith(str(settings.env_cache_dir))
    assert env_other.variables["CARGO_TARGET_DIR"] != target  # a clone is another repository
    result = run_command(
        ["cargo", "test", "--offline"], project, timeout=600, env=env.command_env()
    )
    assert result.exit_code == 0, result.output
    assert Path(target).is_dir() and not (project / "target").exists()
