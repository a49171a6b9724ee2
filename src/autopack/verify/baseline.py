"""The run's baseline test report, and how a later report differs from it.

A change is judged on the delta, not on the suite's absolute state: a test that failed
before the run started is not the change's fault, a test that fails only now is.
Collection errors are different: a suite that cannot be collected hides every test in it,
so they are reported whether or not the baseline had them, and the finalizer always
blocks on them.

Test identity is the report's test id (see :mod:`autopack.toolchains.results`). When a
report only has an exit code, the whole suite is one synthetic test, so "the suite failed
before and still fails" reads as still failing, and the delta says it could not look
closer (``exit_code_only``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from autopack.toolchains.results import FAILING, TestReport


class TestDelta(BaseModel):
    """How ``report`` differs from the baseline. Lists are sorted test ids."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name
    model_config = ConfigDict(extra="forbid")

    has_baseline: bool
    new_failures: list[str] = Field(
        default_factory=list, description="Failing now; passing, skipped or absent before."
    )
    fixed: list[str] = Field(default_factory=list, description="Failing before, passing now.")
    still_failing: list[str] = Field(default_factory=list)
    vanished: list[str] = Field(
        default_factory=list, description="In the baseline, not in this report."
    )
    collection_errors: list[str] = Field(default_factory=list)
    baseline_collection_errors: list[str] = Field(default_factory=list)
    no_tests_collected: bool = False
    baseline_had_tests: bool | None = None
    timed_out: bool = False
    exit_code_only: bool = False
    failure_messages: dict[str, str] = Field(
        default_factory=dict, description="Message of each new failure, for the next attempt."
    )
    summary: str = ""


class Baseline(BaseModel):
    """The report captured when the run started, before any change."""

    model_config = ConfigDict(extra="forbid")

    report: TestReport

    @classmethod
    def from_report(cls, report: TestReport) -> Baseline:
        return cls(report=report)

    @property
    def failing(self) -> set[str]:
        return set(self.report.failing_ids)

    def delta(self, report: TestReport) -> TestDelta:
        """How ``report`` differs from this baseline."""
        return compute_delta(report, self)


def compute_delta(report: TestReport, baseline: Baseline | None = None) -> TestDelta:
    """The delta of ``report`` against ``baseline``; with no baseline, every failure is new."""
    now_failing = set(report.failing_ids)
    outcomes = {t.id: t.outcome for t in report.tests}
    if baseline is None:
        new, fixed, still, vanished = sorted(now_failing), [], [], []
        before_errors: list[str] = []
        had_tests: bool | None = None
    else:
        before = baseline.failing
        before_ids = {t.id for t in baseline.report.tests}
        new = sorted(now_failing - before)
        still = sorted(now_failing & before)
        fixed = sorted(i for i in before if outcomes.get(i) == "passed")
        vanished = sorted(before_ids - set(outcomes))
        before_errors = list(baseline.report.collection_errors)
        had_tests = bool(baseline.report.tests) and not baseline.report.no_tests_collected
    messages = {t.id: t.message for t in report.tests if t.id in new and t.outcome in FAILING}
    delta = TestDelta(
        has_baseline=baseline is not None,
        new_failures=new,
        fixed=fixed,
        still_failing=still,
        vanished=vanished,
        collection_errors=list(report.collection_errors),
        baseline_collection_errors=before_errors,
        no_tests_collected=report.no_tests_collected,
        baseline_had_tests=had_tests,
        timed_out=report.timed_out,
        exit_code_only=report.source == "exit-code"
        or (baseline is not None and baseline.report.source == "exit-code"),
        failure_messages=messages,
    )
    delta.summary = _summary(delta)
    return delta


def _summary(d: TestDelta) -> str:
    parts = [
        f"{len(d.new_failures)} new failures",
        f"{len(d.still_failing)} still failing",
        f"{len(d.fixed)} fixed",
    ]
    if d.vanished:
        parts.append(f"{len(d.vanished)} no longer reported")
    if d.collection_errors:
        parts.append(f"{len(d.collection_errors)} collection errors")
    if d.no_tests_collected:
        parts.append("no tests collected")
    if d.timed_out:
        parts.append("timed out")
    if not d.has_baseline:
        parts.append("no baseline")
    return ", ".join(parts)
