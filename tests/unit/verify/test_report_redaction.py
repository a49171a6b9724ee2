"""A test report never carries the secrets a project's tests printed."""

from __future__ import annotations

from autopack.toolchains.base import TestCommand
from autopack.toolchains.runner import CommandResult
from autopack.verify.suite import build_report

TOKEN = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
FAILING_XML = f"""<testsuites><testsuite name="pytest">
<testcase classname="t" name="test_login"><failure message="login failed with {TOKEN}">
E   AssertionError: token={TOKEN}</failure></testcase>
<testcase classname="" name="t.test_conf"><error message="collection failure">
E   KeyError: AWS AKIAIOSFODNN7EXAMPLE</error></testcase>
</testsuite></testsuites>"""


def result(exit_code: int, output: str) -> CommandResult:
    return CommandResult(
        command="pytest", cwd="/p", exit_code=exit_code, stdout=output, stderr="",
        output=output, duration_s=1.0, timed_out=False, truncated=False,
    )  # fmt: skip


def test_messages_collection_errors_and_log_tail_are_redacted() -> None:
    output = f"connecting with {TOKEN}\nDB_PASSWORD=hunter2\n1 failed"
    spec = TestCommand(argv=["pytest"], test_tool="pytest", report_format="junit")
    report = build_report(result(1, output), spec, {"r.xml": FAILING_XML})
    dumped = report.model_dump_json()
    assert TOKEN not in dumped and "AKIAIOSFODNN7EXAMPLE" not in dumped
    assert "hunter2" not in dumped
    assert report.tests[0].message.startswith("login failed with [REDACTED:github_token]")
    assert "[REDACTED:aws_access_key]" in report.collection_errors[0]
    assert report.log_tail.splitlines() == [
        "connecting with [REDACTED:github_token]",
        "DB_PASSWORD=[REDACTED:password]",
        "1 failed",
    ]


def test_an_exit_code_only_report_is_redacted_too() -> None:
    report = build_report(result(1, f"error: bad token {TOKEN}"), TestCommand(argv="make"), {})
    assert TOKEN not in report.model_dump_json()
    assert "[REDACTED:github_token]" in report.tests[0].message
