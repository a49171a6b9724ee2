"""The state machines: the transition table and the one function that judges a change."""

from __future__ import annotations

import pytest

from autopack.domain.states import PhaseState, RunState, TierState
from autopack.domain.transitions import (
    PHASE_TRANSITIONS,
    RUN_TRANSITIONS,
    TIER_TRANSITIONS,
    allowed_next,
    transition,
)


@pytest.mark.parametrize(
    ("machine", "current", "requested"),
    [
        ("run", "QUEUED", "RUN_CREATED"),
        ("run", "RUN_CREATED", "PHASE_EXECUTION"),
        ("run", "PHASE_EXECUTION", "GATE"),
        ("run", "GATE", "PHASE_EXECUTION"),
        ("run", "CI_RUNNING", "PHASE_EXECUTION"),
        ("run", "PHASE_EXECUTION", "DONE_SUCCESS"),
        ("run", "PHASE_EXECUTION", "DONE_FAILED_BUDGET_EXHAUSTED"),
        ("run", "QUEUED", "DONE_CANCELLED"),
        ("tier", "PENDING", "IN_PROGRESS"),
        ("tier", "IN_PROGRESS", "COMPLETE"),
        ("phase", "QUEUED", "EXECUTING"),
        ("phase", "EXECUTING", "GATE"),
        ("phase", "GATE", "EXECUTING"),
        ("phase", "EXECUTING", "AWAITING_APPROVAL"),
        ("phase", "AWAITING_APPROVAL", "COMPLETE"),
        ("phase", "CI_RUNNING", "FAILED"),
    ],
)
def test_legal_transitions_are_accepted(machine: str, current: str, requested: str) -> None:
    result = transition(machine, current, requested)  # type: ignore[arg-type]
    assert result.accepted, result.reason
    assert result.reason == ""


def test_staying_in_the_same_state_is_accepted_as_unchanged() -> None:
    result = transition("phase", "EXECUTING", "EXECUTING")
    assert result.accepted
    assert result.reason == "unchanged"


def test_illegal_transition_is_rejected_with_the_allowed_next_states() -> None:
    result = transition("phase", "QUEUED", "COMPLETE")
    assert not result.accepted
    assert result.allowed == ["EXECUTING", "FAILED", "SKIPPED"]
    assert "allowed next states: EXECUTING, FAILED, SKIPPED" in result.reason
    assert "QUEUED" in result.reason and "COMPLETE" in result.reason


def test_queued_run_cannot_claim_success() -> None:
    result = transition("run", "QUEUED", "DONE_SUCCESS")
    assert not result.accepted
    assert "DONE_SUCCESS" not in result.allowed
    assert "RUN_CREATED" in result.allowed


def test_allowed_states_are_listed_in_enum_order() -> None:
    assert allowed_next("tier", "PENDING") == ["IN_PROGRESS", "FAILED", "SKIPPED"]
    order = [s.value for s in RunState]
    listed = allowed_next("run", "PHASE_EXECUTION")
    assert listed == sorted(listed, key=order.index)


@pytest.mark.parametrize(
    ("machine", "terminal"),
    [("run", s.value) for s in RunState if s.is_terminal]
    + [("tier", s.value) for s in TierState if s.is_terminal]
    + [("phase", s.value) for s in PhaseState if s.is_terminal],
)
def test_terminal_states_are_final(machine: str, terminal: str) -> None:
    assert allowed_next(machine, terminal) == []  # type: ignore[arg-type]
    other = "QUEUED" if machine != "tier" else "PENDING"
    if machine == "run":
        other = "PHASE_EXECUTION"
    result = transition(machine, terminal, other)  # type: ignore[arg-type]
    assert not result.accepted
    assert f"terminal state {terminal}" in result.reason


def test_every_state_has_a_row_in_its_table() -> None:
    assert set(RUN_TRANSITIONS) == set(RunState)
    assert set(TIER_TRANSITIONS) == set(TierState)
    assert set(PHASE_TRANSITIONS) == set(PhaseState)
    # Terminal states and only they have no way forward.
    for table, enum in (
        (RUN_TRANSITIONS, RunState),
        (TIER_TRANSITIONS, TierState),
        (PHASE_TRANSITIONS, PhaseState),
    ):
        for state in enum:
            assert (not table[state]) == state.is_terminal, state


def test_a_failed_run_resumes_only_through_resume() -> None:
    plain = transition("run", "DONE_FAILED_BUDGET_EXHAUSTED", "PHASE_EXECUTION")
    assert not plain.accepted
    assert "except through resume" in plain.reason
    resumed = transition("run", "DONE_FAILED_BUDGET_EXHAUSTED", "PHASE_EXECUTION", via="resume")
    assert resumed.accepted
    assert resumed.reason == "via resume"


def test_a_successful_run_cannot_be_resumed() -> None:
    result = transition("run", "DONE_SUCCESS", "PHASE_EXECUTION", via="resume")
    assert not result.accepted


def test_resume_leads_only_to_phase_execution() -> None:
    assert not transition("run", "DONE_CANCELLED", "GATE", via="resume").accepted


def test_a_failed_phase_is_retried_back_to_queued() -> None:
    # Regression: phase and tier escapes shared the key "FAILED", and the tier's entry
    # replaced the phase's, so a failed phase could never be retried.
    assert not transition("phase", "FAILED", "QUEUED").accepted
    result = transition("phase", "FAILED", "QUEUED", via="retry")
    assert result.accepted, result.reason
    assert "except through retry" in transition("phase", "FAILED", "QUEUED").reason


def test_a_failed_tier_is_retried_back_to_in_progress() -> None:
    assert transition("tier", "FAILED", "IN_PROGRESS", via="retry").accepted
    # Escapes are per machine: a tier's escape does not open a phase's.
    assert not transition("tier", "FAILED", "QUEUED", via="retry").accepted
    assert not transition("phase", "COMPLETE", "QUEUED", via="retry").accepted


def test_an_unknown_escape_opens_nothing() -> None:
    assert not transition("phase", "FAILED", "QUEUED", via="magic").accepted


def test_unknown_requested_state_is_rejected_naming_the_known_ones() -> None:
    result = transition("run", "RUN_CREATED", "READY")
    assert not result.accepted
    assert "'READY' is not a run state" in result.reason
    assert "PHASE_EXECUTION" in result.reason
    assert result.allowed == allowed_next("run", "RUN_CREATED")


def test_unknown_stored_state_is_rejected_and_points_at_db_repair() -> None:
    result = transition("phase", "READY", "EXECUTING")
    assert not result.accepted
    assert result.allowed == []
    assert "autopack db repair" in result.reason
    assert allowed_next("phase", "READY") == []


def test_states_of_one_machine_are_not_states_of_another() -> None:
    # IN_PROGRESS is a tier state, never a phase state.
    result = transition("phase", "EXECUTING", "IN_PROGRESS")
    assert not result.accepted
    assert "not a phase state" in result.reason
