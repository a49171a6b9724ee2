"""build_report: which evidence wins, and every way "the suite could not run" surfaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.toolchains.base import TestCommand
from autopack.toolchains.results import SUITE_ID
from autopack.toolchains.runner import CommandResult
from autopack.verify.suite import build_report, run_tests

PASSING_XML = """<testsuites><testsuite name="pytest">
<testcase classname="t" name="test_a" time="0.1"/></testsuite></testsuites>"""


def result(exit_code: int, output: str = "", *, timed_out: bool = False) -> CommandResult:
    return CommandResult(
        command="cmd",
        cwd="/p",
        exit_code=exit_code,
        stdout=output,
        stderr="",
        output=output,
        duration_s=1.0,
        timed_out=timed_out,
        truncated=False,
    )


PYTEST = TestCommand(argv=["pytest"], test_tool="pytest", report_format="junit")
PLAIN = TestCommand(argv="make test")


def test_junit_wins_and_exit_code_is_kept() -> None:
    report = build_report(result(0), PYTEST, {"r.xml": PASSING_XML})
    assert report.source == "junit" and report.passed
    assert [t.id for t in report.tests] == ["t::test_a"]
    assert report.note == ""


@pytest.mark.parametrize(
    ("exit_code", "output", "expect_errors", "expect_no_tests"),
    [
        (5, "no tests ran in 0.01s", 0, True),
        (
            4,
            "ERROR: usage: pytest [options]\npytest: error: unrecognized arguments: --bad",
            1,
            False,
        ),
        (2, "Interrupted: 1 error during collection", 1, False),
        (3, "INTERNALERROR> Traceback", 1, False),
    ],
)
def test_pytest_exit_codes_surface_as_collection_problems(
    exit_code: int, output: str, expect_errors: int, expect_no_tests: bool
) -> None:
    report = build_report(result(exit_code, output), PYTEST, {})
    assert len(report.collection_errors) == expect_errors
    assert report.no_tests_collected is expect_no_tests
    assert not report.passed
    if expect_errors:
        assert f"exit code {exit_code}" in report.collection_errors[0]


def test_error_collecting_lines_are_collection_errors_even_without_junit() -> None:
    output = (
        "==================================== ERRORS ====================================\n"
        "____________________ ERROR collecting tests/test_broken.py _____________________\n"
        "E   ModuleNotFoundError: No module named 'nope'\n"
    )
    report = build_report(result(2, output), TestCommand(argv="make test"), {})
    assert report.collection_errors == ["tests/test_broken.py: could not be collected"]
    assert report.tests == []  # no synthetic suite verdict on top of a collection error


def test_exit_code_fallback_says_so() -> None:
    passed = build_report(result(0, "all good"), PLAIN, {})
    assert passed.source == "exit-code" and passed.passed
    assert [t.id for t in passed.tests] == [SUITE_ID]
    assert "judged by the exit code" in passed.note

    failed = build_report(result(1, "line\nERROR: thing broke\n"), PLAIN, {})
    assert failed.tests[0].outcome == "failed"
    assert "thing broke" in failed.tests[0].message
    assert failed.failing_ids == [SUITE_ID]


def test_expected_junit_missing_after_failure_is_a_collection_error() -> None:
    maven = TestCommand(argv=["mvn", "test"], report_format="junit", test_tool="maven")
    output = "[ERROR] COMPILATION ERROR :\n[ERROR] /p/src/App.java:[3,5] ';' expected\n"
    report = build_report(result(1, output), maven, {})
    assert report.source == "exit-code"
    assert len(report.collection_errors) == 1
    assert "';' expected" in report.collection_errors[0]
    assert "wrote no JUnit XML" in report.note


def test_failing_exit_with_only_passing_tests_is_not_a_pass() -> None:
    report = build_report(
        result(1, "Coverage 40% below threshold 80%"), PYTEST, {"r.xml": PASSING_XML}
    )
    assert not report.passed
    assert report.failing_ids == [SUITE_ID]
    assert "although no reported test failed" in report.note


def test_timeout_is_reported_and_never_passes() -> None:
    report = build_report(result(-15, "started", timed_out=True), PYTEST, {})
    assert report.timed_out and not report.passed
    assert report.tests[0].outcome == "error"
    assert "timed out" in report.note
    assert report.collection_errors == []


@pytest.mark.parametrize(
    "output",
    ["Ran 0 tests in 0.000s\n\nOK\n", "No tests found, exiting with code 1\n"],
)
def test_no_tests_signals_from_other_runners(output: str) -> None:
    report = build_report(result(0, output), PLAIN, {})
    assert report.no_tests_collected and not report.passed


def test_jest_suite_failed_to_run_in_text() -> None:
    output = "FAIL test/broken.test.js\n  ● Test suite failed to run\n\n    SyntaxError: x\n"
    report = build_report(result(1, output), PLAIN, {})
    assert report.collection_errors == ["test/broken.test.js: could not be collected"]


def test_run_tests_requires_something_to_run(tmp_path: Path) -> None:
    from autopack.errors import ToolchainError

    with pytest.raises(ToolchainError, match="no test command"):
        run_tests(tmp_path, [], timeout=5)


def test_run_tests_runs_several_commands_into_one_report(tmp_path: Path) -> None:
    commands = [TestCommand(argv="true"), TestCommand(argv=["sh", "-c", "exit 3"])]
    report = run_tests(tmp_path, commands, timeout=30)
    assert report.exit_code == 3
    assert [t.outcome for t in report.tests] == ["passed", "failed"]
    assert [t.id for t in report.tests] == [SUITE_ID, f"{SUITE_ID}#2"]


def test_only_report_files_the_run_wrote_are_read(tmp_path: Path) -> None:
    reports = tmp_path / "target" / "surefire-reports"
    reports.mkdir(parents=True)
    stale = reports / "TEST-ex.Old.xml"
    stale.write_text('<testsuite><testcase classname="ex.Old" name="gone"/></testsuite>')
    globs = ["**/target/surefire-reports/TEST-*.xml"]

    untouched = run_tests(
        tmp_path, TestCommand(argv=["true"], report_format="junit", report_globs=globs), timeout=30
    )
    assert [t.id for t in untouched.tests] == [SUITE_ID]  # the stale file was ignored

    fresh = '<testsuite><testcase classname="ex.New" name="runs"/></testsuite>'
    rewrite = f"printf '%s' '{fresh}' > target/surefire-reports/TEST-ex.New.xml"
    written = run_tests(
        tmp_path, TestCommand(argv=rewrite, report_format="junit", report_globs=globs), timeout=30
    )
    assert [t.id for t in written.tests] == ["ex.New::runs"]


def test_maven_compile_failure_next_to_other_modules_results() -> None:
    maven = TestCommand(argv=["mvn", "test"], report_format="junit", test_tool="maven")
    output = (
        "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.10.1:"
        "compile (default-compile) on project broken: Compilation failure\n"
    )
    report = build_report(result(1, output), maven, {"a.xml": PASSING_XML})
    assert report.collection_errors == ["broken: compilation failed"]
    assert [t.id for t in report.tests] == ["t::test_a"]
