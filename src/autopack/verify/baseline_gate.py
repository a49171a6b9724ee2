"""Is the run's starting point usable? Decided before any model is asked.

A run is judged on the delta against its baseline, so a baseline that cannot collect or
run makes every later verdict meaningless: a Builder asked to make "the tests pass" in a
project whose tests cannot even be imported pays for answers nobody can judge. The
executor therefore stops a run at its start (``DONE_FAILED_ENVIRONMENT``, zero LLM calls)
when :func:`judge_baseline` finds a problem, unless the plan says ``baseline:
allow_failing`` (its purpose is to repair the suite).

Usable: the tests ran and reported per test, whatever their outcomes (pre-existing
failures are judged on the delta as always), or the project has no tests yet. Not usable:
collection errors, no tests collected although test files exist, a timeout, a failure
known only by an exit code, or a command that could not start. Each problem carries what
a person needs to act: the command, its exit code, the log's tail, the diagnosis from the
hardening registry (:mod:`autopack.verify.hardening`) and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from autopack.toolchains.base import any_files
from autopack.toolchains.python import unittest_modules
from autopack.toolchains.results import SUITE_ID, TestReport
from autopack.verify.hardening import FailureContext, match_failure

ProblemStage = Literal["environment", "setup", "baseline"]
#: Lines of a log's tail quoted in a run's failure reason (the full log is an artifact).
REASON_LOG_LINES = 15
#: Files that are tests in the toolchains Autopack knows.
TEST_FILE_GLOBS = (
    "test_*.py",
    "*_test.py",
    "*.test.js",
    "*.test.ts",
    "*.spec.js",
    "*.spec.ts",
    "*_test.go",
    "*Test.java",
    "*Tests.java",
)
#: Patterns whose mitigation changes the worktree; a start problem is only reported.
MUTATING_PATTERNS = frozenset({"permission_error"})
ALLOW_FAILING_HINT = (
    "If the plan's purpose is to repair the test suite, say so with `baseline: "
    "allow_failing` in the plan (or [baseline:allow_failing] on a Markdown plan's title); "
    "the broken baseline is then recorded and phases are judged on the delta."
)


class StartProblem(BaseModel):
    """Why a run cannot start: what failed, where, and what to do about it."""

    model_config = ConfigDict(extra="forbid")

    stage: ProblemStage
    problem: str = Field(description="One sentence: what is wrong.")
    command: str = ""
    exit_code: int | None = None
    log_tail: str = ""
    log_path: str | None = None
    diagnosis: list[str] = Field(
        default_factory=list, description="Known failure patterns found, with their evidence."
    )
    fix: list[str] = Field(default_factory=list, description="What to do, most specific first.")

    def reason(self) -> str:
        """The run's failure reason: every field a person needs, the log cut to its tail."""
        lines = [f"{self.stage} not usable: {self.problem}"]
        if self.command:
            code = "" if self.exit_code is None else f" (exit code {self.exit_code})"
            lines.append(f"command: {self.command}{code}")
        lines += [f"diagnosis: {d}" for d in self.diagnosis]
        lines += [f"fix: {f}" for f in self.fix]
        tail = [ln for ln in self.log_tail.splitlines() if ln.strip()][-REASON_LOG_LINES:]
        if tail:
            where = f" (full log: {self.log_path})" if self.log_path else ""
            lines.append(f"log tail{where}:")
            lines += [f"  {ln}" for ln in tail]
        return "\n".join(lines)


def judge_baseline(
    report: TestReport, *, worktree: Path, toolchain: str | None = None
) -> StartProblem | None:
    """The problem that makes ``report`` unusable as a baseline, or None when it is usable."""
    if report.collection_errors:
        shown = "; ".join(e.splitlines()[0] for e in report.collection_errors[:3])
        more = len(report.collection_errors) - 3
        problem = f"the tests could not be collected: {shown}" + (
            f" (and {more} more)" if more > 0 else ""
        )
        generic = [
            "Make the test modules importable in the run's environment: declare their "
            "dependencies in the project's manifest (pyproject.toml, requirements-dev.txt, "
            "package.json ...), or add a `setup` command to the plan or .autopack.yaml."
        ]
    elif report.timed_out:
        problem = f"the tests did not finish within {report.duration_s:.0f}s"
        generic = [
            "Raise AUTOPACK_COMMAND_TIMEOUT_SECONDS, or give the plan a faster test command "
            "(`verify`, or `tests` on a phase)."
        ]
    elif report.no_tests_collected and has_test_files(worktree):
        problem = "the test command collected no tests, yet the project has test files"
        generic = [
            "Point the test command at the tests: `verify` in the plan, or the test runner's "
            "configuration (testpaths, test discovery patterns) in the project."
        ]
    elif any(t.id == SUITE_ID and t.outcome in ("failed", "error") for t in report.tests):
        problem = (
            f"the test command failed (exit code {report.exit_code}) and reported no "
            "per-test results, so no change could be judged against it"
        )
        generic = [
            "Run the test command by hand in the worktree and make it pass or report per "
            "test (JUnit XML); or name a command that does in the plan's `verify`."
        ]
    else:
        return None
    return diagnose(
        StartProblem(
            stage="baseline",
            problem=problem,
            command=report.command,
            exit_code=report.exit_code,
            log_tail=report.log_tail,
        ),
        worktree=worktree,
        toolchain=toolchain,
        generic_fix=[*generic, ALLOW_FAILING_HINT],
    )


def diagnose(
    problem: StartProblem,
    *,
    worktree: Path,
    toolchain: str | None = None,
    generic_fix: list[str] | None = None,
) -> StartProblem:
    """``problem`` with the hardening registry's diagnosis of its log: each matching
    pattern's evidence, and its suggestions ahead of ``generic_fix``. Nothing is changed in
    the worktree: a pattern whose mitigation would (permission_error) is only reported."""
    context = FailureContext(worktree=worktree, command=problem.command, toolchain=toolchain)
    matches = match_failure(problem.log_tail, context)
    diagnosis = [*problem.diagnosis]
    fix: list[str] = []
    for match in matches:
        diagnosis.append(f"{match.pattern.name}: {match.finding.evidence[:300]}")
        own = _pattern_fix(match.pattern.name, match.finding.data)
        if not own and match.pattern.name not in MUTATING_PATTERNS:
            own = match.pattern.mitigate(match.finding, context).suggestions
        fix += own
    fix += [*problem.fix, *(generic_fix or [])]
    return problem.model_copy(
        update={"diagnosis": diagnosis, "fix": list(dict.fromkeys(f for f in fix if f))}
    )


def _pattern_fix(name: str, data: dict[str, str]) -> list[str]:
    """The fix for a person (not a Builder) when a known pattern explains a start problem."""
    if name == "python_missing_dep":
        module = data.get("module", "the module")
        top = module.split(".")[0]
        return [
            f"The tests import `{module}`, which is not installed in the run's environment: "
            f"declare the distribution that provides `{top}` in the project's dependencies "
            "(or its test extra / dependency group), or install it with a `setup` command."
        ]
    if name == "node_missing_dep":
        return [
            "A package the tests need is not installed: add it to package.json "
            "(devDependencies) and commit the lock file."
        ]
    if name == "missing_tool":
        tool = data.get("tool", "the tool")
        return [
            f"`{tool}` is not available where the project's commands run: install it on "
            "this machine, or have a `setup` command provide it."
        ]
    if name == "syntax_error":
        where = f"{data.get('path', '?')}:{data.get('line', '?')}"
        return [f"The code at the run's base ref does not parse ({where}); fix it first."]
    if name == "permission_error":
        return [f"{data.get('path', 'A file')} cannot be accessed by the test command."]
    return []


def has_test_files(worktree: Path) -> bool:
    """True when the project holds files that look like tests (a cheap, bounded walk),
    including unittest modules named outside ``test*.py``."""
    return bool(any_files(worktree, TEST_FILE_GLOBS, limit=5000)) or bool(
        unittest_modules(worktree)
    )
