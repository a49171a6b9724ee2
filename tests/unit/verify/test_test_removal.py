"""Tests cannot be made to pass by removing them: removed and newly skipped tests.

Each toolchain's own output goes through its real parser, so a parser that loses a skip
(or reports it as a pass) fails here, not only the delta arithmetic.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.toolchains.results import (
    SUITE_ID,
    TestCase,
    TestReport,
    parse_cargo_test,
    parse_go_test_json,
    parse_junit_xml,
    parse_printed_counts,
)
from autopack.verify.baseline import Baseline, TestDelta, compute_delta, selects_tests
from autopack.verify.finalizer import FinalizerInputs, PhaseFinalizer

COMMAND = "pytest -q"


def report(outcomes: dict[str, str], **fields: object) -> TestReport:
    tests = [TestCase(id=i, outcome=o) for i, o in outcomes.items()]
    data = {"source": "junit", "command": COMMAND, "exit_code": 0, "tests": tests, **fields}
    return TestReport.model_validate(data)


def junit_report(xml: str) -> TestReport:
    cases, errors = parse_junit_xml(xml)
    return TestReport(
        source="junit", command=COMMAND, exit_code=0, tests=cases, collection_errors=errors
    )


def gate_of(tmp_path: Path, delta: TestDelta, *, allow: bool = False) -> tuple[bool, str]:
    decision = PhaseFinalizer().decide(
        FinalizerInputs(worktree=tmp_path, delta=delta, allow_test_removal=allow)
    )
    gate = next(g for g in decision.gates if g.name == "tests")
    return gate.passed, gate.reason


# --- the delta ----------------------------------------------------------------------------


def test_deleted_and_skipped_passing_tests_are_regressions(tmp_path: Path) -> None:
    baseline = Baseline.from_report(
        report({"m::a": "passed", "m::b": "passed", "m::c": "passed", "m::old": "failed"})
    )
    delta = baseline.delta(report({"m::a": "passed", "m::c": "skipped"}))
    assert delta.removed == ["m::b"]
    assert delta.newly_skipped == ["m::c"]
    # A test that already failed before and is gone now is not hidden work: not "removed".
    assert delta.vanished == ["m::b", "m::old"]
    assert delta.new_failures == []
    assert "1 passing tests removed" in delta.summary
    assert "1 passing tests now skipped" in delta.summary

    passed, reason = gate_of(tmp_path, delta)
    assert not passed
    assert "missing now (deleted, renamed or deselected): m::b" in reason
    assert "skipped or xfailed now: m::c" in reason
    assert "allow_test_removal" in reason


def test_allow_test_removal_passes_the_gate_and_still_names_them(tmp_path: Path) -> None:
    baseline = Baseline.from_report(report({"m::a": "passed", "m::b": "passed"}))
    delta = baseline.delta(report({"m::a": "passed"}))
    passed, reason = gate_of(tmp_path, delta, allow=True)
    assert passed
    assert "m::b" in reason and "allowed by the phase (allow_test_removal)" in reason


def test_allow_test_removal_does_not_excuse_new_failures(tmp_path: Path) -> None:
    baseline = Baseline.from_report(report({"m::a": "passed", "m::b": "passed"}))
    passed, reason = gate_of(tmp_path, baseline.delta(report({"m::a": "failed"})), allow=True)
    assert not passed and reason.startswith("1 new failure(s): m::a")


def test_skipped_in_the_baseline_and_still_skipped_is_not_new(tmp_path: Path) -> None:
    baseline = Baseline.from_report(report({"m::a": "passed", "m::s": "skipped"}))
    delta = baseline.delta(report({"m::a": "passed", "m::s": "skipped"}))
    assert delta.removed == [] and delta.newly_skipped == []
    assert gate_of(tmp_path, delta)[0]


def test_renamed_test_file_is_a_removal(tmp_path: Path) -> None:
    # Ids carry the file: the old ones are gone even though "the same" tests run.
    baseline = Baseline.from_report(report({"tests.test_a::test_x": "passed"}))
    delta = baseline.delta(report({"tests.test_b::test_x": "passed"}))
    assert delta.removed == ["tests.test_a::test_x"]
    assert delta.moved == {}
    assert not gate_of(tmp_path, delta)[0]


def test_test_moved_into_or_out_of_a_class_still_runs(tmp_path: Path) -> None:
    baseline = Baseline.from_report(
        report({"tests.test_a::test_x": "passed", "tests.test_a.TestY::test_y": "passed"})
    )
    delta = baseline.delta(
        report({"tests.test_a.TestX::test_x": "passed", "tests.test_a::test_y": "passed"})
    )
    assert delta.moved == {
        "tests.test_a::test_x": "tests.test_a.TestX::test_x",
        "tests.test_a.TestY::test_y": "tests.test_a::test_y",
    }
    assert delta.removed == []
    assert gate_of(tmp_path, delta)[0]


def test_a_moved_test_that_no_longer_passes_is_not_a_move(tmp_path: Path) -> None:
    baseline = Baseline.from_report(report({"tests.test_a::test_x": "passed"}))
    delta = baseline.delta(report({"tests.test_a.TestX::test_x": "skipped"}))
    assert delta.moved == {} and delta.removed == ["tests.test_a::test_x"]


def test_dropped_parameter_of_a_parametrized_test_is_a_removal(tmp_path: Path) -> None:
    baseline = Baseline.from_report(
        report({"t::test_p[1]": "passed", "t::test_p[2]": "passed", "t::test_p[3]": "passed"})
    )
    delta = baseline.delta(report({"t::test_p[1]": "passed", "t::test_p[2]": "passed"}))
    assert delta.removed == ["t::test_p[3]"]


def test_exit_code_only_baseline_says_removal_cannot_be_checked(tmp_path: Path) -> None:
    before = report({SUITE_ID: "passed"}, source="exit-code")
    delta = Baseline.from_report(before).delta(report({SUITE_ID: "passed"}, source="exit-code"))
    assert delta.removed == [] and delta.newly_skipped == []
    assert "cannot be checked" in delta.removal_unchecked
    assert "cannot be checked" in delta.summary
    passed, reason = gate_of(tmp_path, delta)
    assert passed and "cannot be checked" in reason


def test_per_test_baseline_and_a_run_without_per_test_results_loses_every_test(
    tmp_path: Path,
) -> None:
    # E.g. `addopts = -p no:junitxml` makes pytest write no report: nothing is known to run.
    baseline = Baseline.from_report(report({"m::a": "passed", "m::b": "passed"}))
    delta = baseline.delta(report({SUITE_ID: "passed"}, source="exit-code"))
    assert delta.removed == ["m::a", "m::b"]
    assert not gate_of(tmp_path, delta)[0]


def test_a_phase_running_part_of_the_suite_is_judged_on_what_it_ran(tmp_path: Path) -> None:
    baseline = Baseline.from_report(
        report({"tests.test_a::x": "passed", "tests.test_a::y": "passed", "tests.b::z": "passed"})
    )
    scoped = report({"tests.test_a::x": "passed"}, command="pytest tests/test_a.py")
    delta = baseline.delta(scoped)
    # test_b was never the phase's to run; test_a::y ran before in the same file.
    assert delta.removed == ["tests.test_a::y"]
    assert "runs part of the suite" in delta.removal_unchecked


def test_another_command_for_the_whole_suite_still_checks_every_file(tmp_path: Path) -> None:
    # The baseline ran the detected command, the phase its plan's spelling of the whole
    # suite: a test file deleted outright is still a removal.
    baseline = Baseline.from_report(
        report({"tests.test_calc::test_add": "passed", "tests.test_mul::test_mul": "passed"})
    )
    now = report({"tests.test_mul::test_mul": "passed"}, command="/usr/bin/python3 -m pytest -q")
    delta = baseline.delta(now)
    assert delta.removed == ["tests.test_calc::test_add"]
    assert delta.removal_unchecked == ""


def test_a_phase_command_without_per_test_results_cannot_check_removal(tmp_path: Path) -> None:
    # A phase whose check is a linter or a script: nothing it ran is a test id.
    baseline = Baseline.from_report(report({"tests.test_a::x": "passed"}))
    lint = report({SUITE_ID: "passed"}, source="exit-code", command="ruff check .")
    delta = baseline.delta(lint)
    assert delta.removed == []
    assert "reports no per-test results" in delta.removal_unchecked
    assert gate_of(tmp_path, delta)[0]


def test_a_phase_running_another_tool_is_judged_on_its_own_tests() -> None:
    baseline = Baseline.from_report(report({"tests.test_a::x": "passed"}))
    go = report({"ex/g::TestAdd": "passed"}, source="go-json", command="go test -json ./...")
    delta = baseline.delta(go)
    assert delta.removed == [] and "another tool" in delta.removal_unchecked


def test_pytest_behind_make_is_the_same_suite() -> None:
    baseline = Baseline.from_report(
        report({"tests.test_a::x": "passed", "tests.test_b::y": "passed"}, command="pytest -q")
    )
    delta = baseline.delta(report({"tests.test_a::x": "passed"}, command="make test"))
    assert delta.removed == ["tests.test_b::y"] and delta.removal_unchecked == ""


@pytest.mark.parametrize(
    ("command", "selects"),
    [
        ("pytest tests/test_a.py", True),
        ("python -m pytest tests/test_a.py::test_x", True),
        ("python -m pytest -m slow", True),
        ("pytest -k 'not slow'", True),
        ("go test -run TestAdd ./...", True),
        ("npx jest src/math.test.ts", True),
        ("mvn -o -Dtest=CalcTest test", True),
        ("pytest -q ; cargo test tests/api.rs", True),
        ("/usr/bin/python3 -m pytest -q -p no:cacheprovider", False),
        ("PYTEST_ADDOPTS=-x pytest", False),
        ("go test -json ./...", False),
        ("cargo test --offline", False),
        ("npm test", False),
        ("make test", False),
    ],
)
def test_which_commands_select_part_of_the_suite(command: str, selects: bool) -> None:
    assert selects_tests(command) is selects


def test_without_a_baseline_nothing_is_removed() -> None:
    delta = compute_delta(report({"m::a": "skipped"}), None)
    assert delta.removed == [] and delta.newly_skipped == [] and delta.removal_unchecked == ""


def test_delta_with_removals_round_trips_through_json() -> None:
    baseline = Baseline.from_report(report({"m::a": "passed", "m::b": "passed"}))
    delta = baseline.delta(report({"m::b": "skipped"}))
    assert TestDelta.model_validate_json(delta.model_dump_json()) == delta


# --- every toolchain that reports per test --------------------------------------------------

PYTEST_BEFORE = """<testsuites><testsuite name="pytest">
<testcase classname="tests.test_calc" name="test_add" />
<testcase classname="tests.test_calc" name="test_neg" />
<testcase classname="tests.test_calc" name="test_big" />
<testcase classname="tests.test_io" name="test_read" />
</testsuite></testsuites>"""
PYTEST_AFTER = """<testsuites><testsuite name="pytest">
<testcase classname="tests.test_calc" name="test_add" />
<testcase classname="tests.test_calc" name="test_neg">
  <skipped type="pytest.xfail" message="known bug" /></testcase>
<testcase classname="tests.test_calc" name="test_big">
  <skipped type="pytest.skip" message="slow">tests/test_calc.py:9: slow</skipped></testcase>
<testcase classname="" name="tests.test_io">
  <skipped message="collection skipped">('tests/test_io.py', 2, 'Skipped: later')</skipped>
</testcase>
</testsuite></testsuites>"""


def test_pytest_junit_xfail_skip_and_module_level_skip(tmp_path: Path) -> None:
    before, after = junit_report(PYTEST_BEFORE), junit_report(PYTEST_AFTER)
    neg = next(t for t in after.tests if t.id == "tests.test_calc::test_neg")
    assert neg.outcome == "skipped" and neg.message == "xfail: known bug"
    delta = Baseline.from_report(before).delta(after)
    assert delta.newly_skipped == ["tests.test_calc::test_big", "tests.test_calc::test_neg"]
    # A module skipped at import time reports the module, not its tests: they are gone.
    assert delta.removed == ["tests.test_io::test_read"]
    assert delta.failure_messages["tests.test_calc::test_neg"] == "xfail: known bug"
    assert delta.failure_messages["tests.test_calc::test_big"] == "skipped: slow"
    assert not gate_of(tmp_path, delta)[0]


SUREFIRE = """<testsuite name="ex.CalcTest" tests="2">
  <testcase name="adds" classname="ex.CalcTest" time="0"/>
  <testcase name="subtracts" classname="ex.CalcTest" time="0"/>
</testsuite>"""
SUREFIRE_DISABLED = """<testsuite name="ex.CalcTest" tests="2" skipped="1">
  <testcase name="adds" classname="ex.CalcTest" time="0"/>
  <testcase name="subtracts" classname="ex.CalcTest" time="0">
    <skipped message="@Disabled until fixed"/></testcase>
</testsuite>"""


def test_surefire_disabled_test_is_newly_skipped() -> None:
    delta = Baseline.from_report(junit_report(SUREFIRE)).delta(junit_report(SUREFIRE_DISABLED))
    assert delta.newly_skipped == ["ex.CalcTest::subtracts"]
    assert delta.failure_messages["ex.CalcTest::subtracts"] == "skipped: @Disabled until fixed"


NODE = """<testsuites>
  <testcase name="adds" classname="test"/>
  <testcase name="subtracts" classname="test"/>
  <testcase name="divides" classname="test"/>
</testsuites>"""
NODE_AFTER = """<testsuites>
  <testcase name="adds" classname="test"><skipped type="skipped" message="true"/></testcase>
  <testcase name="subtracts" classname="test"><skipped type="todo" message="later"/></testcase>
</testsuites>"""


def test_node_test_skip_todo_and_removed() -> None:
    delta = Baseline.from_report(junit_report(NODE)).delta(junit_report(NODE_AFTER))
    assert delta.newly_skipped == ["test::adds", "test::subtracts"]
    assert delta.removed == ["test::divides"]


JEST = """<testsuites name="jest tests"><testsuite name="math">
  <testcase classname="math adds" name="math adds" time="0.001"/>
  <testcase classname="math subtracts" name="math subtracts" time="0.001"/>
</testsuite></testsuites>"""
JEST_AFTER = """<testsuites name="jest tests"><testsuite name="math">
  <testcase classname="math adds" name="math adds" time="0.001"/>
  <testcase classname="math subtracts" name="math subtracts" time="0"><skipped/></testcase>
</testsuite></testsuites>"""
VITEST = """<testsuites name="vitest tests"><testsuite name="test/math.test.ts">
  <testcase classname="test/math.test.ts" name="math &gt; adds" time="0.001"/>
  <testcase classname="test/math.test.ts" name="math &gt; subtracts" time="0.001"/>
</testsuite></testsuites>"""
VITEST_AFTER = """<testsuites name="vitest tests"><testsuite name="test/math.test.ts">
  <testcase classname="test/math.test.ts" name="math &gt; adds" time="0.001"/>
</testsuite></testsuites>"""


def test_jest_skip_and_vitest_removal() -> None:
    jest = Baseline.from_report(junit_report(JEST)).delta(junit_report(JEST_AFTER))
    assert jest.newly_skipped == ["math subtracts::math subtracts"] and jest.removed == []
    vitest = Baseline.from_report(junit_report(VITEST)).delta(junit_report(VITEST_AFTER))
    assert vitest.removed == ["test/math.test.ts::math > subtracts"]


GO_BEFORE = """\
{"Action":"pass","Package":"ex/g","Test":"TestAdd","Elapsed":0}
{"Action":"pass","Package":"ex/g","Test":"TestSub","Elapsed":0}
{"Action":"pass","Package":"ex/g","Test":"TestMul","Elapsed":0}
{"Action":"pass","Package":"ex/g","Elapsed":0}
"""
GO_AFTER = """\
{"Action":"pass","Package":"ex/g","Test":"TestAdd","Elapsed":0}
{"Action":"output","Package":"ex/g","Test":"TestSub","Output":"    g_test.go:9: flaky on CI\\n"}
{"Action":"skip","Package":"ex/g","Test":"TestSub","Elapsed":0}
{"Action":"pass","Package":"ex/g","Elapsed":0}
"""


def go_report(output: str) -> TestReport:
    cases, errors, no_tests = parse_go_test_json(output)
    return TestReport(
        source="go-json", command="go test -json ./...", exit_code=0, tests=cases,
        collection_errors=errors, no_tests_collected=no_tests,
    )  # fmt: skip


def test_go_skip_and_deselected_test() -> None:
    delta = Baseline.from_report(go_report(GO_BEFORE)).delta(go_report(GO_AFTER))
    assert delta.newly_skipped == ["ex/g::TestSub"]
    assert "flaky on CI" in delta.failure_messages["ex/g::TestSub"]
    assert delta.removed == ["ex/g::TestMul"]


CARGO_BEFORE = """\
     Running unittests src/lib.rs (target/debug/deps/rs-1)

running 3 tests
test tests::adds ... ok
test tests::subs ... ok
test tests::muls ... ok

test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out
"""
CARGO_AFTER = """\
     Running unittests src/lib.rs (target/debug/deps/rs-1)

running 2 tests
test tests::adds ... ok
test tests::subs ... ignored, needs a database

test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out
"""


def cargo_report(output: str) -> TestReport:
    cases, errors, no_tests = parse_cargo_test(output)
    return TestReport(
        source="cargo", command="cargo test", exit_code=0, tests=cases,
        collection_errors=errors, no_tests_collected=no_tests,
    )  # fmt: skip


def test_cargo_ignored_and_removed() -> None:
    delta = Baseline.from_report(cargo_report(CARGO_BEFORE)).delta(cargo_report(CARGO_AFTER))
    assert delta.newly_skipped == ["src/lib.rs::tests::subs"]
    assert delta.failure_messages["src/lib.rs::tests::subs"] == "ignored, needs a database"
    assert delta.removed == ["src/lib.rs::tests::muls"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (junit_report(PYTEST_BEFORE), junit_report(PYTEST_BEFORE)),
        (go_report(GO_BEFORE), go_report(GO_BEFORE)),
        (cargo_report(CARGO_BEFORE), cargo_report(CARGO_BEFORE)),
    ],
    ids=["pytest", "go", "cargo"],
)
def test_an_unchanged_suite_has_nothing_removed(
    tmp_path: Path, before: TestReport, after: TestReport
) -> None:
    delta = Baseline.from_report(before).delta(after)
    assert delta.removed == [] and delta.newly_skipped == [] and delta.removal_unchecked == ""
    assert gate_of(tmp_path, delta) == (True, "no new failures")


# --- exit-code suites: the runner's printed counts ---------------------------------------

#: Summary lines as each runner prints them (vitest's from the replay of path-to-regexp,
#: behind `ts-scripts test && npm run size`; colour codes as a terminal-less run keeps them).
PRINTED = {
    "vitest": (
        " \x1b[2m Test Files \x1b[22m \x1b[1m\x1b[32m3 passed\x1b[39m\x1b[22m\x1b[90m (3)\x1b[39m\n"
        "\x1b[2m      Tests \x1b[22m \x1b[1m\x1b[32m476 passed\x1b[39m\x1b[22m | 1 skipped (477)\n",
        {"passed": 476, "skipped": 1},
    ),
    "jest": ("Tests:       1 skipped, 1 todo, 10 passed, 12 total\n", {"passed": 10, "skipped": 2}),
    "mocha": ("  10 passing (12ms)\n  1 failing\n  2 pending\n", {"passed": 10, "skipped": 2}),
    "node-test spec": (
        "\u2139 tests 3\n\u2139 pass 2\n\u2139 fail 0\n\u2139 skipped 1\n\u2139 todo 0\n",
        {"passed": 2, "skipped": 1},
    ),
    "node-test tap": ("# tests 2\n# pass 2\n# skipped 0\n", {"passed": 2, "skipped": 0}),
    "unittest": (
        "Ran 12 tests in 0.010s\n\nFAILED (failures=2, skipped=1, expected failures=1)\n",
        {"passed": 8, "skipped": 2},
    ),
    "nothing known": ("all good\n", {}),
}


@pytest.mark.parametrize("runner", list(PRINTED))
def test_printed_counts_of_each_runner(runner: str) -> None:
    output, counts = PRINTED[runner]
    assert parse_printed_counts(output) == counts


def exit_code_report(counts: dict[str, int], command: str = "npm test") -> TestReport:
    return TestReport(
        source="exit-code",
        command=command,
        exit_code=0,
        tests=[TestCase(id=SUITE_ID, outcome="passed")],
        printed_counts=counts,
    )


def test_fewer_passing_by_printed_counts_fails_the_gate(tmp_path: Path) -> None:
    baseline = Baseline.from_report(exit_code_report({"passed": 477, "skipped": 0}))
    delta = baseline.delta(exit_code_report({"passed": 476, "skipped": 1}))
    assert delta.fewer_passing == (
        "the test runner's summary counts 476 tests passed, 477 in the baseline "
        "and 1 skipped, 0 in the baseline"
    )
    passed, reason = gate_of(tmp_path, delta)
    assert not passed and "476 tests passed, 477 in the baseline" in reason
    assert gate_of(tmp_path, delta, allow=True)[0]  # a person may approve it


def test_more_passing_by_printed_counts_is_fine_and_other_commands_are_not_compared(
    tmp_path: Path,
) -> None:
    baseline = Baseline.from_report(exit_code_report({"passed": 10, "skipped": 0}))
    assert baseline.delta(exit_code_report({"passed": 11, "skipped": 0})).fewer_passing == ""
    # A phase's own command that runs part of the suite prints smaller counts by design.
    partial = exit_code_report({"passed": 3, "skipped": 0}, command="npm test -- calc")
    assert baseline.delta(partial).fewer_passing == ""
    # Printed counts missing on either side: nothing is claimed.
    assert baseline.delta(exit_code_report({})).fewer_passing == ""
