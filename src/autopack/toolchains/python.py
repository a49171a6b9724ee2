"""Python projects: pip, poetry and uv; pytest or unittest.

A unittest suite whose modules follow neither pytest's nor unittest's naming
(``tests/basicTests.py``, run by ``setup.py test`` or by hand) is found by its
``unittest.TestCase`` classes in ``tests/`` or ``test/``, and its modules are named to the
runner (:func:`unittest_modules`): otherwise nothing would be collected and the project
would look like one without tests.

Evidence, strongest first: pyproject.toml / setup.py / setup.cfg, then requirements*.txt
or a Pipfile, then pytest configuration (pytest.ini, conftest.py), then loose ``.py``
files. Without a run environment, the interpreter is the project's own ``.venv``/``venv``
when it has one, else ``poetry run`` / ``uv run`` for those projects, else ``python3`` from
PATH: the tests must run against the project's dependencies, never against Autopack's.
In a run, the executor prepares an environment (:mod:`autopack.environments`) and the tests
run with its interpreter (:func:`environment_test_command`).
"""

from __future__ import annotations

import re
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

#: Where unittest modules are looked for when their names follow no runner's default.
UNITTEST_DIRS = ("tests", "test")
#: What pytest collects by default (its ``python_files``).
PYTEST_FILES = ("test_*.py", "*_test.py")
_TESTCASE_CLASS = re.compile(r"^class\s+\w+\s*\([^)]*\bTestCase\b", re.MULTILINE)


def unittest_modules(path: Path) -> list[str]:
    """Modules in ``tests/`` or ``test/`` (and below) that define ``unittest.TestCase``
    classes but that neither pytest's default file names nor unittest's ``test*.py``
    would collect, relative to ``path``, sorted."""
    found: list[str] = []
    for directory in UNITTEST_DIRS:
        root = path / directory
        if not root.is_dir():
            continue
        for module in sorted(root.rglob("*.py"))[:500]:
            name = module.name
            if name.startswith("test") or name.endswith("_test.py") or name == "__init__.py":
                continue
            text = read_text(module, 200_000)
            if "unittest" in text and _TESTCASE_CLASS.search(text):
                found.append(module.relative_to(path).as_posix())
    return found


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
        extra = unittest_modules(path) if test_tool == "unittest" else []
        if test_tool == "pytest":
            test = pytest_command(python)
            report_format = "junit"
        elif extra:
            reasons.append(f"unittest modules named outside test*.py: {', '.join(extra[:5])}")
            # Named modules replace discovery, so the ones discovery would find are named too.
            discovered = sorted(
                p.relative_to(path).as_posix()
                for d in UNITTEST_DIRS
                if (path / d).is_dir()
                for p in (path / d).rglob("test*.py")
            )
            test = [*python, "-m", "unittest", "-v", *discovered, *extra]
            report_format = "exit-code"
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
            extra_test_files=extra,
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
        names = sorted({Path(f).name for f in detection.extra_test_files})
        # The suite's own module names join pytest's defaults, so pytest still collects
        # any test_*.py a phase adds.
        files = ["-o", "python_files=" + " ".join([*PYTEST_FILES, *names])] if names else []
        return TestCommand(
            argv=[*pytest_command([interpreter]), *files],
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
    test_files = any_files(path, PYTEST_FILES, limit=1000)
    if test_files and all("unittest" in read_text(f, 20_000) for f in test_files[:20]):
        return "unittest"
    if not test_files and unittest_modules(path):
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
