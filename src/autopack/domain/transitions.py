"""Allowed state transitions, as data, and the one function that judges a proposed change.

`transition()` never raises: it returns a :class:`TransitionResult` that says whether the
change is accepted and why not. Services turn a rejection into `IllegalTransition` (HTTP
409 listing the allowed next states). Terminal states are final; the only way out is an
explicit resume/retry, named by ``via``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from autopack.domain.states import PhaseState, RunState, TierState

Machine = Literal["run", "tier", "phase"]

_RUN_TERMINAL = frozenset(s for s in RunState if s.is_terminal)
_RUN_ACTIVE = frozenset(
    {RunState.PHASE_EXECUTION, RunState.GATE, RunState.CI_RUNNING, RunState.SNAPSHOT_CREATED}
)

RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.QUEUED: frozenset({RunState.PLAN_BOOTSTRAP, RunState.RUN_CREATED})
    | _RUN_TERMINAL - {RunState.DONE_SUCCESS},
    RunState.PLAN_BOOTSTRAP: frozenset({RunState.RUN_CREATED})
    | _RUN_TERMINAL - {RunState.DONE_SUCCESS},
    RunState.RUN_CREATED: frozenset({RunState.PHASE_QUEUEING, RunState.PHASE_EXECUTION})
    | _RUN_TERMINAL,
    RunState.PHASE_QUEUEING: frozenset({RunState.PHASE_EXECUTION}) | _RUN_TERMINAL,
    RunState.PHASE_EXECUTION: (_RUN_ACTIVE - {RunState.PHASE_EXECUTION}) | _RUN_TERMINAL,
    RunState.GATE: frozenset({RunState.PHASE_EXECUTION, RunState.CI_RUNNING}) | _RUN_TERMINAL,
    RunState.CI_RUNNING: frozenset({RunState.PHASE_EXECUTION, RunState.GATE}) | _RUN_TERMINAL,
    RunState.SNAPSHOT_CREATED: frozenset({RunState.PHASE_EXECUTION}) | _RUN_TERMINAL,
    **{s: frozenset() for s in _RUN_TERMINAL},
}

TIER_TRANSITIONS: dict[TierState, frozenset[TierState]] = {
    TierState.PENDING: frozenset({TierState.IN_PROGRESS, TierState.SKIPPED, TierState.FAILED}),
    TierState.IN_PROGRESS: frozenset({TierState.COMPLETE, TierState.FAILED, TierState.SKIPPED}),
    TierState.COMPLETE: frozenset(),
    TierState.FAILED: frozenset(),
    TierState.SKIPPED: frozenset(),
}

_P = PhaseState
PHASE_TRANSITIONS: dict[PhaseState, frozenset[PhaseState]] = {
    _P.QUEUED: frozenset({_P.EXECUTING, _P.SKIPPED, _P.FAILED}),
    _P.EXECUTING: frozenset(
        {_P.GATE, _P.CI_RUNNING, _P.AWAITING_APPROVAL, _P.COMPLETE, _P.FAILED, _P.SKIPPED}
    ),
    _P.GATE: frozenset(
        {_P.EXECUTING, _P.CI_RUNNING, _P.AWAITING_APPROVAL, _P.COMPLETE, _P.FAILED, _P.SKIPPED}
    ),
    _P.CI_RUNNING: frozenset({_P.EXECUTING, _P.GATE, _P.COMPLETE, _P.FAILED, _P.SKIPPED}),
    _P.AWAITING_APPROVAL: frozenset(
        {_P.EXECUTING, _P.GATE, _P.CI_RUNNING, _P.COMPLETE, _P.FAILED, _P.SKIPPED}
    ),
    _P.COMPLETE: frozenset(),
    _P.FAILED: frozenset(),
    _P.SKIPPED: frozenset(),
}

#: Ways out of a terminal state, each named by the explicit service that may use it:
#: ``ESCAPES[via][machine][current]`` is the set of states ``current`` may move to. Keyed
#: by machine because the vocabularies share names (a phase and a tier can both be FAILED).
ESCAPES: dict[str, dict[Machine, dict[str, frozenset[str]]]] = {
    "resume": {  # `autopack run --resume`: a failed or cancelled run continues
        "run": {
            s.value: frozenset({RunState.PHASE_EXECUTION.value})
            for s in _RUN_TERMINAL - {RunState.DONE_SUCCESS}
        },
    },
    "retry": {  # a failed phase is queued again; a failed tier is worked on again
        "phase": {PhaseState.FAILED.value: frozenset({PhaseState.QUEUED.value})},
        "tier": {TierState.FAILED.value: frozenset({TierState.IN_PROGRESS.value})},
    },
    "rollback": {  # the Doctor's rollback_run took completed work off the branch
        "phase": {PhaseState.COMPLETE.value: frozenset({PhaseState.QUEUED.value})},
        "tier": {TierState.COMPLETE.value: frozenset({TierState.IN_PROGRESS.value})},
    },
}

TABLES: dict[str, dict[StrEnum, frozenset[StrEnum]]] = {
    "run": RUN_TRANSITIONS,  # type: ignore[dict-item]
    "tier": TIER_TRANSITIONS,  # type: ignore[dict-item]
    "phase": PHASE_TRANSITIONS,  # type: ignore[dict-item]
}
ENUMS: dict[str, type[StrEnum]] = {"run": RunState, "tier": TierState, "phase": PhaseState}


@dataclass(frozen=True)
class TransitionResult:
    accepted: bool
    current: str
    requested: str
    reason: str = ""
    allowed: list[str] = field(default_factory=list)


def allowed_next(machine: Machine, current: str) -> list[str]:
    """The states `current` may move to, in enum order."""
    enum = ENUMS[machine]
    try:
        state = enum(current)
    except ValueError:
        return []
    targets = TABLES[machine][state]
    return [s.value for s in enum if s in targets]


def transition(
    machine: Machine, current: str, requested: str, *, via: str | None = None
) -> TransitionResult:
    """Judge the change ``current -> requested`` of a run, tier or phase.

    Staying in the same state is accepted (idempotent updates). ``via`` names an explicit
    escape hatch (``"resume"``, ``"retry"``) that may leave a terminal state.
    """
    enum = ENUMS[machine]
    allowed = allowed_next(machine, current)
    known = {s.value for s in enum}
    if requested not in known:
        return TransitionResult(
            False,
            current,
            requested,
            f"{requested!r} is not a {machine} state; known states: {', '.join(sorted(known))}",
            allowed,
        )
    if current not in known:
        return TransitionResult(
            False,
            current,
            requested,
            f"the stored {machine} state {current!r} is unknown; run `autopack db repair`",
            [],
        )
    if requested == current:
        return TransitionResult(True, current, requested, "unchanged", allowed)
    if requested in allowed:
        return TransitionResult(True, current, requested, "", allowed)
    if via is not None and requested in ESCAPES.get(via, {}).get(machine, {}).get(
        current, frozenset()
    ):
        return TransitionResult(True, current, requested, f"via {via}", allowed)
    if not allowed:
        reason = f"{machine} is in terminal state {current}; it cannot change"
        escapes = [
            v
            for v, by_machine in ESCAPES.items()
            if requested in by_machine.get(machine, {}).get(current, frozenset())
        ]
        if escapes:
            reason += f" except through {escapes[0]}"
    else:
        reason = (
            f"{machine} cannot go from {current} to {requested}; "
            f"allowed next states: {', '.join(allowed)}"
        )
    return TransitionResult(False, current, requested, reason, allowed)
