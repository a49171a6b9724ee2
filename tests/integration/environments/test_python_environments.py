"""Python environments built for real with uv, offline, from fixture projects."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.environments import (
    Environment,
    EnvironmentBuildError,
    EnvironmentSpec,
    environment_key,
    list_environments,
    prepare_environment,
)
from autopack.environments.base import autopack_paths
from autopack.settings import Settings
from autopack.toolchains.runner import CommandResult, run_command
from environment_fixtures import (
    SHAPES,
    clone,
    git,
    hatch_pyproject,
    no_pytest_project,
    src_layout_needing_testhelper,
    src_layout_with_tests_extra,
    uv_lock_with_groups,
    write_project,
)

pytestmark = pytest.mark.slow


def prepare(worktree: Path, settings: Settings, spec: EnvironmentSpec | None = None,
            **kwargs: object) -> Environment:  # fmt: skip
    return prepare_environment(
        worktree, spec or EnvironmentSpec(), envs_dir=settings.envs_dir, settings=settings,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def run(env: Environment, cwd: Path, *argv: str) -> CommandResult:
    """A project command as verification runs it (the runner's allow-list and forced
    variables) with the environment's variables."""
    return run_command(list(argv), cwd, timeout=120, env=env.command_env())


def pytest_in(env: Environment, cwd: Path, junit: Path) -> CommandResult:
    return run(env, cwd, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={junit}")  # fmt: skip


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_project_shape_gets_an_environment_its_tests_pass_in(
    shape: str, tmp_path: Path, settings: Settings
) -> None:
    project = SHAPES[shape](tmp_path / shape)

    env = prepare(project, settings)

    done = pytest_in(env, project, tmp_path / "junit.xml")
    assert done.exit_code == 0, done.output
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    assert len(list(cases)) >= 2  # per-test results, unittest suites included
    assert env.toolchain == "python" and env.pytest_available
    assert env.interpreter and Path(env.interpreter).is_relative_to(env.root)  # type: ignore[arg-type]
    assert any(item.startswith("calc==") for item in env.installed)
    assert (project / ".venv").exists() is False  # nothing installed into the worktree
    assert git(project, "status", "--porcelain") == ""


def test_pytest_is_added_with_a_note_when_the_project_does_not_declare_it(
    tmp_path: Path, settings: Settings
) -> None:
    env = prepare(no_pytest_project(tmp_path / "p"), settings)

    assert any(item.startswith("pytest==") for item in env.installed)
    assert env.notes == ["pytest added: the project does not declare it"]


def test_uv_lock_project_is_synced_with_its_test_group(tmp_path: Path, settings: Settings,
                                                       wheel_dirs: list[Path]) -> None:  # fmt: skip
    project = uv_lock_with_groups(tmp_path / "locked", wheel_dirs)

    env = prepare(project, settings)

    assert {"testhelper==1.0", "tinydep==2.0"} <= set(env.installed)
    assert pytest_in(env, project, tmp_path / "j.xml").exit_code == 0
    assert "uv sync --frozen" in env.setup_log.read_text()  # type: ignore[union-attr]


def test_hatch_vcs_version_comes_from_the_worktree_tags(tmp_path: Path, settings: Settings) -> None:
    env = prepare(SHAPES["hatch-vcs"](tmp_path / "vcs"), settings)

    assert "calc==1.2.3" in env.installed


def test_project_commands_never_see_autopack(tmp_path: Path, settings: Settings) -> None:
    project = src_layout_with_tests_extra(tmp_path / "p")
    (project / "tests" / "test_isolation.py").write_text(
        "import importlib.util, os, sys\n\n\n"
        "def test_autopack_is_not_importable():\n"
        "    assert importlib.util.find_spec('autopack') is None\n"
        "    assert importlib.util.find_spec('sqlalchemy') is None\n\n\n"
        "def test_no_autopack_variables():\n"
        "    assert not [k for k in os.environ if k.startswith('AUTOPACK_')]\n"
    )
    env = prepare(project, settings)

    path_entries = env.command_env()["PATH"].split(":")
    for autopack_dir in autopack_paths():
        assert str(autopack_dir) not in path_entries
    assert path_entries[0] == str(env.bin_dirs[0])
    result = run_command(
        ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, timeout=120,
        env=env.command_env(),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "5 passed" in result.output


def test_two_worktrees_share_a_key_but_each_imports_its_own_code(
    tmp_path: Path, settings: Settings
) -> None:
    first = src_layout_with_tests_extra(tmp_path / "first")
    second = clone(first, tmp_path / "second")
    (second / "src" / "calc" / "__init__.py").write_text("def add(a, b):\n    return 'second'\n")

    env_a = prepare(first, settings)
    env_b = prepare(second, settings)

    assert env_a.key == env_b.key and env_a.root == env_b.root
    assert env_b.reused is True
    show = "import calc; print(calc.__file__, calc.add(1, 1))"
    out_a = run(env_a, tmp_path, "python", "-c", show).stdout
    out_b = run(env_b, tmp_path, "python", "-c", show).stdout
    assert out_a.startswith(str(first)) and out_a.strip().endswith("2")
    assert out_b.startswith(str(second)) and out_b.strip().endswith("second")
    # pytest on PATH is the worktree's too (the overlay's console script)
    done = run(env_b, second, "pytest", "-q", "-p", "no:cacheprovider")
    assert done.exit_code == 1, done.output


def test_a_dev_group_beside_a_test_group_is_not_installed(
    tmp_path: Path, settings: Settings
) -> None:
    # filelock's shape: dev = test + docs + release tools, one of which cannot install here
    # (its Sphinx needs a newer Python); here a package no index has stands for it.
    groups = (
        '\n[dependency-groups]\ntest = ["pytest", "testhelper"]\n'
        'dev = [{include-group = "test"}, "not-on-any-index-autopack-xyz"]\n'
    )
    project = src_layout_needing_testhelper(tmp_path / "groups", groups)

    env = prepare(project, settings)

    assert "--group pyproject.toml:test" in env.setup_log.read_text()  # type: ignore[union-attr]
    assert pytest_in(env, project, tmp_path / "j.xml").exit_code == 0


@pytest.mark.parametrize("installable", [True, False])
def test_the_project_wins_over_a_dependency_of_the_same_name(
    installable: bool, tmp_path: Path, settings: Settings
) -> None:
    # iniconfig's own tests: pytest depends on iniconfig, so the keyed venv holds the
    # released one; the tests must import the worktree's (src layout when it is a package,
    # the worktree's root when it is not, and run by the `pytest` script, which does not
    # put the current directory on sys.path as `python -m pytest` does).
    package = "src/iniconfig" if installable else "iniconfig"
    files = {
        # What pytest imports from it (it parses no ini file here), and a marker.
        f"{package}/__init__.py": "WHERE = 'worktree'\n\n\nclass IniConfig:\n    pass\n\n\n"
        "class SectionWrapper:\n    pass\n\n\nclass ParseError(Exception):\n    pass\n",
        "tests/test_where.py": "import iniconfig\n\n\ndef test_where():\n"
        "    assert iniconfig.WHERE == 'worktree'\n",
        # pytest (and with it the released iniconfig) is added: the project declares none.
        "requirements.txt": "",
    }
    if installable:
        files["pyproject.toml"] = hatch_pyproject(deps="", name="iniconfig") + (
            '\n[tool.hatch.build.targets.wheel]\npackages = ["src/iniconfig"]\n'
        )
    project = write_project(tmp_path / "iniconfig", files)

    env = prepare(project, settings)

    assert any(item.startswith("pytest==") for item in env.installed)
    done = run(env, project, "pytest", "-q", "-p", "no:cacheprovider")
    assert done.exit_code == 0, done.output
    assert "1 passed" in done.output


def test_reuse_and_a_changed_manifest_gives_a_new_key_and_a_rebuilt_environment(
    tmp_path: Path, settings: Settings
) -> None:
    project = no_pytest_project(tmp_path / "p")
    first = prepare(project, settings)
    again = prepare(project, settings)
    assert (first.reused, again.reused) == (False, True)
    assert again.key == first.key == environment_key(project, EnvironmentSpec())

    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('"tinydep>=1"', '"tinydep>=1", "testhelper"')
    )
    changed = prepare(project, settings)

    assert changed.key != first.key and changed.reused is False
    assert "testhelper==1.0" in changed.installed
    assert run(changed, project, "python", "-c", "import testhelper").exit_code == 0
    assert {e.key for e in list_environments(settings.envs_dir)} == {first.key, changed.key}


def test_concurrent_prepares_of_one_key_build_it_once(tmp_path: Path, settings: Settings) -> None:
    projects = [no_pytest_project(tmp_path / "a"), None]
    projects[1] = clone(projects[0], tmp_path / "b")  # type: ignore[arg-type]
    results: list[Environment] = []
    errors: list[BaseException] = []

    def worker(worktree: Path) -> None:
        try:
            results.append(prepare(worktree, settings))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p,)) for p in projects]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    assert errors == []
    assert sorted(e.reused for e in results) == [False, True]
    assert len({e.key for e in results}) == 1
    build_log = (results[0].root / "build.log").read_text()  # type: ignore[operator]
    assert build_log.count("building the python environment") == 1


def test_a_half_built_environment_is_removed_and_rebuilt(
    tmp_path: Path, settings: Settings
) -> None:
    project = no_pytest_project(tmp_path / "p")
    key = environment_key(project, EnvironmentSpec())
    half = settings.envs_dir / key
    (half / "venv" / "bin").mkdir(parents=True)
    (half / "venv" / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")

    env = prepare(project, settings)

    assert env.reused is False
    assert run(env, project, "python", "-c", "import tinydep").exit_code == 0


def test_a_failed_build_leaves_no_ready_environment(tmp_path: Path, settings: Settings) -> None:
    project = write_project(tmp_path / "p", {
        "pyproject.toml": '[project]\nname = "calc"\nversion = "1"\n'
                          'dependencies = ["not-a-package-anywhere"]\n',
        "calc.py": "", "test_calc.py": "def test_x():\n    pass\n",
    })  # fmt: skip

    with pytest.raises(EnvironmentBuildError) as caught:
        prepare(project, settings)

    err = caught.value
    assert err.exit_code not in (None, 0)
    assert "not-a-package-anywhere" in err.log
    assert err.command and "uv pip install" in err.command
    assert err.fix
    assert list_environments(settings.envs_dir) == []


def test_unsatisfiable_requires_python_names_the_version(
    tmp_path: Path, settings: Settings
) -> None:
    project = write_project(tmp_path / "p", {
        "pyproject.toml": '[project]\nname = "calc"\nversion = "1"\nrequires-python = ">=3.99"\n',
        "calc.py": "", "test_calc.py": "def test_x():\n    pass\n",
    })  # fmt: skip

    with pytest.raises(EnvironmentBuildError) as caught:
        prepare(project, settings)

    assert ">=3.99" in str(caught.value)
    assert "install a Python matching >=3.99" in (caught.value.fix or "")


def test_setup_commands_run_once_per_worktree_inside_the_environment(
    tmp_path: Path, settings: Settings
) -> None:
    project = no_pytest_project(tmp_path / "p")
    spec = EnvironmentSpec(
        setup=["python -c \"import tinydep; open('gen.txt', 'a').write('x')\""],
        env={"CALC_MODE": "fast"},
    )

    env = prepare(project, spec=spec, settings=settings)
    prepare(project, spec=spec, settings=settings)

    assert (project / "gen.txt").read_text() == "x"
    assert env.command_env()["CALC_MODE"] == "fast"
    assert env.key != environment_key(project, EnvironmentSpec())


def test_a_failing_setup_command_reports_the_command_and_the_fix(
    tmp_path: Path, settings: Settings
) -> None:
    project = no_pytest_project(tmp_path / "p")
    spec = EnvironmentSpec(setup=["sh -c 'echo cannot generate >&2; exit 3'"])
    lines: list[str] = []

    with pytest.raises(EnvironmentBuildError) as caught:
        prepare(project, spec=spec, settings=settings, progress=lines.append)

    assert caught.value.exit_code == 3
    assert "cannot generate" in caught.value.log
    assert "setup command" in (caught.value.fix or "")
    assert any(line.startswith("setup:") for line in lines)


def test_a_project_with_no_toolchain_still_gets_an_autopack_free_path(
    tmp_path: Path, settings: Settings
) -> None:
    project = write_project(tmp_path / "docs", {"README.md": "# just docs\n"})

    env = prepare(project, settings)

    assert (env.toolchain, env.root, env.bin_dirs) == (None, None, [])
    for autopack_dir in autopack_paths():
        assert str(autopack_dir) not in env.command_env()["PATH"].split(":")


_: Callable[..., object] = prepare  # keeps the helper's signature checked by mypy
