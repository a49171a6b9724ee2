"""The baseline gate: which starting points a run may not build on, and what the report says."""

from __future__ import annotations

from pathlib import Path

from autopack.toolchains.results import SUITE_ID, TestCase, TestReport
from autopack.verify.baseline_gate import ALLOW_FAILING_HINT, StartProblem, judge_baseline

MISSING_DEP_LOG = """\
==================================== ERRORS ====================================
_____________________ ERROR collecting tests/test_calc.py ______________________
ImportError while importing test module '/w/tests/test_calc.py'.
tests/test_calc.py:1: in <module>
    import attrs_extra
E   ModuleNotFoundError: No module named 'attrs_extra'
=========================== short test summary info ============================
ERROR tests/test_calc.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
"""


def report(**fields: object) -> TestReport:
    data: dict[str, object] = {"source": "junit", "command": "python -m pytest", "exit_code": 0}
    data.update(fields)
    return TestReport.model_validate(data)


def test_a_suite_with_ordinary_failures_is_a_usable_baseline(tmp_path: Path) -> None:
    ran = report(
        exit_code=1,
        tests=[
            TestCase(id="tests/test_a.py::test_ok", outcome="passed"),
            TestCase(id="tests/test_a.py::test_known_bug", outcome="failed", message="boom"),
        ],
    )
    assert judge_baseline(ran, worktree=tmp_path) is None


def test_a_project_without_tests_is_a_usable_baseline(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text("X = 1\n", encoding="utf-8")
    assert judge_baseline(report(exit_code=5, no_tests_collected=True), worktree=tmp_path) is None


def test_collection_errors_are_diagnosed_by_the_hardening_registry(tmp_path: Path) -> None:
    broken = report(
        exit_code=2,
        collection_errors=["tests/test_calc.py: could not be collected"],
        log_tail=MISSING_DEP_LOG,
    )
    problem = judge_baseline(broken, worktree=tmp_path, toolchain="python")
    assert problem is not None
    assert problem.stage == "baseline"
    assert "could not be collected" in problem.problem
    assert (problem.command, problem.exit_code) == ("python -m pytest", 2)
    assert any(d.startswith("python_missing_dep: ") for d in problem.diagnosis)
    assert "attrs_extra" in problem.fix[0]
    assert problem.fix[-1] == ALLOW_FAILING_HINT
    reason = problem.reason()
    for needed in ("python -m pytest (exit code 2)", "No module named 'attrs_extra'", "fix: "):
        assert needed in reason


def test_no_tests_collected_while_test_files_exist_is_not_usable(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text("def test_x(): pass\n", encoding="utf-8")
    problem = judge_baseline(report(exit_code=5, no_tests_collected=True), worktree=tmp_path)
    assert problem is not None and "collected no tests" in problem.problem


def test_an_exit_code_only_failure_is_not_usable(tmp_path: Path) -> None:
    failed = report(
        source="exit-code",
        exit_code=1,
        tests=[TestCase(id=SUITE_ID, outcome="failed", message="Error: cannot start")],
        log_tail="sh: 1: pytest: not found\n",
    )
    problem = judge_baseline(failed, worktree=tmp_path)
    assert problem is not None
    assert "no per-test results" in problem.problem
    assert any(d.startswith("missing_tool") for d in problem.diagnosis)
    assert "`pytest` is not available" in problem.fix[0]


def test_a_timeout_is_not_usable(tmp_path: Path) -> None:
    slow = report(timed_out=True, exit_code=-9, duration_s=600.0)
    problem = judge_baseline(slow, worktree=tmp_path)
    assert problem is not None and "within 600s" in problem.problem


def test_the_reason_keeps_only_the_log_tail_and_names_the_full_log() -> None:
    log = "\n".join(f"line {i}" for i in range(100))
    problem = StartProblem(stage="setup", problem="x", log_tail=log, log_path="/a/setup.log")
    reason = problem.reason()
    assert "line 99" in reason and "line 84" not in reason
    assert "full log: /a/setup.log" in reason
