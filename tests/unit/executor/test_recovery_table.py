"""The recovery table, classification, similar failures, decisions and run health."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autopack.domain.states import RunState
from autopack.errors import (
    ApplyRejected,
    AuthenticationFailed,
    BudgetExhausted,
    ContextWindowExceeded,
    InvalidRequest,
    NotFoundError,
    OutputParseError,
    Overloaded,
    ProviderError,
    RateLimited,
    ToolchainError,
    TransientProviderError,
    WorkspaceError,
)
from autopack.executor.recovery import (
    DOCTOR_ACTIONS,
    RECOVERY_TABLE,
    Action,
    FailureHistory,
    FailureKind,
    PhaseRecoveryBudget,
    RunHealth,
    classify,
    decide,
    normalize_message,
    similarity,
)

K = FailureKind

TEST_FAILURE_1 = (
    "FAILED tests/test_parser.py::test_parse_empty - AssertionError: expected 0 tokens, "
    "got 3 at /tmp/wt-1a2b3c/src/parser.py:41:7 (0x7f3a2c1b9e80)"
)
TEST_FAILURE_2 = (
    "FAILED tests/test_parser.py::test_parse_empty - AssertionError: expected 0 tokens, "
    "got 5 at /home/ci/run-9/src/parser.py:57:12 (0x55d0c0ffee00)"
)
OTHER_FAILURE = (
    "ModuleNotFoundError: No module named 'yaml' while importing the configuration loader"
)


# -- the table ---------------------------------------------------------------------------
def test_every_failure_kind_has_a_policy() -> None:
    assert set(RECOVERY_TABLE) == set(FailureKind)


def test_transient_errors_retry_without_using_an_attempt() -> None:
    for kind in (K.provider_transient, K.provider_rate_limited):
        policy = RECOVERY_TABLE[kind]
        assert policy.action is Action.retry_same and not policy.consumes_attempt
        assert policy.health_counter == "provider_errors"


def test_deterministic_failures_never_retry_the_same_call() -> None:
    retrying = {k for k, p in RECOVERY_TABLE.items() if p.action is Action.retry_same}
    assert retrying == {K.provider_transient, K.provider_rate_limited}


def test_fatal_run_states() -> None:
    fatal = {k: p.fatal_run_state for k, p in RECOVERY_TABLE.items() if p.action is Action.fail_run}
    assert fatal == {
        K.provider_auth: RunState.DONE_FAILED_ENVIRONMENT,
        K.environment: RunState.DONE_FAILED_ENVIRONMENT,
        K.budget_exhausted: None,
    }


def test_hardening_comes_before_the_doctor_for_test_failures() -> None:
    for kind in (K.tests_failed, K.collection_error, K.timeout):
        policy = RECOVERY_TABLE[kind]
        assert policy.action is Action.harden_then_doctor and policy.hardening and policy.doctor


# -- classification ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RateLimited("429", retry_after=3), K.provider_rate_limited),
        (Overloaded("529"), K.provider_transient),
        (TransientProviderError("502 bad gateway"), K.provider_transient),
        (AuthenticationFailed("bad key"), K.provider_auth),
        (InvalidRequest("bad param"), K.provider_invalid_request),
        (ContextWindowExceeded("prompt too long"), K.context_window_exceeded),
        (ProviderError("odd"), K.provider_invalid_request),
        (OutputParseError("no JSON"), K.output_unparseable),
        (OutputParseError("cut off", truncated=True), K.output_truncated),
        (
            ApplyRejected("outside scope", failures=[{"path": "x", "code": "scope"}]),
            K.apply_rejected,
        ),
        (ApplyRejected("guard"), K.apply_rejected),
        (
            ApplyRejected("anchor", failures=[{"code": "not_found"}, {"code": "ambiguous"}]),
            K.apply_no_match,
        ),
        (
            ApplyRejected("mixed", failures=[{"code": "not_found"}, {"code": "protected"}]),
            K.apply_rejected,
        ),
        (ApplyRejected("big delete", requires_approval=True), K.requires_approval),
        (ToolchainError("pytest not found"), K.environment),
        (BudgetExhausted("tokens", budget="token_cap"), K.budget_exhausted),
        (TimeoutError("slow"), K.timeout),
        (subprocess.TimeoutExpired(["pytest"], 10), K.timeout),
        (WorkspaceError("git failed"), K.internal),
        (NotFoundError("no run"), K.internal),
        (KeyError("bug"), K.internal),
    ],
)
def test_classify_exceptions(error: BaseException, kind: FailureKind) -> None:
    assert classify(error) is kind


def test_classify_accepts_kind_names() -> None:
    assert classify("tests_failed") is K.tests_failed
    with pytest.raises(ValueError):
        classify("no_such_kind")


@dataclass
class Gate:
    name: str
    passed: bool = False
    reason: str = ""
    on_failure: str = "retry"


@dataclass
class Outcome:
    gates: list[Gate] = field(default_factory=list)


@pytest.mark.parametrize(
    ("gates", "kind"),
    [
        ([Gate("tests", reason="2 new failure(s): t1")], K.tests_failed),
        ([Gate("tests", reason="1 collection error(s); ...")], K.collection_error),
        ([Gate("tests", reason="the test suite timed out")], K.timeout),
        ([Gate("deliverables", reason="missing x.py")], K.deliverables_missing),
        ([Gate("auditor")], K.auditor_revise),
        ([Gate("auditor", on_failure="blocked")], K.auditor_escalate),
        ([Gate("guards")], K.apply_rejected),
        ([Gate("guards", on_failure="blocked")], K.requires_approval),
        # Several failed gates: the one that decides most names the kind.
        ([Gate("auditor"), Gate("deliverables"), Gate("tests", reason="1 new")], K.tests_failed),
        (
            [Gate("tests", reason="1 new"), Gate("guards", on_failure="blocked")],
            K.requires_approval,
        ),
        ([Gate("tests", passed=True), Gate("auditor")], K.auditor_revise),
    ],
)
def test_classify_finalizer_outcomes(gates: list[Gate], kind: FailureKind) -> None:
    assert classify(Outcome(gates)) is kind


def test_classify_outcome_without_failure_is_an_error() -> None:
    with pytest.raises(ValueError):
        classify(Outcome([Gate("tests", passed=True)]))


def test_classify_real_finalizer_wording(tmp_path: Path) -> None:
    finalizer = pytest.importorskip("autopack.verify.finalizer")
    baseline = pytest.importorskip("autopack.verify.baseline")

    def outcome(**delta: object) -> FailureKind:
        inputs = finalizer.FinalizerInputs(
            worktree=tmp_path, delta=baseline.TestDelta(has_baseline=True, **delta)
        )
        return classify(finalizer.PhaseFinalizer().decide(inputs))

    assert outcome(new_failures=["t::a"]) is K.tests_failed
    assert outcome(collection_errors=["tests/test_x.py"]) is K.collection_error
    assert outcome(timed_out=True) is K.timeout


# -- similar messages --------------------------------------------------------------------
def test_normalize_strips_what_varies() -> None:
    text = (
        "Error at 2024-05-01T12:30:45.123Z in /tmp/run-42/src/app.py:120:4, line 120, "
        "id 123e4567-e89b-12d3-a456-426614174000 commit 9fceb02d0ae598e95dc970b74767f19372d61af8 "
        "object at 0x7f3a2c1b9e80 took 1.5s   after   3 tries"
    )
    assert normalize_message(text) == (
        "error at <time> in <path>, line <n>, id <id> commit <hex> object at <addr> "
        "took <n>s after <n> tries"
    )


def test_windows_paths_and_line_numbers_are_stripped() -> None:
    assert normalize_message(r'File "C:\work\wt\src\app.py", line 7') == 'file "<path>", line <n>'


def test_messages_differing_only_in_paths_and_numbers_are_similar() -> None:
    assert similarity(TEST_FAILURE_1, TEST_FAILURE_2) >= 0.95
    assert similarity(TEST_FAILURE_1, OTHER_FAILURE) < 0.8


def test_short_messages_are_never_similar() -> None:
    assert similarity("error 1", "error 2") == 0.0
    assert similarity("tests failed", "tests failed") == 0.0
    assert similarity(TEST_FAILURE_1, TEST_FAILURE_1, min_length=10_000) == 0.0


def history(*items: tuple[FailureKind, str]) -> FailureHistory:
    h = FailureHistory()
    for kind, message in items:
        h.add(kind, message)
    return h


def test_two_similar_failures_in_a_row_are_a_flawed_approach() -> None:
    assert not history((K.tests_failed, TEST_FAILURE_1)).is_flawed_approach()
    assert history(
        (K.tests_failed, TEST_FAILURE_1), (K.tests_failed, TEST_FAILURE_2)
    ).is_flawed_approach()


def test_different_kind_or_message_is_not_a_flawed_approach() -> None:
    assert not history(
        (K.apply_no_match, TEST_FAILURE_1), (K.tests_failed, TEST_FAILURE_2)
    ).is_flawed_approach()
    assert not history(
        (K.tests_failed, TEST_FAILURE_1), (K.tests_failed, OTHER_FAILURE)
    ).is_flawed_approach()
    # Only the latest failures count: an old similar pair does not.
    assert not history(
        (K.tests_failed, TEST_FAILURE_1),
        (K.tests_failed, TEST_FAILURE_2),
        (K.tests_failed, OTHER_FAILURE),
    ).is_flawed_approach()


def test_provider_hiccups_between_attempts_do_not_hide_a_flawed_approach() -> None:
    h = history(
        (K.tests_failed, TEST_FAILURE_1),
        (K.provider_transient, "502 Bad Gateway from the provider, please retry later"),
        (K.tests_failed, TEST_FAILURE_2),
    )
    assert h.is_flawed_approach()


def test_trigger_three_needs_two_similar_pairs() -> None:
    two = history((K.tests_failed, TEST_FAILURE_1), (K.tests_failed, TEST_FAILURE_2))
    assert not two.is_flawed_approach(trigger=3)
    two.add(K.tests_failed, TEST_FAILURE_1)
    assert two.is_flawed_approach(trigger=3)
    assert not two.is_flawed_approach(threshold=1.01)
    with pytest.raises(ValueError):
        two.is_flawed_approach(trigger=1)


# -- decisions ---------------------------------------------------------------------------
BUDGET = PhaseRecoveryBudget(max_escalation_level=2)


def test_transient_error_retries_the_call() -> None:
    d = decide(K.provider_rate_limited, history=history(), phase_budget=BUDGET)
    assert (d.action, d.consume_attempt, d.call_doctor, d.run_state) == (
        Action.retry_same,
        False,
        False,
        None,
    )
    assert d.health_counter == "provider_errors"


def test_fatal_kinds_end_the_run_in_their_state() -> None:
    auth = decide(K.provider_auth, history=history(), phase_budget=BUDGET)
    assert auth.action is Action.fail_run and auth.run_state == "DONE_FAILED_ENVIRONMENT"
    env = decide(K.environment, history=history(), phase_budget=BUDGET)
    assert env.run_state == RunState.DONE_FAILED_ENVIRONMENT
    budget = decide(K.budget_exhausted, history=history(), phase_budget=BUDGET)
    assert budget.action is Action.fail_run and budget.run_state is None


def test_approval_parks_the_phase() -> None:
    for kind in (K.requires_approval, K.auditor_escalate):
        d = decide(kind, history=history(), phase_budget=BUDGET)
        assert d.action is Action.park_for_approval and not d.consume_attempt


def test_test_failure_hardens_then_asks_the_doctor() -> None:
    d = decide(
        K.tests_failed, history=history((K.tests_failed, TEST_FAILURE_1)), phase_budget=BUDGET
    )
    assert d.action is Action.harden_then_doctor
    assert d.call_doctor and d.hardening and d.consume_attempt


def test_apply_failure_retries_with_hint_first_and_asks_the_doctor_when_repeated() -> None:
    first = history((K.apply_no_match, "anchor 'def foo' not found in src/a.py"))
    d = decide(K.apply_no_match, history=first, phase_budget=BUDGET)
    assert d.action is Action.retry_with_hint and not d.call_doctor
    first.add(K.apply_no_match, "the text to replace appears 3 times in src/b.py; quote more")
    d = decide(K.apply_no_match, history=first, phase_budget=BUDGET)
    assert d.action is Action.harden_then_doctor and d.call_doctor


def test_doctor_budget_spent_falls_back_to_the_table() -> None:
    h = history((K.tests_failed, TEST_FAILURE_1))
    for spent in (
        BUDGET.model_copy(update={"doctor_calls_phase": 2}),
        BUDGET.model_copy(update={"doctor_calls_run": 10}),
    ):
        d = decide(K.tests_failed, history=h, phase_budget=spent)
        assert d.action is Action.retry_with_hint and not d.call_doctor
        assert d.hardening and "Doctor's budget is spent" in d.reason


def test_attempts_exhausted_fails_the_phase() -> None:
    last = BUDGET.model_copy(update={"builder_attempts_used": 4, "max_builder_attempts": 5})
    d = decide(K.tests_failed, history=history((K.tests_failed, TEST_FAILURE_1)), phase_budget=last)
    assert d.action is Action.fail_phase and "5 Builder attempts" in d.reason
    # A transient error does not use an attempt, so it still retries.
    d = decide(K.provider_transient, history=history(), phase_budget=last)
    assert d.action is Action.retry_same


def test_flawed_approach_replans_then_escalates_then_fails() -> None:
    h = history((K.tests_failed, TEST_FAILURE_1), (K.tests_failed, TEST_FAILURE_2))
    d = decide(K.tests_failed, history=h, phase_budget=BUDGET)
    assert d.action is Action.replan and not d.call_doctor and "flawed approach" in d.reason
    replanned = BUDGET.model_copy(update={"replans_used": 1})
    d = decide(K.tests_failed, history=h, phase_budget=replanned)
    assert d.action is Action.escalate_model
    top = replanned.model_copy(update={"escalation_level": 2})
    assert decide(K.tests_failed, history=h, phase_budget=top).action is Action.fail_phase


def test_escalating_kinds_fail_when_no_stronger_model_is_left() -> None:
    h = history((K.context_window_exceeded, "prompt is too long: 250000 tokens > 200000"))
    assert decide(K.context_window_exceeded, history=h, phase_budget=BUDGET).action is (
        Action.escalate_model
    )
    top = BUDGET.model_copy(update={"escalation_level": 2})
    d = decide(K.context_window_exceeded, history=h, phase_budget=top)
    assert d.action is Action.fail_phase and "no stronger model" in d.reason


@pytest.mark.parametrize(
    ("doctor", "action"),
    [
        ("retry_with_fix", Action.retry_with_hint),
        ("replan", Action.replan),
        ("skip_phase", Action.skip_phase),
        ("mark_fatal", Action.fail_phase),
        ("rollback_run", Action.rollback),
    ],
)
def test_doctor_actions_map_to_executor_actions(doctor: str, action: Action) -> None:
    assert DOCTOR_ACTIONS[doctor] is action
    d = decide(
        K.tests_failed,
        history=history((K.tests_failed, TEST_FAILURE_1)),
        phase_budget=BUDGET,
        doctor_action=doctor,
    )
    assert d.action is action and not d.call_doctor
    assert not d.hardening  # hardening ran before the Doctor was asked


def test_doctor_replan_only_once_per_phase() -> None:
    h = history((K.tests_failed, TEST_FAILURE_1))
    replanned = BUDGET.model_copy(update={"replans_used": 1})
    d = decide(K.tests_failed, history=h, phase_budget=replanned, doctor_action="replan")
    assert d.action is Action.escalate_model
    top = replanned.model_copy(update={"escalation_level": 2})
    d = decide(K.tests_failed, history=h, phase_budget=top, doctor_action="replan")
    assert d.action is Action.fail_phase


def test_doctor_retry_without_attempts_left_fails() -> None:
    last = BUDGET.model_copy(update={"builder_attempts_used": 4})
    d = decide(
        K.tests_failed,
        history=history((K.tests_failed, TEST_FAILURE_1)),
        phase_budget=last,
        doctor_action="retry_with_fix",
    )
    assert d.action is Action.fail_phase


def test_unknown_doctor_action_is_refused() -> None:
    with pytest.raises(ValueError, match="retry_with_fix"):
        decide(K.tests_failed, history=history(), phase_budget=BUDGET, doctor_action="pray")


# -- run health --------------------------------------------------------------------------
def test_run_health_limits_from_the_original() -> None:
    health = RunHealth()
    assert (health.max_provider_errors, health.max_apply_failures, health.max_total_failures) == (
        10,
        15,
        25,
    )
    for _ in range(9):
        health.record(K.provider_transient)
    assert health.exhausted() is None
    health.record(K.provider_auth)
    assert health.provider_errors == 10
    assert health.exhausted() == (
        "10 provider errors in this run (limit 10); the run is going nowhere"
    )


def test_apply_failures_and_total_failures_stop_the_run() -> None:
    health = RunHealth()
    for _ in range(14):
        health.record(K.apply_no_match)
    assert health.exhausted() is None
    health.record(K.output_unparseable)
    assert health.apply_failures == 15 and "apply failures" in (health.exhausted() or "")

    health = RunHealth()
    for _ in range(24):
        health.record(K.tests_failed)
    assert health.exhausted() is None and health.apply_failures == 0
    health.record(K.auditor_revise)
    assert health.total_failures == 25 and "failures in total" in (health.exhausted() or "")


def test_run_health_round_trips_for_resume() -> None:
    health = RunHealth(max_total_failures=3)
    health.record(K.apply_rejected)
    again = RunHealth.model_validate(health.model_dump())
    assert again == health and again.apply_failures == 1
