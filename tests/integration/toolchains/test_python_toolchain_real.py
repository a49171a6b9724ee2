"""Python projects run for real: detection, pytest and unittest runs, baseline and finalizer.

Each project gets a `.venv/bin/python` that execs this interpreter, so detection takes its
"project venv" path and pytest comes from Autopack's own venv. Plugin autoloading is off
inside it only to keep each run well under a second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.toolchains.detect import detect_best, plan_test_commands
from autopack.verify import Baseline, FinalizerInputs, PhaseFinalizer, compute_delta, run_tests

pytestmark = pytest.mark.slow
WriteTreeT = Callable[[Path, dict[str, str]], Path]

VENV_PYTHON = f'#!/bin/sh\nPYTEST_DISABLE_PLUGIN_AUTOLOAD=1 exec "{sys.executable}" "$@"\n'
PYPROJECT = "[project]\nname = 'calc'\nversion = '0'\n[tool.pytest.ini_options]\n"
CALC = "def add(a, b):\n    return a + b\n"
TESTS_OK = (
    "from calc import add\n\n"
    "def test_add():\n    assert add(1, 2) == 3\n\n"
    "def test_add_negative():\n    assert add(-1, -2) == -3\n"
)
TESTS_FAIL = TESTS_OK + "\ndef test_wrong():\n    assert add(2, 2) == 5, 'two and two'\n"


def project(root: Path, write_tree: WriteTreeT, tests: str, **extra: str) -> Path:
    write_tree(
        root,
        {
            "pyproject.toml": PYPROJECT,
            "calc.py": CALC,
            "conftest.py": "",
            ".venv/bin/python": VENV_PYTHON,
            "tests/test_calc.py": tests,
            **extra,
        },
    )
    (root / ".venv" / "bin" / "python").chmod(0o755)
    return root


def test_passing_suite(tmp_path: Path, write_tree: WriteTreeT) -> None:
    root = project(tmp_path / "p", write_tree, TESTS_OK)
    detection = detect_best(root)
    assert detection is not None and detection.toolchain == "python"
    assert detection.test_command is not None
    assert detection.test_command[0] == str(root / ".venv" / "bin" / "python")

    report = run_tests(root, detection, timeout=60)
    assert report.passed, report.log_tail
    assert report.source == "junit"
    assert sorted(t.id for t in report.tests) == [
        "tests.test_calc::test_add",
        "tests.test_calc::test_add_negative",
    ]
    # Nothing the run wrote is left in the worktree to be committed.
    leftovers = {p.name for p in root.rglob("*")} & {".pytest_cache", "__pycache__", "junit.xml"}
    assert leftovers == set()


def test_failing_test_is_a_new_failure_without_baseline(
    tmp_path: Path, write_tree: WriteTreeT
) -> None:
    root = project(tmp_path / "p", write_tree, TESTS_FAIL)
    report = run_tests(root, plan_test_commands(root), timeout=60)
    assert report.exit_code == 1 and not report.passed
    assert report.failing_ids == ["tests.test_calc::test_wrong"]
    assert "two and two" in report.tests[-1].message
    decision = PhaseFinalizer().decide(FinalizerInputs(worktree=root, delta=compute_delta(report)))
    assert decision.outcome == "retry"
    assert "tests.test_calc::test_wrong" in decision.reason


def test_collection_error_blocks_completion(tmp_path: Path, write_tree: WriteTreeT) -> None:
    root = project(
        tmp_path / "p",
        write_tree,
        TESTS_OK,
        **{"tests/test_broken.py": "import not_a_real_module\n"},
    )
    report = run_tests(root, detect_best(root) or "", timeout=60)
    assert report.exit_code == 2
    assert len(report.collection_errors) == 1
    assert report.collection_errors[0].startswith("tests.test_broken: could not be loaded")
    assert "not_a_real_module" in report.collection_errors[0]
    decision = PhaseFinalizer().decide(FinalizerInputs(worktree=root, delta=compute_delta(report)))
    assert decision.outcome == "retry" and "collection error" in decision.reason


def test_timeout_kills_the_run(tmp_path: Path, write_tree: WriteTreeT) -> None:
    slow = "import time\n\ndef test_slow():\n    time.sleep(60)\n"
    root = project(tmp_path / "p", write_tree, TESTS_OK, **{"tests/test_slow.py": slow})
    started = time.monotonic()
    report = run_tests(root, detect_best(root) or "", timeout=3)
    assert time.monotonic() - started < 15
    assert report.timed_out and not report.passed
    assert "timed out" in report.note


def test_pre_existing_failures_do_not_block(tmp_path: Path, write_tree: WriteTreeT) -> None:
    root = project(tmp_path / "p", write_tree, TESTS_FAIL)
    baseline = Baseline.from_report(run_tests(root, detect_best(root) or "", timeout=60))
    assert baseline.failing == {"tests.test_calc::test_wrong"}

    # The phase adds a feature and its test; the old failure is still there.
    write_tree(
        root,
        {
            "calc.py": CALC + "\ndef mul(a, b):\n    return a * b\n",
            "tests/test_mul.py": "from calc import mul\n\ndef test_mul():\n"
            "    assert mul(2, 3) == 6\n",
        },
    )
    delta = baseline.delta(run_tests(root, detect_best(root) or "", timeout=60))
    assert delta.new_failures == [] and delta.still_failing == ["tests.test_calc::test_wrong"]
    decision = PhaseFinalizer().decide(
        FinalizerInputs(worktree=root, delta=delta, deliverables=["calc.py::mul"])
    )
    assert decision.outcome == "complete", decision.reason

    # A later change breaks a test that passed at baseline: that one is the change's fault.
    write_tree(
        root, {"calc.py": "def add(a, b):\n    return a - b\n\ndef mul(a, b):\n    return a * b\n"}
    )
    delta = baseline.delta(run_tests(root, detect_best(root) or "", timeout=60))
    assert delta.new_failures == ["tests.test_calc::test_add", "tests.test_calc::test_add_negative"]
    assert PhaseFinalizer().decide(FinalizerInputs(worktree=root, delta=delta)).outcome == "retry"


def test_no_tests_collected(tmp_path: Path, write_tree: WriteTreeT) -> None:
    root = project(tmp_path / "p", write_tree, "# no tests yet\n")
    report = run_tests(root, detect_best(root) or "", timeout=60)
    assert report.exit_code == 5
    assert report.no_tests_collected and report.collection_errors == []
    assert not report.passed


def test_plan_command_behind_a_script_still_reports_per_test(
    tmp_path: Path, write_tree: WriteTreeT
) -> None:
    root = project(
        tmp_path / "p",
        write_tree,
        TESTS_FAIL,
        **{"run_tests.sh": "#!/bin/sh\n.venv/bin/python -m pytest -q tests\n"},
    )
    [command] = plan_test_commands(root, run_verify="sh run_tests.sh")
    report = run_tests(root, command, timeout=60)
    assert report.source == "junit"  # PYTEST_ADDOPTS reached pytest through the script
    assert report.failing_ids == ["tests.test_calc::test_wrong"]
    assert report.command == "sh run_tests.sh"


def test_unittest_project_is_judged_by_exit_code_and_import_errors(
    tmp_path: Path, write_tree: WriteTreeT
) -> None:
    root = write_tree(
        tmp_path / "u",
        {
            "requirements.txt": "\n",
            ".venv/bin/python": VENV_PYTHON,
            "tests/test_ok.py": "import unittest\n\nclass T(unittest.TestCase):\n"
            "    def test_ok(self):\n        self.assertTrue(True)\n",
        },
    )
    (root / ".venv" / "bin" / "python").chmod(0o755)
    detection = detect_best(root)
    assert detection is not None and detection.test_tool == "unittest"
    ok = run_tests(root, detection, timeout=60)
    assert ok.passed and ok.source == "exit-code" and "exit code" in ok.note

    write_tree(root, {"tests/test_broken.py": "import unittest\nimport not_there\n"})
    broken = run_tests(root, detection, timeout=60)
    assert broken.collection_errors == ["test_broken: could not be imported"]
    assert not broken.passed
