"""Every recovery Action has a handler, and the handler does what the action says
(``rollback`` once became "one more retry" because nothing checked this)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from autopack.executor.phase import (
    ACTION_HANDLERS,
    ActionStep,
    Failure,
    PhaseExecution,
    RunFailed,
)
from autopack.executor.recovery import Action, FailureKind, RecoveryDecision

#: Actions after which the phase must not simply be attempted again.
ENDING_ACTIONS = {
    Action.skip_phase: PhaseExecution._do_skip_phase,
    Action.fail_phase: PhaseExecution._do_fail_phase,
    Action.fail_run: PhaseExecution._do_fail_run,
    Action.park_for_approval: PhaseExecution._do_park,
    Action.rollback: PhaseExecution._do_rollback,
}


def _step(action: Action, *, run_state: str | None = None, **phase: Any) -> ActionStep:
    decision = RecoveryDecision(
        kind=FailureKind.tests_failed,
        action=action,
        reason=f"tests_failed: {action}",
        consume_attempt=True,
        run_state=run_state,
    )
    row = SimpleNamespace(
        escalation_level=0, replans=0, description="Add mul.", hints=["older hint"], **phase
    )
    return ActionStep(
        session=None,  # type: ignore[arg-type]
        phase=row,  # type: ignore[arg-type]
        decision=decision,
        failure=Failure(FailureKind.tests_failed, "1 new failure(s): test_mul"),
        hint="use multiplication, not addition",
        attempt_id=7,
    )


def test_every_action_has_a_handler() -> None:
    assert set(ACTION_HANDLERS) == set(Action)


@pytest.mark.parametrize("action", list(ENDING_ACTIONS))
def test_ending_actions_have_their_own_handler_not_a_retry(action: Action) -> None:
    assert ACTION_HANDLERS[action] is ENDING_ACTIONS[action]
    assert ACTION_HANDLERS[action] is not PhaseExecution._do_retry


def test_retry_with_hint_tells_the_next_attempt_and_changes_nothing_else() -> None:
    step = _step(Action.retry_with_hint)
    assert (
        ACTION_HANDLERS[Action.retry_with_hint](PhaseExecution.__new__(PhaseExecution), step)
        is None
    )
    assert step.phase.hints == ["older hint", "use multiplication, not addition"]
    assert (step.phase.escalation_level, step.phase.replans) == (0, 0)
    assert step.phase.description == "Add mul."


def test_escalate_model_raises_the_escalation_level() -> None:
    step = _step(Action.escalate_model)
    ACTION_HANDLERS[Action.escalate_model](PhaseExecution.__new__(PhaseExecution), step)
    assert step.phase.escalation_level == 1


def test_replan_rewrites_the_phase_description_with_the_new_approach() -> None:
    step = _step(Action.replan)
    ACTION_HANDLERS[Action.replan](PhaseExecution.__new__(PhaseExecution), step)
    assert step.phase.replans == 1
    assert step.phase.description == (
        "Add mul.\n\nRevised approach (replan 1): use multiplication, not addition"
    )


def test_fail_run_ends_the_run_in_the_decisions_state_with_the_failure() -> None:
    step = _step(Action.fail_run, run_state="DONE_FAILED_ENVIRONMENT")
    with pytest.raises(RunFailed) as raised:
        ACTION_HANDLERS[Action.fail_run](PhaseExecution.__new__(PhaseExecution), step)
    assert raised.value.state == "DONE_FAILED_ENVIRONMENT"
    assert raised.value.reason == "1 new failure(s): test_mul"
