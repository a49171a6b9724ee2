"""PhaseFinalizer: every gate, and how gates combine into complete / retry / blocked."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from autopack.toolchains.results import TestCase, TestReport
from autopack.verify.baseline import Baseline, TestDelta, compute_delta
from autopack.verify.finalizer import (
    FinalizerInputs,
    GateResult,
    GuardOutcome,
    PhaseFinalizer,
    check_deliverable,
    python_symbols,
)

FINALIZER = PhaseFinalizer()


def report(outcomes: dict[str, str], **fields: object) -> TestReport:
    tests = [TestCase(id=i, outcome=o) for i, o in outcomes.items()]
    return TestReport.model_validate({"source": "junit", "exit_code": 0, "tests": tests, **fields})


def decide(tmp_path: Path, delta: TestDelta | None = None, **fields: object) -> tuple[str, str]:
    inputs = FinalizerInputs.model_validate({"worktree": tmp_path, "delta": delta, **fields})
    decision = FINALIZER.decide(inputs)
    return decision.outcome, decision.reason


def gate(tmp_path: Path, name: str, **fields: object) -> GateResult:
    inputs = FinalizerInputs.model_validate({"worktree": tmp_path, **fields})
    return next(g for g in FINALIZER.decide(inputs).gates if g.name == name)


# --- tests gate ---------------------------------------------------------------------------


def test_all_green_completes_and_every_gate_reports(tmp_path: Path) -> None:
    delta = compute_delta(report({"a": "passed"}), Baseline.from_report(report({"a": "passed"})))
    inputs = FinalizerInputs(worktree=tmp_path, delta=delta, auditor="approve")
    decision = FINALIZER.decide(inputs)
    assert decision.outcome == "complete"
    assert decision.reason == "all gates passed"
    assert [g.name for g in decision.gates] == ["guards", "tests", "deliverables", "auditor"]
    assert all(g.passed and g.reason for g in decision.gates)


def test_new_failure_retries(tmp_path: Path) -> None:
    baseline = Baseline.from_report(report({"a": "passed", "b": "passed"}))
    outcome, reason = decide(tmp_path, baseline.delta(report({"a": "failed", "b": "passed"})))
    assert outcome == "retry"
    assert reason == "tests: 1 new failure(s): a"


def test_pre_existing_failures_only_complete(tmp_path: Path) -> None:
    baseline = Baseline.from_report(report({"a": "failed", "b": "passed", "c": "failed"}))
    delta = baseline.delta(report({"a": "failed", "b": "passed", "c": "passed"}))
    outcome, _ = decide(tmp_path, delta)
    assert outcome == "complete"
    tests = gate(tmp_path, "tests", delta=delta)
    assert (
        tests.reason == "no new failures; 1 failure(s) pre-date the run and do not count; 1 fixed"
    )


def test_collection_error_with_no_baseline_retries(tmp_path: Path) -> None:
    delta = compute_delta(report({}, collection_errors=["tests/test_x.py: could not be loaded"]))
    outcome, reason = decide(tmp_path, delta)
    assert outcome == "retry"
    assert "1 collection error(s)" in reason and "tests/test_x.py" in reason


def test_collection_errors_block_completion_even_when_pre_existing(tmp_path: Path) -> None:
    baseline = Baseline.from_report(report({"a": "passed"}, collection_errors=["m: broken"]))
    delta = baseline.delta(report({"a": "passed"}, collection_errors=["m: broken"]))
    outcome, reason = decide(tmp_path, delta)
    assert outcome == "retry"
    assert "the baseline had collection errors too" in reason


def test_timeout_retries(tmp_path: Path) -> None:
    outcome, reason = decide(tmp_path, compute_delta(report({}, timed_out=True)))
    assert outcome == "retry" and "timed out" in reason


@pytest.mark.parametrize(
    ("baseline_tests", "has_baseline", "expected"),
    [({"a": "passed"}, True, "retry"), ({}, True, "complete"), (None, False, "retry")],
)
def test_no_tests_collected(
    tmp_path: Path, baseline_tests: dict[str, str] | None, has_baseline: bool, expected: str
) -> None:
    baseline = None
    if baseline_tests is not None:
        baseline = Baseline.from_report(
            report(baseline_tests, no_tests_collected=not baseline_tests)
        )
    delta = compute_delta(report({}, no_tests_collected=True), baseline)
    assert decide(tmp_path, delta)[0] == expected


def test_no_test_command_is_not_gated(tmp_path: Path) -> None:
    result = gate(tmp_path, "tests", delta=None)
    assert result.passed and "not gated" in result.reason


# --- deliverables gate ----------------------------------------------------------------


MODULE = """\
import os
VERSION = "1"
limit: int = 3

class Store:
    kind = "memory"

    def save(self):
        local_only = 1

    class Meta:
        pass

async def fetch():
    def helper():
        pass
"""


def test_python_symbols_by_ast() -> None:
    names = python_symbols(MODULE)
    for expected in (
        "VERSION",
        "limit",
        "Store",
        "Store.kind",
        "Store.save",
        "save",
        "Store.Meta",
        "fetch",
        "fetch.helper",
    ):
        assert expected in names, expected
    assert "local_only" not in names and "helper" not in names and "os" not in names


def test_deliverables_files_symbols_and_directories(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "store.py").write_text(MODULE)
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "app.ts").write_text("export function renderPage() {}\n")
    (tmp_path / "broken.py").write_text("def x(:\n")

    ok = ["pkg/store.py", "pkg/store.py::Store.save", "web/app.ts::renderPage", "web/"]
    assert gate(tmp_path, "deliverables", deliverables=ok).passed

    assert check_deliverable(tmp_path, "pkg/missing.py") == "pkg/missing.py is missing"
    assert check_deliverable(tmp_path, "pkg/store.py::Store.load") == (
        "pkg/store.py does not define Store.load"
    )
    # A name inside a string or comment is text, but for .py files only real definitions count.
    (tmp_path / "pkg" / "fake.py").write_text("# def render(): pass\nx = 'render'\n")
    assert check_deliverable(tmp_path, "pkg/fake.py::render") is not None
    assert check_deliverable(tmp_path, "web/app.ts::renderPageX") is not None
    assert "does not parse (line 1" in (check_deliverable(tmp_path, "broken.py::x") or "")
    assert check_deliverable(tmp_path, "../outside.py") == "../outside.py is outside the worktree"
    assert check_deliverable(tmp_path, "docs/") == "directory docs/ is missing"


class CommitFiles:
    """A commit's files, for :class:`~autopack.verify.finalizer.DeliverableFiles`."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def kind(self, rel: str) -> Literal["file", "dir"] | None:
        if rel in self.files:
            return "file"
        return "dir" if any(f.startswith(rel + "/") for f in self.files) else None

    def text(self, rel: str) -> str:
        return self.files[rel]


def test_deliverables_are_looked_for_in_the_commit_when_there_is_one(tmp_path: Path) -> None:
    # In the worktree, written by the tests: no deliverable, as the commit will not hold it.
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "report.md").write_text("generated\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "store.py").write_text(MODULE)
    committed = CommitFiles(
        {"pkg/store.py": "def other():\n    pass\n", "README.md": "", ".github/ci.yml": ""}
    )

    assert check_deliverable(tmp_path, "docs/report.md", committed=committed) == (
        "docs/report.md is not in the phase's commit: it is only in the worktree, where "
        "the Builder's edits did not put it (the tests or a person did)"
    )
    assert "directory docs/ is not in the phase's commit" in (
        check_deliverable(tmp_path, "docs/", committed=committed) or ""
    )
    # The commit's version is the one judged, not the worktree's.
    assert check_deliverable(tmp_path, "pkg/store.py::Store", committed=committed) == (
        "pkg/store.py does not define Store"
    )
    assert check_deliverable(tmp_path, "pkg/", committed=committed) is None
    assert check_deliverable(tmp_path, "./pkg//store.py::other", committed=committed) is None
    assert check_deliverable(tmp_path, ".github/ci.yml", committed=committed) is None
    assert check_deliverable(tmp_path, "gone.py", committed=committed) == "gone.py is missing"
    outcome, reason = decide(tmp_path, deliverables=["docs/report.md"], committed=committed)
    assert outcome == "retry" and "not in the phase's commit" in reason


def test_missing_deliverable_retries_with_each_reason(tmp_path: Path) -> None:
    outcome, reason = decide(tmp_path, deliverables=["a.py", "b.py::f"])
    assert outcome == "retry"
    assert reason == "deliverables: a.py is missing; b.py is missing"


# --- auditor and guard gates ----------------------------------------------------------


@pytest.mark.parametrize(
    ("auditor", "expected"),
    [("approve", "complete"), (None, "complete"), ("revise", "retry"), ("escalate", "blocked")],
)
def test_auditor_verdicts(tmp_path: Path, auditor: str | None, expected: str) -> None:
    assert decide(tmp_path, auditor=auditor)[0] == expected


@pytest.mark.parametrize(
    ("guard", "expected", "fragment"),
    [
        ({"status": "ok"}, "complete", "all gates passed"),
        (
            {"status": "rejected", "reason": "edit outside scope: a.py"},
            "retry",
            "edits were rejected: edit outside scope: a.py",
        ),
        (
            {"status": "requires_approval", "reason": "deletes 400 lines"},
            "blocked",
            "need a person's approval: deletes 400 lines",
        ),
    ],
)
def test_guard_outcomes(
    tmp_path: Path, guard: dict[str, str], expected: str, fragment: str
) -> None:
    outcome, reason = decide(tmp_path, guard=GuardOutcome.model_validate(guard))
    assert outcome == expected and fragment in reason


def test_blocked_wins_over_retry_and_all_failures_are_explained(tmp_path: Path) -> None:
    delta = compute_delta(report({"a": "failed"}))
    outcome, reason = decide(
        tmp_path,
        delta,
        auditor="escalate",
        deliverables=["x.py"],
        guard=GuardOutcome(status="rejected", reason="r"),
    )
    assert outcome == "blocked"
    assert reason.split("; ")[0] == "guards: edits were rejected: r"
    for name in ("tests:", "deliverables:", "auditor:"):
        assert name in reason
