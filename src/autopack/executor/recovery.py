"""What the executor does about a failure: one table, one classifier, one decision.

:func:`classify` turns an exception (or a finalizer outcome) into a :class:`FailureKind`;
:data:`RECOVERY_TABLE` (one row per kind, read it as the documentation) says what each kind
means for the loop; :func:`decide` applies the row to the phase's budgets and failure
history. Nothing here performs I/O.

Rules :func:`decide` adds to the table, in order:

1. ``retry_same`` and the terminal actions (fail, park) are final: a transient provider
   error retries the call without using a Builder attempt (the run's health budget bounds
   it); a deterministic one never loops.
2. No Builder attempt left -> ``fail_phase``.
3. A flawed approach (:meth:`FailureHistory.is_flawed_approach`) -> ``replan`` while
   replans remain, else ``escalate_model`` while a higher model remains, else ``fail_phase``.
4. ``escalate_model`` with no higher level -> ``fail_phase``.
5. The Doctor is consulted for ``harden_then_doctor`` kinds at once, and for other kinds
   whose row allows it when the same kind has failed before in the phase (the first time,
   the failure itself is the hint). With its budget (per phase and per run) spent, the
   row's ``without_doctor`` action applies.
"""

from __future__ import annotations

import difflib
import itertools
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from autopack.domain.states import RunState
from autopack.errors import (
    ApplyRejected,
    AuthenticationFailed,
    BudgetExhausted,
    ContextWindowExceeded,
    InvalidRequest,
    OutputParseError,
    ProviderError,
    RateLimited,
    ToolchainError,
    TransientProviderError,
)
from autopack.llm.scripted import ScriptExhausted

HealthCounter = Literal["provider_errors", "apply_failures", "none"]
#: The run state the executor ends in when the run's health budget is spent.
HEALTH_EXHAUSTED_STATE = RunState.DONE_FAILED_BUDGET_EXHAUSTED


class FailureKind(StrEnum):
    provider_transient = "provider_transient"
    provider_rate_limited = "provider_rate_limited"
    provider_auth = "provider_auth"
    provider_invalid_request = "provider_invalid_request"
    context_window_exceeded = "context_window_exceeded"
    output_unparseable = "output_unparseable"
    output_truncated = "output_truncated"
    apply_rejected = "apply_rejected"  # scope, protected path or size/deletion guard
    apply_no_match = "apply_no_match"  # an edit's anchor was not found or is ambiguous
    tests_failed = "tests_failed"
    collection_error = "collection_error"
    deliverables_missing = "deliverables_missing"
    auditor_revise = "auditor_revise"
    auditor_escalate = "auditor_escalate"
    timeout = "timeout"
    environment = "environment"  # toolchain missing or not runnable
    budget_exhausted = "budget_exhausted"
    requires_approval = "requires_approval"
    rejected_by_person = "rejected_by_person"  # a person refused the attempt's change
    internal = "internal"


class Action(StrEnum):
    retry_same = "retry_same"  # retry the call; no Builder attempt used
    retry_with_hint = "retry_with_hint"  # a new Builder attempt, told what went wrong
    harden_then_doctor = "harden_then_doctor"  # deterministic hardening, then the Doctor
    escalate_model = "escalate_model"
    replan = "replan"
    skip_phase = "skip_phase"
    fail_phase = "fail_phase"
    fail_run = "fail_run"
    park_for_approval = "park_for_approval"
    rollback = "rollback"


@dataclass(frozen=True, slots=True)
class RecoveryPolicy:
    """One row of the recovery table."""

    action: Action
    consumes_attempt: bool
    hardening: bool = False  # run deterministic hardening before acting
    doctor: bool = False  # the Doctor may be consulted
    fatal_run_state: RunState | None = None  # the run ends here when the action is fail_run
    health_counter: HealthCounter = "none"  # the RunHealth counter a failure increments
    without_doctor: Action = Action.retry_with_hint  # when the Doctor's budget is spent


_A, _K, _P = Action, FailureKind, RecoveryPolicy
_ENV = RunState.DONE_FAILED_ENVIRONMENT
_PE: HealthCounter = "provider_errors"
_AF: HealthCounter = "apply_failures"
# fmt: off
RECOVERY_TABLE: dict[FailureKind, RecoveryPolicy] = {
    #                            action                 attempt harden doctor fatal counter
    _K.provider_transient:       _P(_A.retry_same,         False, False, False, None, _PE),
    _K.provider_rate_limited:    _P(_A.retry_same,         False, False, False, None, _PE),
    _K.provider_auth:            _P(_A.fail_run,           False, False, False, _ENV, _PE),
    _K.provider_invalid_request: _P(_A.escalate_model,     True,  False, False, None, _PE),
    _K.context_window_exceeded:  _P(_A.escalate_model,     True,  False, False, None, _PE),
    _K.output_unparseable:       _P(_A.retry_with_hint,    True,  False, False, None, _AF),
    _K.output_truncated:         _P(_A.retry_with_hint,    True,  False, False, None),
    _K.apply_rejected:           _P(_A.retry_with_hint,    True,  True,  True,  None, _AF),
    _K.apply_no_match:           _P(_A.retry_with_hint,    True,  False, True,  None, _AF),
    _K.tests_failed:             _P(_A.harden_then_doctor, True,  True,  True,  None),
    _K.collection_error:         _P(_A.harden_then_doctor, True,  True,  True,  None),
    _K.timeout:                  _P(_A.harden_then_doctor, True,  True,  True,  None),
    _K.deliverables_missing:     _P(_A.retry_with_hint,    True,  False, True,  None),
    _K.auditor_revise:           _P(_A.retry_with_hint,    True,  False, False, None),
    _K.auditor_escalate:         _P(_A.park_for_approval,  False, False, False, None),
    _K.requires_approval:        _P(_A.park_for_approval,  False, False, False, None),
    _K.rejected_by_person:       _P(_A.retry_with_hint,    True,  False, False, None),
    _K.environment:              _P(_A.fail_run,           False, False, False, _ENV),
    # No fatal state of its own: the loop maps BudgetExhausted.budget to a DONE_FAILED_* state.
    _K.budget_exhausted:         _P(_A.fail_run,           False, False, False, None),
    _K.internal:                 _P(_A.fail_phase,         False, False, False, None),
}
# fmt: on

#: The Doctor's verdicts (agents/doctor.py) and the action each becomes.
DOCTOR_ACTIONS: dict[str, Action] = {
    "retry_with_fix": Action.retry_with_hint,
    "replan": Action.replan,
    "skip_phase": Action.skip_phase,
    "mark_fatal": Action.fail_phase,
    "rollback_run": Action.rollback,
}
_FINAL = frozenset({Action.retry_same, Action.skip_phase, Action.fail_phase, Action.fail_run,
                    Action.park_for_approval, Action.rollback})  # fmt: skip


# -- classification ----------------------------------------------------------------------
class GateLike(Protocol):
    """A finalizer gate (verify/finalizer.py GateResult), read by duck type."""

    @property
    def name(self) -> str: ...
    @property
    def passed(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def on_failure(self) -> str: ...


class OutcomeLike(Protocol):
    """A finalizer decision (verify/finalizer.py FinalizerDecision)."""

    @property
    def gates(self) -> Sequence[GateLike]: ...


#: Apply failure codes (workspace/matching.py, operations.py) that mean "the edit's
#: anchor is not where the model thought", as opposed to a guard refusing the edit.
NO_MATCH_CODES = frozenset({"not_found", "ambiguous", "empty", "missing_file", "out_of_range",
                            "content_mismatch", "no_context", "file_exists"})  # fmt: skip


def _apply_kind(exc: BaseException) -> FailureKind:
    assert isinstance(exc, ApplyRejected)
    codes = {str(f.get("code")) for f in exc.failures}
    if exc.context.get("requires_approval") or "approval_required" in codes:
        return FailureKind.requires_approval
    if codes and codes <= NO_MATCH_CODES:
        return FailureKind.apply_no_match
    return FailureKind.apply_rejected


def _parse_kind(exc: BaseException) -> FailureKind:
    assert isinstance(exc, OutputParseError)
    truncated = exc.context.get("truncated")
    return FailureKind.output_truncated if truncated else FailureKind.output_unparseable


def _provider_kind(exc: BaseException) -> FailureKind:
    assert isinstance(exc, ProviderError)
    return FailureKind.provider_transient if exc.retryable else FailureKind.provider_invalid_request


# Most specific class first; a callable refines the kind from the exception's context.
_EXCEPTION_KINDS: tuple[
    tuple[type[BaseException], FailureKind | Callable[[BaseException], FailureKind]], ...
] = (
    (RateLimited, FailureKind.provider_rate_limited),
    (TransientProviderError, FailureKind.provider_transient),
    (AuthenticationFailed, FailureKind.provider_auth),
    (ContextWindowExceeded, FailureKind.context_window_exceeded),
    (InvalidRequest, FailureKind.provider_invalid_request),
    (ScriptExhausted, FailureKind.environment),  # a scripted run's script is too short
    (ProviderError, _provider_kind),
    (OutputParseError, _parse_kind),
    (ApplyRejected, _apply_kind),
    (ToolchainError, FailureKind.environment),
    (BudgetExhausted, FailureKind.budget_exhausted),
    (TimeoutError, FailureKind.timeout),
    (subprocess.TimeoutExpired, FailureKind.timeout),
)
# When several gates fail, the one that says most about what to do next names the kind.
_GATE_PRECEDENCE = (
    FailureKind.requires_approval,
    FailureKind.auditor_escalate,
    FailureKind.apply_rejected,
    FailureKind.collection_error,
    FailureKind.timeout,
    FailureKind.tests_failed,
    FailureKind.deliverables_missing,
    FailureKind.auditor_revise,
    FailureKind.internal,
)


def _gate_kind(gate: GateLike) -> FailureKind:
    blocked = gate.on_failure == "blocked"
    if gate.name == "guards":
        return FailureKind.requires_approval if blocked else FailureKind.apply_rejected
    if gate.name == "auditor":
        return FailureKind.auditor_escalate if blocked else FailureKind.auditor_revise
    if gate.name == "deliverables":
        return FailureKind.deliverables_missing
    if gate.name == "tests":
        if "timed out" in gate.reason:
            return FailureKind.timeout
        if "collection error" in gate.reason or "no tests were collected" in gate.reason:
            return FailureKind.collection_error
        return FailureKind.tests_failed
    return FailureKind.internal


def classify(failure: BaseException | OutcomeLike | str) -> FailureKind:
    """The kind of ``failure``: an exception, a finalizer decision with failed gates, or a
    kind's name. Exceptions this table does not know are ``internal``.

    An :class:`ApplyRejected` whose failures all carry an anchor code (``not_found``,
    ``ambiguous``, ...) is ``apply_no_match``; one with ``requires_approval`` in its
    context, or an ``approval_required`` code, is ``requires_approval``. An
    :class:`OutputParseError` with ``truncated=True`` in its context is ``output_truncated``.
    """
    if isinstance(failure, str):
        return FailureKind(failure)
    if isinstance(failure, BaseException):
        for exc_type, kind in _EXCEPTION_KINDS:
            if isinstance(failure, exc_type):
                return kind if isinstance(kind, FailureKind) else kind(failure)
        return FailureKind.internal
    failed = [_gate_kind(g) for g in failure.gates if not g.passed]
    if not failed:
        raise ValueError("the outcome has no failed gate, so it is not a failure")
    return min(failed, key=_GATE_PRECEDENCE.index)


# -- similar failures --------------------------------------------------------------------
_NORMALIZERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(\.\d+)?\b"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<id>"),
    (re.compile(r"\b0x[0-9a-f]+\b"), "<addr>"),
    (re.compile(r"(?:[a-z]:)?(?:[\w.~-]+)?(?:[\\/][\w.~-]+)+[\\/]?"), "<path>"),
    (re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,64}\b"), "<hex>"),
    (re.compile(r"\b(line|lineno|col|column)\s*[:=]?\s*\d+"), r"\1 <n>"),
    (re.compile(r"(:\d+)+\b"), ""),  # file.py:12:5 -> file.py
    (re.compile(r"\d+(\.\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
)
MAX_COMPARED_CHARS = 4000


def normalize_message(text: str) -> str:
    """``text`` without what varies between two occurrences of the same failure: paths,
    line and column numbers, UUIDs and hex ids, memory addresses, timestamps, numbers;
    whitespace collapsed, lowercase."""
    out = text.lower()
    for pattern, replacement in _NORMALIZERS:
        out = pattern.sub(replacement, out)
    return out.strip()


def similarity(a: str, b: str, *, min_length: int = 30) -> float:
    """How alike two failure messages are (0..1), compared after :func:`normalize_message`.

    Messages shorter than ``min_length`` characters once normalized say too little to
    compare and are never similar (0.0). Long messages are compared on their first and
    last 2000 characters.
    """
    na, nb = normalize_message(a), normalize_message(b)
    if len(na) < min_length or len(nb) < min_length:
        return 0.0
    half = MAX_COMPARED_CHARS // 2
    na, nb = (s if len(s) <= MAX_COMPARED_CHARS else s[:half] + s[-half:] for s in (na, nb))
    return difflib.SequenceMatcher(None, na, nb).ratio()


class FailureHistory(BaseModel):
    """A phase's failures in order, the latest last, as (kind, message)."""

    model_config = ConfigDict(extra="forbid")

    failures: list[tuple[FailureKind, str]] = Field(default_factory=list)

    def add(self, kind: FailureKind, message: str) -> None:
        """Record the latest failure (before calling :func:`decide` about it)."""
        self.failures.append((kind, message))

    def count(self, kind: FailureKind) -> int:
        """How many failures of ``kind`` the phase has had."""
        return sum(1 for k, _ in self.failures if k == kind)

    def is_flawed_approach(
        self, threshold: float = 0.8, trigger: int = 2, min_length: int = 30
    ) -> bool:
        """Whether the Builder keeps failing the same way, so another try is pointless.

        True when the last ``trigger`` failures of the Builder's approach (kinds that use
        a Builder attempt; provider hiccups in between are ignored) are all of one kind
        and each is at least ``threshold`` similar to the one before it. With the default
        ``trigger=2`` that is: the latest failure is similar to the previous one. With
        ``trigger=3``, two similar pairs in a row (three failures) are needed.
        """
        if trigger < 2:
            raise ValueError("trigger must be at least 2: one failure is not a pattern")
        approach = [f for f in self.failures if RECOVERY_TABLE[f[0]].consumes_attempt]
        recent = approach[-trigger:]
        if len(recent) < trigger or len({k for k, _ in recent}) != 1:
            return False
        return all(
            similarity(a, b, min_length=min_length) >= threshold
            for (_, a), (_, b) in itertools.pairwise(recent)
        )


# -- decisions ---------------------------------------------------------------------------
class PhaseRecoveryBudget(BaseModel):
    """What a phase has used so far, counted BEFORE the failure being decided."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    builder_attempts_used: int = Field(default=0, ge=0)
    max_builder_attempts: int = Field(default=5, ge=1)
    doctor_calls_phase: int = Field(default=0, ge=0)
    doctor_calls_run: int = Field(default=0, ge=0)
    max_doctor_phase: int = Field(default=2, ge=0)
    max_doctor_run: int = Field(default=10, ge=0)
    replans_used: int = Field(default=0, ge=0)
    max_replans: int = Field(default=1, ge=0)
    escalation_level: int = Field(default=0, ge=0)
    max_escalation_level: int = Field(default=0, ge=0)

    @property
    def doctor_available(self) -> bool:
        """Whether both the phase's and the run's Doctor budgets allow another call."""
        return (
            self.doctor_calls_phase < self.max_doctor_phase
            and self.doctor_calls_run < self.max_doctor_run
        )


class RecoveryDecision(BaseModel):
    """What to do next. ``run_state`` is set when the run must end in that state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FailureKind
    action: Action
    reason: str
    consume_attempt: bool
    call_doctor: bool = False
    hardening: bool = False
    run_state: str | None = None
    health_counter: HealthCounter = "none"


def decide(
    kind: FailureKind,
    *,
    history: FailureHistory,
    phase_budget: PhaseRecoveryBudget,
    doctor_action: str | None = None,
) -> RecoveryDecision:
    """The next step after a failure of ``kind``; see the module docstring for the rules.

    ``history`` includes the failure being decided; ``phase_budget`` counts what was used
    before it. A decision with ``call_doctor`` is provisional: run deterministic hardening
    (if it finds a known pattern, retry with its mitigation as the hint and skip the
    Doctor), else consult the Doctor and call ``decide`` again with its ``doctor_action``.
    Act on the final decision only, so the attempt is counted once.
    """
    policy, b = RECOVERY_TABLE[kind], phase_budget
    if doctor_action is not None:
        # Hardening ran before the Doctor was asked; it does not run again.
        return _after_doctor(kind, doctor_action, b).model_copy(update={"hardening": False})
    if policy.action in _FINAL:
        return _made(kind, policy.action, f"{kind}: {policy.action} by the recovery table")
    if b.builder_attempts_used + int(policy.consumes_attempt) >= b.max_builder_attempts:
        return _made(kind, Action.fail_phase, f"{kind}: {_NO_ATTEMPTS.format(b=b)}")
    if history.is_flawed_approach():
        return _change_approach(kind, b, f"{kind} again, with a similar message: a flawed approach")
    if policy.action is Action.escalate_model:
        return _escalate(kind, b, f"{kind}: a different model may succeed")
    # The first time, the failure itself is the hint; a repeat earns the Doctor's opinion.
    if policy.doctor and (policy.action is Action.harden_then_doctor or history.count(kind) > 1):
        if b.doctor_available:
            reason = f"{kind}: harden, then ask the Doctor"
            return _made(kind, Action.harden_then_doctor, reason, call_doctor=True)
        spent = (
            f"{b.doctor_calls_phase}/{b.max_doctor_phase} this phase, "
            f"{b.doctor_calls_run}/{b.max_doctor_run} this run"
        )
        return _made(kind, policy.without_doctor, f"{kind}: the Doctor's budget is spent ({spent})")
    return _made(kind, policy.action, f"{kind}: retry with the failure as the hint")


_NO_ATTEMPTS = "all {b.max_builder_attempts} Builder attempts are used"


def _made(
    kind: FailureKind, action: Action, reason: str, *, call_doctor: bool = False
) -> RecoveryDecision:
    policy = RECOVERY_TABLE[kind]
    return RecoveryDecision(
        kind=kind,
        action=action,
        reason=reason,
        consume_attempt=policy.consumes_attempt,
        call_doctor=call_doctor,
        hardening=policy.hardening and action in _HARDENED_ACTIONS,
        run_state=policy.fatal_run_state if action is Action.fail_run else None,
        health_counter=policy.health_counter,
    )


_HARDENED_ACTIONS = frozenset({Action.harden_then_doctor, Action.retry_with_hint})


def _escalate(kind: FailureKind, b: PhaseRecoveryBudget, reason: str) -> RecoveryDecision:
    if b.escalation_level < b.max_escalation_level:
        to = f"level {b.escalation_level + 1} of {b.max_escalation_level}"
        return _made(kind, Action.escalate_model, f"{reason}; escalating to {to}")
    return _made(kind, Action.fail_phase, f"{reason}; no stronger model is left")


def _change_approach(kind: FailureKind, b: PhaseRecoveryBudget, reason: str) -> RecoveryDecision:
    if b.replans_used < b.max_replans:
        count = f"{b.replans_used + 1} of {b.max_replans}"
        return _made(kind, Action.replan, f"{reason}; replanning ({count})")
    return _escalate(kind, b, f"{reason}; no replan left")


def _after_doctor(
    kind: FailureKind, doctor_action: str, b: PhaseRecoveryBudget
) -> RecoveryDecision:
    action = DOCTOR_ACTIONS.get(doctor_action)
    if action is None:
        expected = ", ".join(DOCTOR_ACTIONS)
        raise ValueError(f"unknown Doctor action {doctor_action!r}; expected one of {expected}")
    reason = f"{kind}: the Doctor chose {doctor_action}"
    if action is Action.replan:  # at most max_replans per phase, then escalate or fail
        return _change_approach(kind, b, reason)
    used = b.builder_attempts_used + int(RECOVERY_TABLE[kind].consumes_attempt)
    if action is Action.retry_with_hint and used >= b.max_builder_attempts:
        action, reason = Action.fail_phase, f"{reason}, but {_NO_ATTEMPTS.format(b=b)}"
    return _made(kind, action, reason)


# -- run health --------------------------------------------------------------------------
class RunHealth(BaseModel):
    """Failures across a run; a run that keeps failing is stopped (the original's
    MAX_HTTP_500_PER_RUN, MAX_PATCH_FAILURES_PER_RUN, MAX_TOTAL_FAILURES_PER_RUN).
    When :meth:`exhausted` names a reason the run ends in :data:`HEALTH_EXHAUSTED_STATE`."""

    model_config = ConfigDict(extra="forbid")

    provider_errors: int = Field(default=0, ge=0)
    apply_failures: int = Field(default=0, ge=0)
    total_failures: int = Field(default=0, ge=0)
    max_provider_errors: int = Field(default=10, ge=1)
    max_apply_failures: int = Field(default=15, ge=1)
    max_total_failures: int = Field(default=25, ge=1)

    def record(self, kind: FailureKind) -> None:
        """Count one failure of ``kind``: in the total and in its row's counter."""
        self.total_failures += 1
        counter = RECOVERY_TABLE[kind].health_counter
        if counter != "none":
            setattr(self, counter, getattr(self, counter) + 1)

    def exhausted(self) -> str | None:
        """Why the run must stop, or None while it is healthy."""
        for name, what in (
            ("provider_errors", "provider errors"),
            ("apply_failures", "apply failures"),
            ("total_failures", "failures in total"),
        ):
            count, limit = getattr(self, name), getattr(self, f"max_{name}")
            if count >= limit:
                return f"{count} {what} in this run (limit {limit}); the run is going nowhere"
        return None
