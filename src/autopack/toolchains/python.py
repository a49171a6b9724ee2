"""Python projects: pip, poetry and uv; pytest or unittest.

Evidence, strongest first: pyproject.toml / setup.py / setup.cfg, then requirements*.txt
or a Pipfile, then pytest configuration (pytest.ini, conftest.py), then loose ``.py``
files. Without a run environment, the interpreter is the project's own ``.venv``/``venv``
when it has one, else ``poetry run`` / ``uv run`` for those projects, else ``python3`` from
PATH: the tests must run against the project's dependencies, never against Autopack's.
In a run, the executor prepares an environment (:mod:`autopack.environments`) and the tests
run with its interpreter (:func:`environment_test_command`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from autopack.toolchains.base import (
    JUNIT_XML,
    Detection,
    TestCommand,
    Toolchain,
    any_files,
    read_text,
)


class PythonToolchain(Toolchain):
    name = "python"

    def detect(self, path: Path) -> Detection | None:
        reasons: list[str] = []
        confidence = 0.0
        pyproject = _load_toml(path / "pyproject.toml")
        for manifest in ("pyproject.toml", "setup.py", "setup.cfg"):
            if (path / manifest).is_file():
                reasons.append(f"{manifest} present")
                confidence = max(confidence, 0.9)
        requirements = sorted(p.name for p in path.glob("requirements*.txt"))
        if requirements or (path / "Pipfile").is_file():
            reasons.append(f"{', '.join(requirements) or 'Pipfile'} present")
            confidence = max(confidence, 0.75)
        for marker in ("pytest.ini", "conftest.py", "tox.ini"):
            if (path / marker).is_file():
                reasons.append(f"{marker} present")
                confidence = max(confidence, 0.7)
        if confidence == 0.0:
            sources = any_files(path, ("*.py",), limit=500)
            if not sources:
                return None
            reasons.append(f"{len(sources)} .py file(s), no manifest")
            confidence = 0.4

        manager = _package_manager(path, pyproject)
        if manager != "pip":
            reasons.append(f"package manager: {manager}")
        python = _interpreter(path, manager)
        if python[0] != "python3":
            reasons.append(f"interpreter: {' '.join(python)}")
        test_tool = _test_tool(path, pyproject, requirements)
        reasons.append(f"test runner: {test_tool}")
        if test_tool == "pytest":
            test = pytest_command(python)
            report_format = "junit"
        else:
            start = ["-s", "tests"] if (path / "tests").is_dir() else []
            test = [*python, "-m", "unittest", "discover", "-v", *start]
            report_format = "exit-code"
        return Detection(
            toolchain="python",
            confidence=confidence,
            reasons=reasons,
            test_tool=test_tool,
            install_command=_install(path, manager, pyproject, requirements, python),
            build_command=None,
            test_command=test,
            lint_command=_lint(path, pyproject, python),
            report_format=report_format,
        )


def pytest_command(python: list[str]) -> list[str]:
    """pytest through ``python``, writing JUnit XML outside the worktree."""
    # -p no:cacheprovider: .pytest_cache in the worktree would end up committed.
    return [*python, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={JUNIT_XML}"]


def environment_test_command(
    detection: Detection, interpreter: str, *, pytest_available: bool
) -> TestCommand:
    """The test command of a detected Python project, run by the environment's
    ``interpreter`` (never ``uv run`` or ``poetry run``, which would make an environment
    of their own inside the worktree).

    A unittest-style suite runs through pytest when the environment has it: pytest
    collects ``unittest.TestCase`` classes and reports every test in JUnit XML, so the
    baseline delta sees each test instead of one exit code for the whole suite.
    """
    if detection.test_tool == "pytest" or pytest_available:
        return TestCommand(
            argv=pytest_command([interpreter]),
            env=dict(detection.env),
            report_format="junit",
            test_tool="pytest",
            origin="detected",
        )
    argv = list(detection.test_command or [])
    unittest_args = argv[argv.index("-m") + 1 :] if "-m" in argv else ["unittest", "discover"]
    return TestCommand(
        argv=[interpreter, "-m", *unittest_args],
        env=dict(detection.env),
        report_format=detection.report_format,
        test_tool=detection.test_tool,
        origin="detected",
    )


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError:
        return {}


def _package_manager(path: Path, pyproject: dict[str, Any]) -> str:
    tool = pyproject.get("tool", {})
    if (path / "uv.lock").is_file() or "uv" in tool:
        return "uv"
    if (path / "poetry.lock").is_file() or "poetry" in tool:
        return "poetry"
    return "pip"


def _interpreter(path: Path, manager: str) -> list[str]:
    for venv in (".venv", "venv"):
        candidate = path / venv / "bin" / "python"
        if candidate.exists():
            return [str(candidate)]
    if manager == "poetry":
        return ["poetry", "run", "python"]
    if manager == "uv":
        # --frozen: a test run must not rewrite uv.lock.
        return ["uv", "run", "--frozen", "python"]
    return ["python3"]


def _test_tool(path: Path, pyproject: dict[str, Any], requirements: list[str]) -> str:
    """pytest when anything mentions it; unittest when the tests are plainly unittest."""
    if (
        "pytest" in pyproject.get("tool", {})
        or (path / "pytest.ini").is_file()
        or (path / "conftest.py").is_file()
    ):
        return "pytest"
    texts = [
        read_text(path / name)
        for name in ("pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "Pipfile", *requirements)
    ]
    if any("pytest" in text for text in texts):
        return "pytest"
    test_files = any_files(path, ("test_*.py", "*_test.py"), limit=1000)
    if test_files and all("unittest" in read_text(f, 20_000) for f in test_files[:20]):
        return "unittest"
    # pytest also runs unittest-style tests and reports them per test.
    return "pytest"


def _install(
    path: Path, manager: str, pyproject: dict[str, Any], requirements: list[str], python: list[str]
) -> list[str] | None:
    if manager == "poetry":
        return ["poetry", "install"]
    if manager == "uv":
        return ["uv", "sync"]
    args: list[str] = []
    for name in requirements:
        args += ["-r", name]
    if pyproject.get("project") or (path / "setup.py").is_file() or (path / "setup.cfg").is_file():
        extras = pyproject.get("project", {}).get("optional-dependencies", {})
        args += ["-e", ".[dev]" if "dev" in extras else "."]
    return [*python, "-m", "pip", "install", *args] if args else None


def _lint(path: Path, pyproject: dict[str, Any], python: list[str]) -> list[str] | None:
    tool = pyproject.get("tool", {})
    if "ruff" in tool or (path / "ruff.toml").is_file() or (path / ".ruff.toml").is_file():
        return [*python, "-m", "ruff", "check", "."]
    if (
        (path / ".flake8").is_file()
        or "[flake8]" in read_text(path / "setup.cfg")
        or "[flake8]" in read_text(path / "tox.ini")
    ):
        return [*python, "-m", "flake8"]
    return None
