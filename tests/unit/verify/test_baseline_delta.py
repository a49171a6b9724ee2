"""Baseline and delta: blame only what the change broke."""

from __future__ import annotations

from autopack.toolchains.results import SUITE_ID, TestCase, TestReport
from autopack.verify.baseline import Baseline, compute_delta


def report(outcomes: dict[str, str], **fields: object) -> TestReport:
    tests = [TestCase(id=i, outcome=o, message=f"{i} says {o}") for i, o in outcomes.items()]
    return TestReport.model_validate({"source": "junit", "exit_code": 0, "tests": tests, **fields})


def test_new_fixed_still_failing_and_vanished() -> None:
    baseline = Baseline.from_report(
        report({"a": "passed", "b": "failed", "c": "error", "d": "failed", "gone": "passed"})
    )
    now = report({"a": "failed", "b": "failed", "c": "passed", "d": "skipped", "new": "error"})
    delta = baseline.delta(now)
    assert delta.has_baseline
    assert delta.new_failures == ["a", "new"]
    assert delta.still_failing == ["b"]
    assert delta.fixed == ["c"]  # d was skipped, not fixed
    assert delta.vanished == ["gone"]
    assert delta.failure_messages == {"a": "a says failed", "new": "new says error"}
    assert delta.summary.startswith("2 new failures, 1 still failing, 1 fixed")


def test_without_a_baseline_every_failure_is_new() -> None:
    delta = compute_delta(report({"a": "failed", "b": "passed"}), None)
    assert not delta.has_baseline
    assert delta.new_failures == ["a"]
    assert delta.still_failing == [] and delta.fixed == []
    assert delta.baseline_had_tests is None
    assert "no baseline" in delta.summary


def test_collection_errors_are_reported_whether_or_not_the_baseline_had_them() -> None:
    baseline = Baseline.from_report(report({}, collection_errors=["x: broken"]))
    delta = baseline.delta(report({"a": "passed"}, collection_errors=["x: broken"]))
    assert delta.collection_errors == ["x: broken"]
    assert delta.baseline_collection_errors == ["x: broken"]
    assert delta.new_failures == []


def test_exit_code_only_reports_compare_as_one_suite() -> None:
    before = report({SUITE_ID: "failed"}, source="exit-code", exit_code=1)
    after = report({SUITE_ID: "failed"}, source="exit-code", exit_code=1)
    delta = Baseline.from_report(before).delta(after)
    assert delta.still_failing == [SUITE_ID] and delta.new_failures == []
    assert delta.exit_code_only


def test_no_tests_and_timeout_are_carried_over() -> None:
    baseline = Baseline.from_report(report({"a": "passed"}))
    delta = baseline.delta(report({}, no_tests_collected=True, timed_out=True))
    assert delta.no_tests_collected and delta.timed_out
    assert delta.baseline_had_tests is True
    assert delta.vanished == ["a"]


def test_baseline_round_trips_as_json() -> None:
    baseline = Baseline.from_report(report({"a": "failed"}))
    again = Baseline.model_validate_json(baseline.model_dump_json())
    assert again.failing == {"a"}
    delta = compute_delta(report({"a": "failed"}), again)
    assert delta.model_validate_json(delta.model_dump_json()) == delta
