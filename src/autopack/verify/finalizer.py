"""PhaseFinalizer: whether an attempt completes its phase, is retried, or is blocked.

The decision is the combination of independent gates, each a small function that returns
a :class:`GateResult` with its reason, so every decision explains itself:

=============  ==========================================  ===========================
gate           passes when                                 when it fails
=============  ==========================================  ===========================
guards         governed apply accepted the edits            rejected: retry;
                                                            needs approval: blocked
tests          no new failures, nothing uncollectable,      retry
               no timeout (pre-existing failures are fine),
               no baseline-passing test removed or
               skipped (unless ``allow_test_removal``)
deliverables   every declared file exists, every declared  retry
               ``path::symbol`` is defined in it
auditor        the Auditor approved (or did not run)       revise: retry;
                                                            escalate: blocked
=============  ==========================================  ===========================

The outcome is ``blocked`` if any failed gate blocks, else ``retry`` if any gate failed,
else ``complete``. ``blocked`` means another attempt cannot help without a person.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from autopack.verify.baseline import TestDelta

AuditorVerdict = Literal["approve", "revise", "escalate"]
Outcome = Literal["complete", "retry", "blocked"]
MAX_LISTED = 5


class GuardOutcome(BaseModel):
    """What governed apply said about the attempt's edits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["ok", "rejected", "requires_approval"] = "ok"
    reason: str = ""


@runtime_checkable
class DeliverableFiles(Protocol):
    """Where deliverables are looked for: the worktree's files, or a commit's tree."""

    def kind(self, rel: str) -> Literal["file", "dir"] | None:
        """What ``rel`` (``/``-separated, no trailing ``/``) is; ``None``: absent."""
        ...

    def text(self, rel: str) -> str:
        """The file ``rel``'s text (undecodable bytes replaced)."""
        ...


class WorktreeFiles:
    """:class:`DeliverableFiles` of a directory on disk (symlinks followed)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def kind(self, rel: str) -> Literal["file", "dir"] | None:
        target = self.root / rel
        return "dir" if target.is_dir() else "file" if target.is_file() else None

    def text(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8", errors="replace")


class FinalizerInputs(BaseModel):
    """Everything the finalizer judges. ``delta`` is None when the phase has no tests.

    ``allow_test_removal`` comes from the phase's plan: removed or newly skipped tests then
    pass the tests gate (the executor still asks a person to approve them). ``committed``
    is what the phase's commit will hold (its tree): deliverables are looked for there
    when it is given, so a file only the tests (or a person) left in the worktree, which
    the commit does not take, is not a deliverable; else in the worktree.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    worktree: Path
    committed: DeliverableFiles | None = None
    delta: TestDelta | None = None
    allow_test_removal: bool = False
    deliverables: list[str] = Field(default_factory=list)
    auditor: AuditorVerdict | None = None
    guard: GuardOutcome = Field(default_factory=GuardOutcome)


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    passed: bool
    reason: str
    on_failure: Literal["retry", "blocked"] = "retry"


class FinalizerDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    gates: list[GateResult]
    reason: str

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]


Gate = Callable[[FinalizerInputs], GateResult]


def guard_gate(inputs: FinalizerInputs) -> GateResult:
    guard = inputs.guard
    if guard.status == "ok":
        return GateResult(name="guards", passed=True, reason="edits applied within the guards")
    if guard.status == "requires_approval":
        return GateResult(
            name="guards",
            passed=False,
            on_failure="blocked",
            reason=f"edits need a person's approval: {guard.reason or 'no reason'}",
        )
    return GateResult(
        name="guards",
        passed=False,
        reason=f"edits were rejected: {guard.reason or 'no reason given'}",
    )


def tests_gate(inputs: FinalizerInputs) -> GateResult:
    d = inputs.delta

    def fail(reason: str) -> GateResult:
        return GateResult(name="tests", passed=False, reason=reason)

    if d is None:
        return GateResult(
            name="tests", passed=True, reason="no test command for this phase; not gated on tests"
        )
    if d.timed_out:
        return fail("the test suite timed out, so its result is unknown")
    if d.collection_errors:
        before = " (the baseline had collection errors too)" if d.baseline_collection_errors else ""
        return fail(
            f"{len(d.collection_errors)} collection error(s){before}; a suite that "
            f"cannot be collected hides its tests: {_first(d.collection_errors)}"
        )
    if d.no_tests_collected:
        if d.baseline_had_tests:
            return fail("no tests were collected, but the baseline had tests")
        if not d.has_baseline:
            return fail(
                "no tests were collected and there is no baseline showing that the project had none"
            )
    if d.new_failures:
        return fail(f"{len(d.new_failures)} new failure(s): {_first(d.new_failures)}")
    taken_away = _removal_reason(d)
    if taken_away and not inputs.allow_test_removal:
        return fail(
            f"{taken_away}; a test that passed before the run must still run and pass "
            "(restore it, or mark the phase allow_test_removal so a person can approve it)"
        )
    reason = "no new failures"
    if d.no_tests_collected:
        reason = "the project had no tests before the run either"
    if taken_away:
        reason += f"; {taken_away}, allowed by the phase (allow_test_removal)"
    elif d.removal_unchecked:
        reason += f"; {d.removal_unchecked}"
    if d.still_failing:
        reason += f"; {len(d.still_failing)} failure(s) pre-date the run and do not count"
        if d.exit_code_only:
            reason += (
                " (results are by exit code only, so new failures inside an already "
                "failing suite cannot be told apart)"
            )
    if d.fixed:
        reason += f"; {len(d.fixed)} fixed"
    return GateResult(name="tests", passed=True, reason=reason)


def _removal_reason(d: TestDelta) -> str:
    """The removed and newly skipped tests in words, or "" when there are none."""
    parts = []
    if d.removed:
        parts.append(
            f"{len(d.removed)} test(s) that passed in the baseline are missing now "
            f"(deleted, renamed or deselected): {_first(d.removed)}"
        )
    if d.newly_skipped:
        parts.append(
            f"{len(d.newly_skipped)} test(s) that passed in the baseline are skipped or "
            f"xfailed now: {_first(d.newly_skipped)}"
        )
    if d.fewer_passing:
        parts.append(f"{d.fewer_passing} (tests deleted, skipped, deselected or failing)")
    return "; ".join(parts)


def deliverables_gate(inputs: FinalizerInputs) -> GateResult:
    if not inputs.deliverables:
        return GateResult(name="deliverables", passed=True, reason="no deliverables declared")
    problems = [
        p
        for d in inputs.deliverables
        if (p := check_deliverable(inputs.worktree, d, committed=inputs.committed))
    ]
    if problems:
        return GateResult(name="deliverables", passed=False, reason="; ".join(problems))
    return GateResult(
        name="deliverables",
        passed=True,
        reason=f"all {len(inputs.deliverables)} deliverable(s) present",
    )


def auditor_gate(inputs: FinalizerInputs) -> GateResult:
    verdict = inputs.auditor
    if verdict is None:
        return GateResult(name="auditor", passed=True, reason="no Auditor verdict (not run)")
    if verdict == "approve":
        return GateResult(name="auditor", passed=True, reason="the Auditor approved")
    if verdict == "escalate":
        return GateResult(
            name="auditor",
            passed=False,
            on_failure="blocked",
            reason="the Auditor escalated the attempt to a person",
        )
    return GateResult(name="auditor", passed=False, reason="the Auditor asked for revisions")


DEFAULT_GATES: tuple[Gate, ...] = (guard_gate, tests_gate, deliverables_gate, auditor_gate)


class PhaseFinalizer:
    """Decides an attempt's outcome from its gates; every gate runs and reports."""

    def __init__(self, gates: Sequence[Gate] = DEFAULT_GATES) -> None:
        self.gates = tuple(gates)

    def decide(self, inputs: FinalizerInputs) -> FinalizerDecision:
        """Run every gate and combine: blocked > retry > complete."""
        results = [gate(inputs) for gate in self.gates]
        failed = [g for g in results if not g.passed]
        if any(g.on_failure == "blocked" for g in failed):
            outcome: Outcome = "blocked"
        elif failed:
            outcome = "retry"
        else:
            outcome = "complete"
        reason = "; ".join(f"{g.name}: {g.reason}" for g in failed) or "all gates passed"
        return FinalizerDecision(outcome=outcome, gates=results, reason=reason)


def check_deliverable(
    worktree: Path, deliverable: str, *, committed: DeliverableFiles | None = None
) -> str | None:
    """None when ``deliverable`` ("path", "dir/" or "path::symbol") is present in
    ``committed`` (a commit's tree) when given, else in ``worktree``; otherwise what is
    missing, in words."""
    rel, _, symbol = deliverable.strip().partition("::")
    root = worktree.resolve()
    target = (root / rel).resolve()
    if Path(rel).is_absolute() or not target.is_relative_to(root):
        return f"{rel} is outside the worktree"
    files = committed if committed is not None else WorktreeFiles(root)
    # One spelling for a tree lookup: "./docs//api.md" is "docs/api.md".
    name = posixpath.normpath(rel).strip("/")
    name = "" if name == "." else name
    kind = files.kind(name)
    wanted = "dir" if rel.endswith("/") else "file"
    if kind != wanted:
        what = f"directory {rel}" if wanted == "dir" else rel
        if committed is not None and WorktreeFiles(root).kind(name) == wanted:
            return (
                f"{what} is not in the phase's commit: it is only in the worktree, where "
                "the Builder's edits did not put it (the tests or a person did)"
            )
        return f"{what} is missing"
    if not symbol:
        return None
    text = files.text(name)
    if rel.endswith(".py"):
        try:
            names = python_symbols(text)
        except SyntaxError as exc:
            return f"{rel} does not parse (line {exc.lineno}: {exc.msg}), so {symbol} is unknown"
        return None if symbol in names else f"{rel} does not define {symbol}"
    # Other languages: the name as a whole word; for a dotted name, its last part.
    last = symbol.rsplit(".", 1)[-1]
    if re.search(rf"(?<![\w$]){re.escape(last)}(?![\w$])", text):
        return None
    return f"{rel} does not mention {symbol}"


def python_symbols(source: str) -> set[str]:
    """Names a Python module defines, bare (``save``) and qualified (``Model.save``):
    functions and classes at any depth, assignments at module and class level (a local
    variable inside a function is not something a plan can ask for)."""
    names: set[str] = set()
    scoped = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

    def visit(node: ast.AST, prefix: str, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            defined: list[str] = []
            if isinstance(child, scoped):
                defined = [child.name]
            elif in_function:
                pass
            elif isinstance(child, ast.Assign):
                defined = [
                    n.id for t in child.targets for n in ast.walk(t) if isinstance(n, ast.Name)
                ]
            elif isinstance(child, ast.AnnAssign | ast.AugAssign) and isinstance(
                child.target, ast.Name
            ):
                defined = [child.target.id]
            for name in defined:
                names.add(f"{prefix}{name}")
                if not in_function:
                    names.add(name)
            if isinstance(child, scoped):
                inner = in_function or not isinstance(child, ast.ClassDef)
                visit(child, f"{prefix}{child.name}.", inner)
            else:
                visit(child, prefix, in_function)

    visit(ast.parse(source), "", False)
    return names


def _first(items: Sequence[str]) -> str:
    shown = [i.splitlines()[0] if i else i for i in items[:MAX_LISTED]]
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return ", ".join(shown) + more
