"""Verification: run a project's tests, compare with the run's baseline, decide the phase.

- :func:`run_tests` (``suite.py``): run the test command(s), get one ``TestReport``.
- :class:`Baseline` / :func:`compute_delta` (``baseline.py``): what changed since the run
  started.
- :class:`PhaseFinalizer` (``finalizer.py``): complete, retry or blocked, gate by gate.
- :func:`harden` (``hardening.py``): known failure patterns, before any Doctor call.
"""

from autopack.verify.baseline import Baseline, TestDelta, compute_delta
from autopack.verify.finalizer import (
    FinalizerDecision,
    FinalizerInputs,
    GateResult,
    GuardOutcome,
    PhaseFinalizer,
)
from autopack.verify.hardening import FailureContext, Mitigation, harden, match_failure
from autopack.verify.suite import build_report, run_tests

__all__ = [
    "Baseline",
    "FailureContext",
    "FinalizerDecision",
    "FinalizerInputs",
    "GateResult",
    "GuardOutcome",
    "Mitigation",
    "PhaseFinalizer",
    "TestDelta",
    "build_report",
    "compute_delta",
    "harden",
    "match_failure",
    "run_tests",
]
