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

A test that passed in the baseline and is now absent (deleted, renamed, deselected with
``-k``/``--deselect``, ignored by ``collect_ignore``, hidden by ``__test__ = False`` or a
module-level ``pytest.skip``) is ``removed``; one that passed and is now skipped or
xfailed is ``newly_skipped``. Both are regressions: a suite is not made green by taking
its tests away. Three cases are not counted: a test that only moved into or out of a
class of the same module and still passes (``moved``), a parametrized case whose
generated id was renumbered because a case was added or removed before it and still
passes (``test_x[args31-NaN]`` now ``test_x[args32-NaN]``, also ``moved``), and, when the
attempt ran a phase's own test command (``scope.tests``) that picks files or tests
(``pytest tests/test_a.py``) or is another tool than the baseline's, tests of files or
classes it did not run at all. The
baseline's suite under another spelling (``python -m pytest -q`` for a detected
``pytest``, ``make test`` running pytest) is compared in full. When either report has no
per-test ids, removal cannot be checked by name and ``removal_unchecked`` says why; if the
same command printed its runner's counts both times (vitest or jest behind a wrapper
script, mocha, unittest without pytest), fewer passing or more skipped tests than the
baseline is ``fewer_passing``, a regression like ``removed``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from autopack.toolchains.detect import COMMAND_RULES
from autopack.toolchains.results import FAILING, SUITE_ID, TestReport


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
    removed: list[str] = Field(
        default_factory=list,
        description="Passed in the baseline, absent now (deleted, renamed or deselected).",
    )
    newly_skipped: list[str] = Field(
        default_factory=list, description="Passed in the baseline, skipped or xfailed now."
    )
    moved: dict[str, str] = Field(
        default_factory=dict,
        description="Baseline id -> id now, for passing tests moved into or out of a class, "
        "or parametrized cases whose generated id was renumbered.",
    )
    removal_unchecked: str = Field(
        default="",
        description="Why removed and skipped tests could not be checked; empty when they were.",
    )
    fewer_passing: str = Field(
        default="",
        description="Without per-test ids: how the runner's printed counts show fewer "
        "passing or more skipped tests than the baseline; empty when they do not.",
    )
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
    removal = _removal(report, baseline) if baseline is not None else _Removal()
    messages = {t.id: t.message for t in report.tests if t.id in new and t.outcome in FAILING}
    messages |= {
        t.id: t.message or "skipped"
        for t in report.tests
        if t.id in removal.newly_skipped and t.outcome == "skipped"
    }
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
        removed=removal.removed,
        newly_skipped=removal.newly_skipped,
        moved=removal.moved,
        removal_unchecked=removal.unchecked,
        fewer_passing=removal.fewer_passing,
        timed_out=report.timed_out,
        exit_code_only=report.source == "exit-code"
        or (baseline is not None and baseline.report.source == "exit-code"),
        failure_messages=messages,
    )
    delta.summary = _summary(delta)
    return delta


class _Removal(BaseModel):
    removed: list[str] = Field(default_factory=list)
    newly_skipped: list[str] = Field(default_factory=list)
    moved: dict[str, str] = Field(default_factory=dict)
    unchecked: str = ""
    fewer_passing: str = ""


def _removal(report: TestReport, baseline: Baseline) -> _Removal:
    """Baseline-passing tests that are gone or skipped in ``report``."""
    before = {t.id: t.outcome for t in baseline.report.tests if t.id != SUITE_ID}
    now = {t.id: t.outcome for t in report.tests if t.id != SUITE_ID}
    if not before:
        why = "the baseline has no per-test results (exit code only)"
        if baseline.report.tests or baseline.report.source == "exit-code":
            return _Removal(
                unchecked=f"removed or skipped tests cannot be checked by name: {why}",
                fewer_passing=_fewer_passing(report, baseline.report),
            )
        return _Removal()
    passed_before = sorted(i for i, outcome in before.items() if outcome == "passed")
    skipped = [i for i in passed_before if now.get(i) == "skipped"]
    gone = [i for i in passed_before if i not in now]
    unchecked = ""
    if not now and report.source == "exit-code" and (report.collection_errors or report.timed_out):
        # Nothing ran to the end; the collection error or timeout already fails the gate.
        return _Removal(
            unchecked="removed tests cannot be checked: this run has no per-test results"
        )
    if report.command != baseline.report.command:
        # The attempt ran a phase's own test command. When it is the baseline's suite under
        # another spelling, every test is compared; otherwise only the files and classes
        # it ran, since the rest of the suite is not its business.
        if not now:
            return _Removal(
                newly_skipped=skipped,
                unchecked="removed tests cannot be checked: the phase's test command "
                "reports no per-test results",
            )
        if selects_tests(report.command) or not _same_tools(report, baseline.report):
            ran = {_group(i) for i in now}
            gone = [i for i in gone if _group(i) in ran]
            unchecked = (
                "the phase's test command runs part of the suite or another tool, so only "
                "removals within the test files and classes it ran are checked"
            )
    moved = _moved(gone, before, now)
    return _Removal(
        removed=[i for i in gone if i not in moved],
        newly_skipped=skipped,
        moved=moved,
        unchecked=unchecked,
    )


def _fewer_passing(report: TestReport, baseline: TestReport) -> str:
    """What the runner's printed counts say was taken away, when the same command printed
    them for the baseline and now ("" when they are not comparable or nothing was)."""
    before, now = baseline.printed_counts, report.printed_counts
    if not before or not now or report.command != baseline.command:
        return ""
    if report.collection_errors or report.timed_out or report.exit_code != 0:
        return ""  # the run failed: the tests gate fails on that already
    parts = []
    if now.get("passed", 0) < before.get("passed", 0):
        parts.append(
            f"{now.get('passed', 0)} tests passed, {before.get('passed', 0)} in the baseline"
        )
    if now.get("skipped", 0) > before.get("skipped", 0):
        parts.append(f"{now.get('skipped', 0)} skipped, {before.get('skipped', 0)} in the baseline")
    if not parts:
        return ""
    return "the test runner's summary counts " + " and ".join(parts)


#: Options that pick tests by name, marker or pattern (pytest, go, jest/vitest, cargo,
#: Maven, Gradle, mocha).
_SELECTING_OPTIONS = re.compile(
    r"^(?:-k|-m|--deselect|--ignore(?:-glob)?|-run|--run|-t|--testNamePattern|"
    r"--testPathPattern|--grep|-g|--filter|--tests|--test|-Dtest|-Dit\.test)(?:=|$)"
)
#: Each test tool as verification recognises it (the same patterns the plan's commands are
#: read with), for telling "the same suite, spelled differently" from "another suite".
_TOOL_RULES: list[tuple[re.Pattern[str], str]] = [
    (pattern, str(fields["test_tool"])) for pattern, fields in COMMAND_RULES
]
_RUNNER_MODULES = {"pytest", "py.test", "unittest", "nose2"}
_WHOLE_TREE = {".", "./", "./...", "...", "*"}


def selects_tests(command: str) -> bool:
    """Whether ``command`` names test files or selects tests (``pytest tests/test_a.py``,
    ``go test -run TestX ./pkg``, ``pytest -k slow``), so it may run part of the suite.
    Its first word (the program) and ``./...``-style "everything" arguments do not count."""
    for part in command.split(" ; "):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        words = [w for w in words if not re.match(r"^[A-Z_][A-Z0-9_]*=", w)][1:]
        for i, word in enumerate(words):
            if word == "-m" and i + 1 < len(words) and words[i + 1] in _RUNNER_MODULES:
                continue  # `python -m pytest`: the interpreter's -m, not pytest's
            if i > 0 and words[i - 1] == "-m" and word in _RUNNER_MODULES:
                continue
            if _SELECTING_OPTIONS.match(word):
                return True
            if word.startswith("-") or word in _WHOLE_TREE:
                continue
            if "/" in word or "::" in word or re.search(r"\.(?:py|[cm]?[jt]sx?|go|rs|java)$", word):
                return True
    return False


def _same_tools(a: TestReport, b: TestReport) -> bool:
    """Whether two reports come from the same test tools (pytest and pytest behind
    ``make test`` are; pytest and ``go test`` are not). A command whose tool is not
    recognised matches when both reports are in the same format."""
    tools_a, tools_b = _tools(a.command), _tools(b.command)
    if None in tools_a or None in tools_b:
        return a.source == b.source
    return tools_a == tools_b


def _tools(command: str) -> set[str | None]:
    found: set[str | None] = set()
    for part in command.split(" ; "):
        tool = next((t for pattern, t in _TOOL_RULES if pattern.search(part)), None)
        found.add(tool)
    return found


def _group(test_id: str) -> str:
    """The file, module or class part of an id: ``tests.test_x.TestA`` of
    ``tests.test_x.TestA::test_a`` (every parser puts the test's own name last)."""
    return test_id.rpartition("::")[0]


def _moved(gone: list[str], before: Mapping[str, str], now: Mapping[str, str]) -> dict[str, str]:
    """Gone ids that reappear, passing, under a class of the same module (or out of one):
    ``tests.test_x::test_a`` -> ``tests.test_x.TestA::test_a``, or as the same
    parametrized case under a renumbered generated id (see :func:`_renumbered`). The test
    still runs, so it was not removed. Anything looser (same name in another file) would
    let a test be swapped for a different one of the same name, so it stays a removal."""
    added: dict[tuple[str, str], list[str]] = {}
    for test_id, outcome in now.items():
        if outcome == "passed" and test_id not in before:
            group, _, name = test_id.rpartition("::")
            added.setdefault((group, name), []).append(test_id)
    moved = _renumbered(gone, [i for ids in added.values() for i in ids])
    gone = [i for i in gone if i not in moved]
    for old in gone:
        group, _, name = old.rpartition("::")
        if not group:
            continue
        candidates = [
            new
            for (new_group, new_name), ids in added.items()
            if new_name == name and _one_class_apart(group, new_group)
            for new in ids
        ]
        if len(candidates) == 1 and candidates[0] not in moved.values():
            moved[old] = candidates[0]
    return moved


#: A parameter id pytest generated (``argname`` + the case's index: ``test_args31``), one
#: ``-``-separated part of the brackets of ``test_x[test_args31-NaN]``.
_GENERATED_PART = re.compile(r"^([A-Za-z_]\w*?)\d+$")


def _renumbered(gone: list[str], added: list[str]) -> dict[str, str]:
    """Parametrized cases whose generated id changed only in its index.

    pytest names a case whose value has no readable id ``<argname><index>``, so a case
    added to (or removed from) the middle of a parameter list renumbers every case after
    it: ``test_x[args31-NaN]`` is now ``test_x[args32-NaN]``. Ids that are equal once the
    indexes are blanked out are paired, in index order, gone with newly passing; what
    cannot be paired (a case really taken away) stays removed, because the number of
    cases with each readable part must still add up."""

    def key(test_id: str) -> str | None:
        head, bracket, params = test_id.partition("[")
        if not bracket or not params.endswith("]"):
            return None
        parts = params[:-1].split("-")
        blanked = [m.group(1) + "#" if (m := _GENERATED_PART.match(p)) else p for p in parts]
        return None if blanked == parts else head + "[" + "-".join(blanked) + "]"

    def index_order(test_id: str) -> list[int]:
        return [int(n) for n in re.findall(r"\d+", test_id.partition("[")[2])]

    pool: dict[str, list[str]] = {}
    for test_id in sorted(added, key=index_order):
        if (k := key(test_id)) is not None:
            pool.setdefault(k, []).append(test_id)
    paired: dict[str, str] = {}
    for test_id in sorted(gone, key=index_order):
        k = key(test_id)
        if k is not None and pool.get(k):
            paired[test_id] = pool[k].pop(0)
    return paired


def _one_class_apart(a: str, b: str) -> bool:
    """``tests.test_x`` and ``tests.test_x.TestA`` (either way round)."""
    short, long = sorted((a, b), key=len)
    if not long.startswith(short + "."):
        return False
    rest = long[len(short) + 1 :]
    return bool(rest) and "." not in rest and rest[:1].isupper()


def _summary(d: TestDelta) -> str:
    parts = [
        f"{len(d.new_failures)} new failures",
        f"{len(d.still_failing)} still failing",
        f"{len(d.fixed)} fixed",
    ]
    if d.removed:
        parts.append(f"{len(d.removed)} passing tests removed")
    if d.newly_skipped:
        parts.append(f"{len(d.newly_skipped)} passing tests now skipped")
    if d.fewer_passing:
        parts.append(d.fewer_passing)
    if d.moved:
        parts.append(f"{len(d.moved)} moved")
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
    elif d.removal_unchecked and not d.removed and not d.newly_skipped:
        parts.append(d.removal_unchecked)
    return ", ".join(parts)
