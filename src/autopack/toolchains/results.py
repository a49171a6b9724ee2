"""Test results: one :class:`TestReport` shape for every toolchain, and its parsers.

Parsers read what the tools write for machines: JUnit XML (pytest ``--junitxml``, Maven
Surefire, Gradle, jest-junit, vitest and ``node --test``), ``go test -json`` events, and
cargo's test output (cargo has no stable machine format). Turning a finished command into
a report, including the exit-code fallback and each tool's collection-error signals, is
:func:`autopack.verify.suite.build_report`'s job; this module only knows formats.

A report is stored by the executor as JSON; ``TestReport.model_validate_json(
report.model_dump_json())`` gives the same report back.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

Outcome = Literal["passed", "failed", "error", "skipped"]
ReportSource = Literal["junit", "go-json", "cargo", "exit-code"]
FAILING: frozenset[str] = frozenset({"failed", "error"})
#: The id of the one synthetic test an exit-code-only report holds.
SUITE_ID = "(whole suite)"
MESSAGE_LIMIT = 4000


class TestCase(BaseModel):
    """One test's result. ``id`` is stable between runs of the same project."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name
    model_config = ConfigDict(extra="forbid")

    id: str
    outcome: Outcome
    duration_s: float | None = None
    message: str = ""


class TestTotals(BaseModel):
    __test__: ClassVar[bool] = False
    model_config = ConfigDict(extra="forbid")

    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0


class TestReport(BaseModel):
    """The result of running a project's tests once.

    ``passed`` is the whole-suite verdict; whether a failure is the current change's fault
    is :mod:`autopack.verify.baseline`'s question. ``no_tests_collected`` is kept apart from
    ``collection_errors``: a project without tests is not broken, a project whose tests
    cannot be imported is.
    """

    __test__: ClassVar[bool] = False
    model_config = ConfigDict(extra="ignore")  # ignore the computed `totals` on the way in

    source: ReportSource
    command: str = ""
    exit_code: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    tests: list[TestCase] = Field(default_factory=list)
    collection_errors: list[str] = Field(default_factory=list)
    no_tests_collected: bool = False
    note: str = ""
    log_tail: str = Field(default="", description="The last lines of the command's output.")
    printed_counts: dict[str, int] = Field(
        default_factory=dict,
        description="For an exit-code report: the passed and skipped counts the runner "
        "printed in its summary (see parse_printed_counts); empty when it printed none.",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def totals(self) -> TestTotals:
        counts = dict.fromkeys(("passed", "failed", "error", "skipped"), 0)
        for case in self.tests:
            counts[case.outcome] += 1
        return TestTotals(
            total=len(self.tests),
            passed=counts["passed"],
            failed=counts["failed"],
            errors=counts["error"],
            skipped=counts["skipped"],
        )

    @property
    def failing_ids(self) -> list[str]:
        return [t.id for t in self.tests if t.outcome in FAILING]

    @property
    def passed(self) -> bool:
        """True when the suite ran to the end, collected tests and none failed."""
        return (
            not self.timed_out
            and not self.collection_errors
            and not self.no_tests_collected
            and not self.failing_ids
            and self.exit_code == 0
        )

    def summary(self) -> str:
        """One line for logs and the CLI."""
        t = self.totals
        parts = [
            f"{t.passed} passed",
            f"{t.failed} failed",
            f"{t.errors} errors",
            f"{t.skipped} skipped",
        ]
        if self.collection_errors:
            parts.append(f"{len(self.collection_errors)} collection errors")
        if self.no_tests_collected:
            parts.append("no tests collected")
        if self.timed_out:
            parts.append("TIMED OUT")
        return (
            f"{'PASSED' if self.passed else 'FAILED'}: "
            + ", ".join(parts)
            + f" ({self.source}, exit {self.exit_code}, {self.duration_s:.1f}s)"
        )

    @classmethod
    def merge(cls, reports: Iterable[TestReport]) -> TestReport:
        """One report for several commands run in turn (a plan may list several)."""
        items = list(reports)
        if not items:
            raise ValueError("merge() needs at least one report")
        if len(items) == 1:
            return items[0]
        sources = {r.source for r in items}
        exit_codes = [r.exit_code for r in items]
        return cls(
            # The weakest source is what the merged report can promise.
            source="exit-code" if "exit-code" in sources else items[0].source,
            command=" ; ".join(r.command for r in items),
            exit_code=next((c for c in exit_codes if c != 0), 0),
            timed_out=any(r.timed_out for r in items),
            duration_s=round(sum(r.duration_s for r in items), 3),
            tests=unique_ids([t for r in items for t in r.tests]),
            collection_errors=[e for r in items for e in r.collection_errors],
            no_tests_collected=all(r.no_tests_collected for r in items),
            note=" | ".join(r.note for r in items if r.note),
            log_tail="\n".join(r.log_tail for r in items)[-8000:],
            printed_counts=_sum_counts(r.printed_counts for r in items),
        )


def _sum_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for one in counts:
        for key, value in one.items():
            total[key] = total.get(key, 0) + value
    return total


def unique_ids(cases: Iterable[TestCase]) -> list[TestCase]:
    """Give repeated ids a ``#2``, ``#3`` suffix in order, so every id is a distinct key."""
    seen: dict[str, int] = {}
    out: list[TestCase] = []
    for case in cases:
        n = seen.get(case.id, 0) + 1
        seen[case.id] = n
        out.append(case if n == 1 else case.model_copy(update={"id": f"{case.id}#{n}"}))
    return out


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + " [...]"


# --- counts printed by runners without a machine-readable report -------------------------

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Runners that print a summary: (name, its summary lines, passed count, skipped count).
#: The counts are summed over every summary line (a workspace prints one per project).
_SUMMARIES: list[tuple[str, re.Pattern[str], re.Pattern[str], re.Pattern[str]]] = [
    # vitest: "      Tests  476 passed | 1 skipped (477)"
    ("vitest", re.compile(r"^\s*Tests\s+\d+ \w+.*\(\d+\)\s*$", re.M),
     re.compile(r"(\d+) passed"), re.compile(r"(\d+) (?:skipped|todo)")),
    # jest: "Tests:       1 skipped, 10 passed, 11 total"
    ("jest", re.compile(r"^Tests:\s+.*\d+ total\s*$", re.M),
     re.compile(r"(\d+) passed"), re.compile(r"(\d+) (?:skipped|todo)")),
    # mocha: "  10 passing (12ms)", "  1 pending"
    ("mocha", re.compile(r"^\s*\d+ (?:passing|pending)\b.*$", re.M),
     re.compile(r"(\d+) passing"), re.compile(r"(\d+) pending")),
    # node --test, spec and tap reporters: "\u2139 pass 10" / "# pass 10"
    ("node-test", re.compile(r"^(?:\u2139|#) (?:pass|skipped|todo) \d+\s*$", re.M),
     re.compile(r"pass (\d+)"), re.compile(r"(?:skipped|todo) (\d+)")),
]  # fmt: skip
#: unittest: "Ran 12 tests in 0.010s", a blank line, "OK (skipped=1)" / "FAILED (failures=2)"
_UNITTEST = re.compile(r"^Ran (\d+) tests? in [\d.]+s\s*\n\s*\n((?:OK|FAILED)\b.*)$", re.M)
_UNITTEST_COUNT = re.compile(r"(skipped|expected failures|failures|errors)=(\d+)")


def parse_printed_counts(output: str) -> dict[str, int]:
    """``{"passed": n, "skipped": m}`` from the summary lines of a test runner that wrote
    no machine-readable report (vitest, jest, mocha, ``node --test``, unittest), summed
    over the summaries of the first runner recognised; empty when none is.

    With an exit-code-only report these counts are the one way to see that a change left
    fewer tests passing (a test deleted) or more skipped than the baseline."""
    text = _ANSI.sub("", output)
    for _runner, line, passed, skipped in _SUMMARIES:
        lines = line.findall(text)
        if lines:
            return {
                "passed": sum(int(n) for found in lines for n in passed.findall(found)),
                "skipped": sum(int(n) for found in lines for n in skipped.findall(found)),
            }
    runs = _UNITTEST.findall(text)
    if not runs:
        return {}
    counts = {"passed": 0, "skipped": 0}
    for ran, verdict in runs:
        found = {key: int(value) for key, value in _UNITTEST_COUNT.findall(verdict)}
        not_run = found.get("skipped", 0) + found.get("expected failures", 0)
        counts["skipped"] += not_run
        counts["passed"] += int(ran) - not_run - found.get("failures", 0) - found.get("errors", 0)
    return counts


# --- JUnit XML ---------------------------------------------------------------------------

#: pytest writes a module that failed to import as a testcase with this error message.
PYTEST_COLLECTION_FAILURE = "collection failure"
JEST_SUITE_FAILURE = "Test suite failed to run"
_TEST_FILE = re.compile(r"\.(?:[cm]?js|[cm]?ts|jsx|tsx|py)$")


def parse_junit_xml(xml_text: str, *, root_prefix: str = "") -> tuple[list[TestCase], list[str]]:
    """Test cases and collection errors from one JUnit XML document.

    Handles the dialects in use: a ``<testsuites>`` or ``<testsuite>`` root, nested suites
    (node, jest), ``<failure>``/``<error>``/``<skipped>`` children. A failing "test" that
    stands for a whole file that could not be loaded becomes a collection error instead:
    pytest's "collection failure", jest's "Test suite failed to run", and a case named by a
    test file's path (how ``node --test`` and vitest report a file that failed to load).
    ``root_prefix`` (the project directory) is cut from ids, so ids do not depend on where
    the worktree lives.
    """
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        return [], [f"unreadable JUnit XML: {exc}"]
    prefix = root_prefix.rstrip("/") + "/" if root_prefix else ""
    cases: list[TestCase] = []
    errors: list[str] = []
    for elem in root.iter("testcase"):
        classname = (elem.get("classname") or "").strip()
        name = (elem.get("name") or "").strip()
        if prefix:
            classname, name = classname.replace(prefix, ""), name.replace(prefix, "")
        outcome: Outcome = "passed"
        message = ""
        for child in elem:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "error"
                message = _clip(f"{child.get('message') or ''}\n{child.text or ''}")
                break
            if child.tag == "skipped":
                outcome = "skipped"
                message = _skip_message(child)
        if outcome in FAILING and _is_file_failure(classname, name, message):
            errors.append(f"{name or classname}: could not be loaded\n{message}".strip())
            continue
        cases.append(
            TestCase(
                id=f"{classname}::{name}" if classname else name,
                outcome=outcome,
                duration_s=_float(elem.get("time")),
                message=message,
            )
        )
    return unique_ids(cases), errors


def _skip_message(elem: ET.Element) -> str:
    """Why a JUnit case was skipped, saying "xfail" when it was an expected failure
    (pytest writes xfail as ``<skipped type="pytest.xfail">``): both hide a test from the
    verdict, and the reason tells a reader which it was."""
    kind = "xfail" if "xfail" in (elem.get("type") or "").lower() else "skipped"
    reason = (elem.get("message") or elem.text or "").strip()
    return _clip(f"{kind}: {reason}" if reason else kind)


def _is_file_failure(classname: str, name: str, message: str) -> bool:
    if message.startswith(PYTEST_COLLECTION_FAILURE) or JEST_SUITE_FAILURE in (classname, name):
        return True
    return bool(_TEST_FILE.search(name)) and classname in ("", "test", name)


def _float(value: str | None) -> float | None:
    try:
        return round(float(value), 6) if value else None
    except ValueError:
        return None


# --- go test -json -----------------------------------------------------------------------

_GO_OUTCOMES: dict[str, Outcome] = {"pass": "passed", "fail": "failed", "skip": "skipped"}
_GO_BUILD_FAILED = re.compile(r"^(?:FAIL|ok)?\s*(\S+)\s+\[(build|setup) failed\]", re.M)


def parse_go_test_json(output: str) -> tuple[list[TestCase], list[str], bool]:
    """Test cases, collection errors and "no test files anywhere" from ``go test -json``.

    Build failures appear as plain ``FAIL pkg [build failed]`` lines (Go < 1.24) or as
    ``build-output``/``FailedBuild`` events (Go >= 1.24); both become collection errors,
    with the compiler's messages when they are in the output.
    """
    results: dict[str, TestCase] = {}
    messages: dict[str, list[str]] = {}
    build_output: dict[str, list[str]] = {}
    plain: list[str] = []
    errors: list[str] = []
    packages_seen: set[str] = set()
    for line in output.splitlines():
        event = _json_line(line)
        if event is None:
            plain.append(line)
            continue
        action = str(event.get("Action", ""))
        package = str(event.get("Package") or event.get("ImportPath") or "")
        test = str(event.get("Test") or "")
        if action == "build-output":
            build_output.setdefault(package, []).append(str(event.get("Output", "")))
            continue
        packages_seen.add(package)
        if not test:
            if action == "fail" and event.get("FailedBuild"):
                detail = "".join(build_output.get(str(event["FailedBuild"]), []))
                errors.append(_clip(f"{package}: build failed\n{detail}"))
            elif action == "output" and "[build failed]" in str(event.get("Output", "")):
                plain.append(str(event.get("Output", "")).rstrip("\n"))
            continue
        case_id = f"{package}::{test}"
        if action == "output":
            text = str(event.get("Output", ""))
            if not text.startswith(("=== RUN", "=== PAUSE", "=== CONT")):
                messages.setdefault(case_id, []).append(text)
        elif action in ("pass", "fail", "skip"):
            outcome = _GO_OUTCOMES[action]
            message = _clip("".join(messages.get(case_id, []))) if action != "pass" else ""
            results[case_id] = TestCase(
                id=case_id,
                outcome=outcome,
                message=message,
                duration_s=_float(str(event.get("Elapsed", ""))),
            )
    plain_text = "\n".join(plain)
    for match in _GO_BUILD_FAILED.finditer(plain_text):
        already = any(e.startswith(f"{match.group(1)}:") for e in errors)
        if not already:
            detail = "\n".join(ln for ln in plain if ln and not _GO_BUILD_FAILED.match(ln))
            errors.append(_clip(f"{match.group(1)}: {match.group(2)} failed\n{detail}"))
    no_tests = not results and not errors and bool(packages_seen)
    return list(results.values()), errors, no_tests


def _json_line(line: str) -> dict[str, object] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# --- cargo test --------------------------------------------------------------------------

_CARGO_TARGET = re.compile(r"^\s*Running (?:unittests )?(\S+)")
_CARGO_DOCTESTS = re.compile(r"^\s*Doc-tests (\S+)")
_CARGO_RESULT = re.compile(r"^test (.+?) \.\.\. (ok|FAILED|ignored(?:, .*)?|bench:.*)$")
_CARGO_FAILURE_HEADER = re.compile(r"^---- (.+?) stdout ----$")
_CARGO_DOC_LINE = re.compile(r" \(line \d+\)$")
_CARGO_COMPILE_ERROR = re.compile(r"^error(?:\[E\d+\])?: (?!test failed)(?!\d+ targets? failed)")


def parse_cargo_test(output: str) -> tuple[list[TestCase], list[str], bool]:
    """Test cases, compile errors and "ran no tests" from ``cargo test`` output.

    Ids are ``<target>::<test>`` (``src/lib.rs::tests::adds``, ``tests/api.rs::login``,
    ``doc::src/lib.rs - add``): the target comes from cargo's ``Running`` lines, which go
    to stderr, so the output must be captured with stderr merged. Doc-test ids drop cargo's
    ``(line N)``, which moves whenever the file above the doc comment changes.
    """
    target = ""
    cases: list[TestCase] = []
    messages: dict[str, list[str]] = {}
    current_failure: str | None = None
    compile_errors: list[str] = []
    ran_any = False
    lines = output.splitlines()

    def case_id(name: str) -> str:
        name = _CARGO_DOC_LINE.sub("", name) if target == "doc" else name
        return f"{target}::{name}" if target else name

    for i, line in enumerate(lines):
        if m := _CARGO_TARGET.match(line):
            target, current_failure = m.group(1), None
        elif m := _CARGO_DOCTESTS.match(line):
            target, current_failure = "doc", None
        elif line.startswith("running "):
            ran_any = True
        elif m := _CARGO_RESULT.match(line):
            status = m.group(2)
            outcome: Outcome = (
                "passed"
                if status == "ok" or status.startswith("bench")
                else "failed"
                if status == "FAILED"
                else "skipped"
            )
            note = status if outcome == "skipped" else ""  # "ignored, <the #[ignore] reason>"
            cases.append(TestCase(id=case_id(m.group(1)), outcome=outcome, message=note))
        elif m := _CARGO_FAILURE_HEADER.match(line):
            current_failure = case_id(m.group(1))
        elif current_failure is not None:
            if line.startswith(("failures:", "test result:")):
                current_failure = None
            else:
                messages.setdefault(current_failure, []).append(line)
        elif _CARGO_COMPILE_ERROR.match(line):
            # The compiler's message: the error line and the source excerpt under it.
            block = [line, *[ln for ln in lines[i + 1 : i + 12] if ln.strip()]]
            compile_errors.append(_clip("\n".join(block)))
    cases = [
        c.model_copy(update={"message": _clip("\n".join(messages[c.id]))})
        if c.outcome == "failed" and c.id in messages
        else c
        for c in cases
    ]
    specific = [e for e in compile_errors if not e.startswith("error: could not compile")]
    compile_errors = specific or compile_errors
    no_tests = ran_any and not cases and not compile_errors
    return unique_ids(cases), compile_errors, no_tests
