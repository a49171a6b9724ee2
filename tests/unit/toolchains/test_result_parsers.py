"""Result parsers: JUnit XML dialects, go test -json, cargo output; the report model.

Samples are trimmed copies of what the real tools wrote on this machine (pytest 9, Maven
Surefire 2.22.3, node 20 --test, go 1.19 and the newer Go event format, cargo 1.95).
"""

from __future__ import annotations

from autopack.toolchains.results import (
    SUITE_ID,
    TestCase,
    TestReport,
    parse_cargo_test,
    parse_go_test_json,
    parse_junit_xml,
    unique_ids,
)

PYTEST_XML = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4" time="0.2">
<testcase classname="tests.test_math" name="test_add" time="0.001" />
<testcase classname="tests.test_math" name="test_sub" time="0.002">
  <failure message="assert 1 == 2">def test_sub():
&gt;       assert 1 == 2
E       assert 1 == 2</failure></testcase>
<testcase classname="tests.test_math" name="test_later" time="0.000">
  <skipped type="pytest.skip" message="not yet">tests/test_math.py:9: not yet</skipped>
</testcase>
<testcase classname="" name="tests.test_broken" time="0.000">
  <error message="collection failure">ImportError while importing test module
E   ModuleNotFoundError: No module named 'nonexistent_mod'</error></testcase>
</testsuite></testsuites>"""

SUREFIRE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="ex.CalcTest" time="0.06" tests="3" errors="1" skipped="0" failures="1">
  <properties><property name="java.version" value="17"/></properties>
  <testcase name="adds" classname="ex.CalcTest" time="0"/>
  <testcase name="fails" classname="ex.CalcTest" time="0.002">
    <failure message="expected:&lt;4&gt; but was:&lt;3&gt;" type="java.lang.AssertionError">
<![CDATA[java.lang.AssertionError: expected:<4> but was:<3>
	at ex.CalcTest.fails(CalcTest.java:6)]]></failure>
  </testcase>
  <testcase name="explodes" classname="ex.CalcTest" time="0.001">
    <error message="boom" type="java.lang.IllegalStateException">trace</error>
  </testcase>
</testsuite>"""

NODE_XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites>
	<testcase name="adds" time="0.001848" classname="test"/>
	<testcase name="fails" time="0.002048" classname="test" failure="2 !== 3">
		<failure type="testCodeFailure" message="Expected values to be strictly equal:2 !== 3">
[Error [ERR_TEST_FAILURE]: Expected values to be strictly equal:</failure>
	</testcase>
	<testsuite name="grp" time="0.000899" tests="2" failures="0" skipped="1">
		<testcase name="inner" time="0.000315" classname="test"/>
		<testcase name="sk" time="0.000152" classname="test">
			<skipped type="skipped" message="true"/>
		</testcase>
	</testsuite>
	<testcase name="/work/proj/test/b.test.js" time="0.09" classname="test" failure="test failed">
		<failure type="testCodeFailure" message="test failed">[Error: test failed]</failure>
	</testcase>
</testsuites>"""

VITEST_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<testsuites name="vitest tests" tests="3" failures="1" errors="0" time="0.01">
    <testsuite name="test/math.test.ts" tests="2" failures="1" errors="0" skipped="0">
        <testcase classname="test/math.test.ts" name="math &gt; adds" time="0.001"/>
        <testcase classname="test/math.test.ts" name="math &gt; fails" time="0.001">
            <failure message="expected 2 to be 3" type="AssertionError">AssertionError</failure>
        </testcase>
    </testsuite>
</testsuites>"""

JEST_XML = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="2" failures="1" errors="1" time="0.5">
  <testsuite name="math" errors="0" failures="0" skipped="0" time="0.3" tests="1">
    <testcase classname="math adds" name="math adds" time="0.001"/>
  </testsuite>
  <testsuite name="broken.test.js" errors="1" failures="0" skipped="0" time="0" tests="1">
    <testcase classname="Test suite failed to run" name="broken.test.js" time="0">
      <error>SyntaxError: Unexpected token (3:10)</error>
    </testcase>
  </testsuite>
</testsuites>"""


def outcomes(cases: list[TestCase]) -> dict[str, str]:
    return {c.id: c.outcome for c in cases}


def test_pytest_junit_cases_and_collection_failure() -> None:
    cases, errors = parse_junit_xml(PYTEST_XML)
    assert outcomes(cases) == {
        "tests.test_math::test_add": "passed",
        "tests.test_math::test_sub": "failed",
        "tests.test_math::test_later": "skipped",
    }
    assert "assert 1 == 2" in cases[1].message
    assert cases[1].duration_s == 0.002
    assert len(errors) == 1
    assert errors[0].startswith("tests.test_broken: could not be loaded")
    assert "nonexistent_mod" in errors[0]


def test_surefire_failure_and_error() -> None:
    cases, errors = parse_junit_xml(SUREFIRE_XML)
    assert outcomes(cases) == {
        "ex.CalcTest::adds": "passed",
        "ex.CalcTest::fails": "failed",
        "ex.CalcTest::explodes": "error",
    }
    assert "expected:<4> but was:<3>" in cases[1].message
    assert errors == []


def test_node_nested_suites_and_file_level_failure() -> None:
    cases, errors = parse_junit_xml(NODE_XML, root_prefix="/work/proj")
    assert outcomes(cases) == {
        "test::adds": "passed",
        "test::fails": "failed",
        "test::inner": "passed",
        "test::sk": "skipped",
    }
    assert errors == ["test/b.test.js: could not be loaded\ntest failed\n[Error: test failed]"]


def test_vitest_and_jest_dialects() -> None:
    cases, errors = parse_junit_xml(VITEST_XML)
    assert outcomes(cases) == {
        "test/math.test.ts::math > adds": "passed",
        "test/math.test.ts::math > fails": "failed",
    }
    assert errors == []
    cases, errors = parse_junit_xml(JEST_XML)
    assert outcomes(cases) == {"math adds::math adds": "passed"}
    assert len(errors) == 1 and "SyntaxError" in errors[0]


def test_unreadable_xml_is_a_collection_error_not_a_crash() -> None:
    cases, errors = parse_junit_xml("<testsuite><testcase")
    assert cases == [] and errors[0].startswith("unreadable JUnit XML")


def test_repeated_ids_get_a_suffix() -> None:
    cases = unique_ids([TestCase(id="a", outcome="passed"), TestCase(id="a", outcome="failed")])
    assert [c.id for c in cases] == ["a", "a#2"]


GO_119 = """\
{"Action":"run","Package":"example.com/g","Test":"TestAdd"}
{"Action":"output","Package":"example.com/g","Test":"TestAdd","Output":"=== RUN   TestAdd\\n"}
{"Action":"pass","Package":"example.com/g","Test":"TestAdd","Elapsed":0.01}
{"Action":"run","Package":"example.com/g","Test":"TestBad"}
{"Action":"output","Package":"example.com/g","Test":"TestBad","Output":"=== RUN   TestBad\\n"}
{"Action":"output","Package":"example.com/g","Test":"TestBad","Output":"    g_test.go:6: want 4 got 3\\n"}
{"Action":"output","Package":"example.com/g","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\\n"}
{"Action":"fail","Package":"example.com/g","Test":"TestBad","Elapsed":0}
{"Action":"run","Package":"example.com/g","Test":"TestSub/skipme"}
{"Action":"skip","Package":"example.com/g","Test":"TestSub/skipme","Elapsed":0}
{"Action":"fail","Package":"example.com/g","Elapsed":0.004}
{"Action":"output","Package":"example.com/g/none","Output":"?   \\texample.com/g/none\\t[no test files]\\n"}
{"Action":"skip","Package":"example.com/g/none","Elapsed":0}
FAIL	example.com/g/sub [build failed]
# example.com/g/sub [example.com/g/sub.test]
sub/sub.go:4:1: syntax error: unexpected EOF, expecting }
"""  # noqa: E501

GO_124_BUILD_FAILURE = """\
{"ImportPath":"example.com/g/sub [example.com/g/sub.test]","Action":"build-output","Output":"# example.com/g/sub\\n"}
{"ImportPath":"example.com/g/sub [example.com/g/sub.test]","Action":"build-output","Output":"sub/sub.go:4:1: syntax error: unexpected EOF\\n"}
{"ImportPath":"example.com/g/sub [example.com/g/sub.test]","Action":"build-fail"}
{"Action":"start","Package":"example.com/g/sub"}
{"Action":"output","Package":"example.com/g/sub","Output":"FAIL\\texample.com/g/sub [build failed]\\n"}
{"Action":"fail","Package":"example.com/g/sub","Elapsed":0,"FailedBuild":"example.com/g/sub [example.com/g/sub.test]"}
"""  # noqa: E501


def test_go_json_tests_subtests_and_old_style_build_failure() -> None:
    cases, errors, no_tests = parse_go_test_json(GO_119)
    assert outcomes(cases) == {
        "example.com/g::TestAdd": "passed",
        "example.com/g::TestBad": "failed",
        "example.com/g::TestSub/skipme": "skipped",
    }
    bad = next(c for c in cases if c.id.endswith("TestBad"))
    assert "want 4 got 3" in bad.message and "=== RUN" not in bad.message
    assert len(errors) == 1
    assert errors[0].startswith("example.com/g/sub: build failed")
    assert "syntax error: unexpected EOF" in errors[0]
    assert not no_tests


def test_go_json_new_style_build_failure_event() -> None:
    cases, errors, _ = parse_go_test_json(GO_124_BUILD_FAILURE)
    assert cases == []
    assert len(errors) == 1
    assert errors[0].startswith("example.com/g/sub: build failed")
    assert "syntax error: unexpected EOF" in errors[0]


def test_go_json_with_only_untested_packages_collected_nothing() -> None:
    only_skip = GO_119.splitlines()[11:13]
    cases, errors, no_tests = parse_go_test_json("\n".join(only_skip))
    assert cases == [] and errors == [] and no_tests


CARGO = """\
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.01s
     Running unittests src/lib.rs (target/debug/deps/rs-a35a48c092d3f767)

running 3 tests
test tests::adds ... ok
test tests::slow ... ignored
test tests::fails ... FAILED

failures:

---- tests::fails stdout ----

thread 'tests::fails' (16969) panicked at src/lib.rs:12:26:
assertion `left == right` failed: math is broken
  left: 3
 right: 4

failures:
    tests::fails

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.09s

error: test failed, to rerun pass `--lib`
     Running tests/it.rs (target/debug/deps/it-f79ac83c53990106)

running 1 test
test integ ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests rs

running 1 test
test src/lib.rs - add (line 3) ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: 1 target failed:
    `--lib`
"""

CARGO_COMPILE_ERROR = """\
   Compiling rs v0.1.0 (/tmp/exp/rs)
error[E0425]: cannot find value `c` in this scope
 --> src/lib.rs:1:41
  |
1 | pub fn add(a: i32, b: i32) -> i32 { a + c }
  |                                         ^

For more information about this error, try `rustc --explain E0425`.
error: could not compile `rs` (lib test) due to 1 previous error
"""


def test_cargo_output_targets_outcomes_and_messages() -> None:
    cases, errors, no_tests = parse_cargo_test(CARGO)
    assert outcomes(cases) == {
        "src/lib.rs::tests::adds": "passed",
        "src/lib.rs::tests::slow": "skipped",
        "src/lib.rs::tests::fails": "failed",
        "tests/it.rs::integ": "passed",
        "doc::src/lib.rs - add": "passed",  # "(line 3)" dropped: it moves with edits
    }
    fails = next(c for c in cases if c.outcome == "failed")
    assert "math is broken" in fails.message
    assert errors == [] and not no_tests


def test_cargo_compile_error_is_a_collection_error() -> None:
    cases, errors, _ = parse_cargo_test(CARGO_COMPILE_ERROR)
    assert cases == []
    assert len(errors) == 1
    assert errors[0].startswith("error[E0425]: cannot find value `c`")
    assert "src/lib.rs:1:41" in errors[0]


def test_cargo_running_zero_tests_is_no_tests() -> None:
    text = "     Running unittests src/lib.rs (x)\n\nrunning 0 tests\n\ntest result: ok. 0 passed"
    assert parse_cargo_test(text) == ([], [], True)


def test_report_totals_verdict_and_json_round_trip() -> None:
    report = TestReport(
        source="junit",
        command="pytest",
        exit_code=1,
        tests=[
            TestCase(id="a", outcome="passed", duration_s=0.1),
            TestCase(id="b", outcome="failed", message="boom"),
            TestCase(id="c", outcome="error"),
            TestCase(id="d", outcome="skipped"),
        ],
        collection_errors=["x: could not be loaded"],
        note="n",
    )
    assert report.totals.model_dump() == {
        "total": 4,
        "passed": 1,
        "failed": 1,
        "errors": 1,
        "skipped": 1,
    }
    assert report.failing_ids == ["b", "c"]
    assert not report.passed
    again = TestReport.model_validate_json(report.model_dump_json())
    assert again == report
    assert '"totals"' in report.model_dump_json()


def test_passed_needs_exit_zero_tests_and_no_collection_problems() -> None:
    good = TestReport(source="junit", exit_code=0, tests=[TestCase(id="a", outcome="passed")])
    assert good.passed
    assert not good.model_copy(update={"no_tests_collected": True}).passed
    assert not good.model_copy(update={"timed_out": True}).passed
    assert not good.model_copy(update={"exit_code": 1}).passed


def test_merge_combines_commands_and_keeps_the_weakest_source() -> None:
    a = TestReport(
        source="junit",
        command="a",
        exit_code=0,
        duration_s=1,
        tests=[TestCase(id="t", outcome="passed")],
    )
    b = TestReport(
        source="exit-code",
        command="b",
        exit_code=2,
        duration_s=2,
        tests=[TestCase(id=SUITE_ID, outcome="failed")],
        collection_errors=["e"],
    )
    merged = TestReport.merge([a, b])
    assert merged.source == "exit-code"
    assert merged.exit_code == 2
    assert merged.command == "a ; b"
    assert [t.id for t in merged.tests] == ["t", SUITE_ID]
    assert merged.collection_errors == ["e"]
    assert merged.duration_s == 3
