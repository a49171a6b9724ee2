"""Run a project's test suite and turn what happened into a :class:`TestReport`.

:func:`run_tests` is the one function the executor calls, once when a run starts (the
baseline) and once per attempt::

    commands = plan_test_commands(worktree, scope_tests=phase.scope.tests,
                                  run_verify=spec.verify)
    report = run_tests(worktree, commands, timeout=settings.command_timeout_seconds)

:func:`build_report` is the interpretation step on its own: machine-readable results when
the tool wrote them, each tool's signals for "the suite could not even be collected", and
an exit-code verdict, labelled as such, when nothing better exists. Secrets of a known
shape in what the tests printed are redacted from the report (:mod:`autopack.redaction`).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from autopack.errors import ToolchainError
from autopack.metrics import TEST_DURATION
from autopack.redaction import redact
from autopack.toolchains.base import JUNIT_XML, REPORT_DIR, Detection, TestCommand
from autopack.toolchains.detect import command_from_text
from autopack.toolchains.results import (
    SUITE_ID,
    TestCase,
    TestReport,
    parse_cargo_test,
    parse_go_test_json,
    parse_junit_xml,
    parse_printed_counts,
)
from autopack.toolchains.runner import DEFAULT_MAX_OUTPUT_BYTES, CommandResult, run_command

TestSource = Detection | TestCommand | str | Sequence[str] | Sequence[TestCommand]
LOG_TAIL_CHARS = 8000

#: Output that means "tests could not be loaded or compiled", by tool: (pattern, message).
_COLLECTION_PATTERNS = [
    (re.compile(r"^_+ ERROR collecting (.+?) _+$", re.M), "{}: could not be collected"),  # pytest
    (re.compile(r"Failed to import test module: (\S+)"), "{}: could not be imported"),  # unittest
    (re.compile(r"^FAIL\s+(\S+)\s+\[(?:build|setup) failed\]", re.M), "{}: build failed"),  # go
    (re.compile(r"^FAIL (\S+)\n(?:.*\n){0,5}?\s*● Test suite failed to run", re.M),
     "{}: could not be collected"),  # jest
    (re.compile(r"Failed to execute goal org\.apache\.maven\.plugins:maven-compiler-plugin:"
                r"\S+:(?:compile|testCompile) \([^)]*\) on project (\S+): Compilation failure"),
     "{}: compilation failed"),  # maven
    (re.compile(r"Execution failed for task '(:?[\w:-]*compile\w*)'"),
     "{}: compilation failed"),  # gradle
]  # fmt: skip
_NO_TESTS_PATTERNS = [
    re.compile(r"^Ran 0 tests in ", re.M),  # unittest
    re.compile(r"^No tests found, exiting with code 1", re.M),  # jest
    re.compile(r"^No test files found", re.M),  # vitest
]
#: pytest's own exit codes (https://docs.pytest.org/en/stable/reference/exit-codes.html).
PYTEST_INTERRUPTED, PYTEST_INTERNAL_ERROR, PYTEST_USAGE_ERROR, PYTEST_NO_TESTS = 2, 3, 4, 5


def run_tests(
    path: Path | str,
    command: TestSource,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
) -> TestReport:
    """Run the test command(s) in ``path`` and return one report.

    ``command`` is a :class:`Detection` (its test command), a :class:`TestCommand`, a list
    of them (from :func:`~autopack.toolchains.detect.plan_test_commands`; run in turn and
    merged), a command string (a plan's text) or an argv list. ``timeout`` bounds the whole
    call; ``env`` adds variables to every command (after the command's own).

    A command that runs and fails is a report; :class:`ToolchainError` means a command
    could not start at all (missing executable) or there is nothing to run.
    """
    commands = _as_commands(command)
    if not commands:
        raise ToolchainError(
            "no test command to run: detection found none and the plan names none", path=str(path)
        )
    deadline = time.monotonic() + timeout
    reports: list[TestReport] = []
    for spec in commands:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            reports.append(
                TestReport(
                    source="exit-code",
                    command=spec.display,
                    timed_out=True,
                    note="not run: earlier commands used the whole timeout",
                )
            )
            continue
        reports.append(_run_one(Path(path), spec, remaining, env, max_output_bytes))
    report = TestReport.merge(reports)
    outcome = "timed_out" if report.timed_out else "passed" if report.exit_code == 0 else "failed"
    TEST_DURATION.labels(outcome=outcome).observe(report.duration_s)
    return report


def _as_commands(command: TestSource) -> list[TestCommand]:
    if isinstance(command, Detection):
        spec = command.test()
        return [spec] if spec else []
    if isinstance(command, TestCommand):
        return [command]
    if isinstance(command, str):
        return [command_from_text(command)]
    items = list(command)
    if all(isinstance(c, TestCommand) for c in items):
        return [c for c in items if isinstance(c, TestCommand)]
    if all(isinstance(c, str) for c in items):
        # An argv list. Which tool it is, and so how to read it, comes from its text.
        inferred = command_from_text(" ".join(str(c) for c in items))
        return [inferred.model_copy(update={"argv": [str(c) for c in items]})]
    raise TypeError("run_tests() takes a Detection, TestCommand(s), a string or an argv list")


def _run_one(
    project: Path,
    spec: TestCommand,
    timeout: float,
    env: Mapping[str, str] | None,
    max_output_bytes: int,
) -> TestReport:
    # Result files go to a fresh directory outside the worktree: never committed, never
    # confused with an earlier run's.
    with tempfile.TemporaryDirectory(prefix="autopack-report-") as report_dir:
        junit = Path(report_dir) / "junit.xml"

        def fill(text: str) -> str:
            return text.replace(JUNIT_XML, str(junit)).replace(REPORT_DIR, report_dir)

        argv = fill(spec.argv) if isinstance(spec.argv, str) else [fill(a) for a in spec.argv]
        run_env = {k: fill(v) for k, v in {**spec.env, **(env or {})}.items()}
        before = _report_files(project, spec.report_globs)
        result = run_command(
            argv,
            project,
            timeout=timeout,
            env=run_env,
            max_output_bytes=max_output_bytes,
            merge_stderr=True,
        )
        after = _report_files(project, spec.report_globs)
        written = sorted(p for p, stamp in after.items() if before.get(p) != stamp)
        files = ([junit] if junit.is_file() else []) + written
        xml = {str(f): f.read_text(encoding="utf-8", errors="replace") for f in files}
    return build_report(result, spec, xml, project=project)


def _report_files(project: Path, globs: Sequence[str]) -> dict[Path, tuple[int, int]]:
    stamps: dict[Path, tuple[int, int]] = {}
    for pattern in globs:
        for found in project.glob(pattern):
            try:
                stat = found.stat()
            except OSError:
                continue
            stamps[found] = (stat.st_mtime_ns, stat.st_size)
    return stamps


def build_report(
    result: CommandResult,
    spec: TestCommand,
    junit_xml: Mapping[str, str],
    *,
    project: Path | None = None,
) -> TestReport:
    """Interpret a finished test command.

    ``junit_xml`` maps result files to their text (the files the run wrote). Order of
    preference: JUnit XML, then the command's output in ``spec.report_format``
    (``go-json``, ``cargo``), then the exit code alone, which the report's ``note`` says.
    Collection problems are looked for in every case: parsed errors, tool exit codes
    (pytest 2/3/4/5) and tell-tale output lines.
    """
    notes: list[str] = []
    tests: list[TestCase] = []
    errors: list[str] = []
    no_tests = False
    output = result.output
    if junit_xml:
        source = "junit"
        for text in junit_xml.values():
            found, errs = parse_junit_xml(text, root_prefix=str(project) if project else "")
            tests += found
            errors += errs
        no_tests = not tests and not errors
    elif spec.report_format == "go-json":
        source = "go-json"
        tests, errors, no_tests = parse_go_test_json(output)
    elif spec.report_format == "cargo":
        source = "cargo"
        tests, errors, no_tests = parse_cargo_test(output)
    else:
        source = "exit-code"
        if spec.report_format == "junit":
            notes.append("the command wrote no JUnit XML")
    if not errors:
        errors = _text_collection_errors(output)
    if any(p.search(output) for p in _NO_TESTS_PATTERNS):
        no_tests = True
    if spec.test_tool == "pytest":
        no_tests, errors = _pytest_exit_code(result, no_tests, errors)
    if (
        spec.report_format == "junit"
        and source == "exit-code"
        and result.exit_code != 0
        and not result.timed_out
        and not errors
        and not no_tests
    ):
        # A tool that reports in JUnit XML failed before writing any: a compile error or a
        # broken build, so no test ran.
        errors.append(
            "the test command failed before writing any results:\n" + _error_lines(output)
        )

    failing = [t for t in tests if t.outcome in ("failed", "error")]
    if source == "exit-code" and not errors and not no_tests:
        outcome = "passed" if result.ok else ("error" if result.timed_out else "failed")
        tests = [
            TestCase(
                id=SUITE_ID,
                outcome=outcome,
                duration_s=result.duration_s,
                message="" if result.ok else _error_lines(output),
            )
        ]
        notes.append(f"no per-test results; judged by the exit code ({result.exit_code})")
    elif (
        source != "exit-code"
        and result.exit_code != 0
        and not result.timed_out
        and not failing
        and not errors
        and not no_tests
    ):
        # Every reported test passed yet the command failed (a coverage threshold, a crash
        # after the tests, a later step of a script): that must not read as a pass.
        tests.append(TestCase(id=SUITE_ID, outcome="failed", message=_error_lines(output)))
        notes.append(f"exit code {result.exit_code} although no reported test failed")
    if result.timed_out:
        notes.append(f"timed out after {result.duration_s:.0f}s; results are partial")
    if result.truncated:
        notes.append("output was truncated")
    # A report is stored, shown and put in prompts: what the project's tests printed must
    # not carry its secrets there (a test that logs a token, a key in a traceback).
    return TestReport(
        source=source,
        command=spec.display,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        duration_s=result.duration_s,
        tests=[t.model_copy(update={"message": redact(t.message)}) for t in tests],
        collection_errors=[redact(e) for e in errors],
        no_tests_collected=no_tests and not errors,
        note="; ".join(notes),
        log_tail=redact(output[-LOG_TAIL_CHARS:]),
        printed_counts=parse_printed_counts(output) if source == "exit-code" else {},
    )


def _text_collection_errors(output: str) -> list[str]:
    found: list[str] = []
    for pattern, message in _COLLECTION_PATTERNS:
        for match in pattern.finditer(output):
            found.append(message.format(match.group(1)))
    return list(dict.fromkeys(found))


def _pytest_exit_code(
    result: CommandResult, no_tests: bool, errors: list[str]
) -> tuple[bool, list[str]]:
    code = result.exit_code
    if code == PYTEST_NO_TESTS:
        return True, errors
    if errors:
        return no_tests, errors
    if code == PYTEST_INTERRUPTED and not result.timed_out:
        return no_tests, [f"pytest was interrupted (exit code 2):\n{_error_lines(result.output)}"]
    if code == PYTEST_INTERNAL_ERROR:
        return no_tests, [f"pytest internal error (exit code 3):\n{_error_lines(result.output)}"]
    if code == PYTEST_USAGE_ERROR:
        return no_tests, [f"pytest usage error (exit code 4):\n{_error_lines(result.output)}"]
    return no_tests, errors


def _error_lines(output: str, limit: int = 30) -> str:
    """The lines most likely to say why a command failed: error-looking lines if there
    are any, else the last lines."""
    lines = [ln for ln in output.splitlines() if ln.strip()]
    flagged = [ln for ln in lines if re.search(r"\berror\b|ERROR|\bfailed\b|FAIL", ln)]
    picked = flagged[-limit:] if flagged else lines[-limit:]
    return "\n".join(picked)
