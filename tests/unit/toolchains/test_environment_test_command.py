"""Python tests in a run environment: the environment's interpreter runs them, and a
unittest-style suite is reported per test through pytest when the environment has it."""

from __future__ import annotations

import sys
from pathlib import Path

from autopack.toolchains.base import JUNIT_XML
from autopack.toolchains.detect import detect_best, plan_test_commands
from autopack.toolchains.python import environment_test_command
from autopack.verify.baseline_gate import has_test_files
from autopack.verify.suite import run_tests

UNITTEST_SUITE = """import unittest


class CalcTest(unittest.TestCase):
    def test_adds(self):
        self.assertEqual(1 + 1, 2)

    def test_known_bug(self):
        self.assertEqual(1 + 1, 3)


class OtherTest(unittest.TestCase):
    def test_other(self):
        self.assertTrue(True)
"""


def unittest_project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "__init__.py").write_text("", encoding="utf-8")
    (root / "tests" / "test_calc.py").write_text(UNITTEST_SUITE, encoding="utf-8")
    (root / "setup.cfg").write_text("[metadata]\nname = calc\n", encoding="utf-8")
    return root


def test_a_uv_project_runs_with_the_environment_interpreter_not_uv_run(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname='x'\nversion='1'\n[tool.pytest.ini_options]\n", encoding="utf-8"
    )
    (tmp_path / "uv.lock").write_text("version = 1\n", encoding="utf-8")
    assert detect_best(tmp_path).test_command[:3] == ["uv", "run", "--frozen"]  # type: ignore[union-attr]
    [command] = plan_test_commands(tmp_path, interpreter="/envs/k/bin/python")
    assert command.argv == [
        "/envs/k/bin/python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        f"--junitxml={JUNIT_XML}",
    ]
    assert (command.report_format, command.test_tool) == ("junit", "pytest")


def test_plan_commands_are_left_as_written_in_an_environment(tmp_path: Path) -> None:
    [command] = plan_test_commands(
        tmp_path, run_verify="python -m pytest -q", interpreter="/envs/k/bin/python"
    )
    assert command.argv == "python -m pytest -q"


def test_a_unittest_suite_without_pytest_runs_unittest_with_the_interpreter(
    tmp_path: Path,
) -> None:
    detection = detect_best(unittest_project(tmp_path))
    assert detection is not None and detection.test_tool == "unittest"
    command = environment_test_command(detection, "/envs/k/bin/python", pytest_available=False)
    assert command.argv == [
        "/envs/k/bin/python",
        "-m",
        "unittest",
        "discover",
        "-v",
        "-s",
        "tests",
    ]


def test_a_unittest_suite_is_reported_per_test_when_the_environment_has_pytest(
    tmp_path: Path,
) -> None:
    project = unittest_project(tmp_path)
    detection = detect_best(project)
    assert detection is not None
    # The interpreter here is only "a Python that has pytest": this is a toolchain test; the
    # run environment's interpreter plays this part in a run.
    command = environment_test_command(detection, sys.executable, pytest_available=True)
    report = run_tests(project, command, timeout=120, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert report.source == "junit"
    assert {t.id: t.outcome for t in report.tests} == {
        "tests.test_calc.CalcTest::test_adds": "passed",
        "tests.test_calc.CalcTest::test_known_bug": "failed",
        "tests.test_calc.OtherTest::test_other": "passed",
    }


BASIC_TESTS = (
    "import unittest\n\nimport calc\n\n\n"
    "class Checks(object):\n    pass\n\n\n"
    "class TestAll(unittest.TestCase, Checks):\n"
    "    def test_adds(self):\n        self.assertEqual(calc.add(1, 2), 3)\n"
)


def test_unittest_modules_named_outside_test_py_are_named_to_the_runner(tmp_path: Path) -> None:
    # asweigart/pytweening: tests/basicTests.py, collected by neither runner's defaults.
    for rel, text in {
        "setup.py": "from setuptools import setup\nsetup(name='calc', py_modules=['calc'])\n",
        "calc.py": "def add(a, b):\n    return a + b\n",
        "tests/basicTests.py": BASIC_TESTS,
        "tests/seeGraphs.py": "import matplotlib\n",  # a script, not tests: never imported
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    detection = detect_best(tmp_path)
    assert detection is not None and detection.test_tool == "unittest"
    assert detection.extra_test_files == ["tests/basicTests.py"]
    assert has_test_files(tmp_path)
    plain = environment_test_command(detection, "/envs/k/bin/python", pytest_available=False)
    assert plain.argv == ["/envs/k/bin/python", "-m", "unittest", "-v", "tests/basicTests.py"]

    command = environment_test_command(detection, sys.executable, pytest_available=True)
    assert "python_files=test_*.py *_test.py basicTests.py" in command.argv
    report = run_tests(tmp_path, command, timeout=120, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert {t.id: t.outcome for t in report.tests} == {
        "tests.basicTests.TestAll::test_adds": "passed"
    }


def test_named_unittest_modules_keep_the_ones_discovery_finds(tmp_path: Path) -> None:
    for rel, text in {
        "setup.py": "from setuptools import setup\nsetup(name='calc', py_modules=['calc'])\n",
        "tests/basicTests.py": BASIC_TESTS,
        "tests/test_more.py": "import unittest\n\n\nclass T(unittest.TestCase):\n    pass\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    detection = detect_best(tmp_path)
    assert detection is not None and detection.test_command is not None
    assert detection.test_command[-2:] == ["tests/test_more.py", "tests/basicTests.py"]
