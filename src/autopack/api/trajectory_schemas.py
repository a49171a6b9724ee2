"""Response schemas of ``GET /runs/{run_id}/trajectory``: a run's model calls.

Each item is one line of the run's ``trajectory.jsonl`` (see
:mod:`autopack.executor.trajectory`). Fields a later version adds to a record pass
through (``extra="allow"``), so an older client reads a newer file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_OPEN = ConfigDict(extra="allow")


class TrajectoryMessage(BaseModel):
    model_config = _OPEN

    role: str = Field(..., description="system, user or assistant")
    content: str = Field(..., description="The text as sent to the provider (secrets redacted)")


class TrajectoryUsage(BaseModel):
    model_config = _OPEN

    prompt_tokens: int | None = Field(None, description="None when only a total is known")
    completion_tokens: int | None = None
    total_tokens: int = 0
    exact: bool = Field(True, description="False when the numbers are estimates")
    cost_usd: float | None = Field(None, description="None when the model has no price")


class ContextKept(BaseModel):
    model_config = _OPEN

    path: str
    tokens: int | None = Field(None, description="Tokens of the file as shown (after any cut)")
    truncated: bool = Field(False, description="True when a cut-down view was shown")
    kind: str = Field("", description="scope, read_only or related")
    reason: str = Field("", description="Why it was kept, and how it was cut")


class ContextOmitted(BaseModel):
    model_config = _OPEN

    path: str
    reason: str = ""


class TrajectoryContext(BaseModel):
    """What the prompt's context kept and left out (no file contents)."""

    model_config = _OPEN

    token_budget: int | None = None
    tokens_used: int = 0
    files: list[ContextKept] = Field(default_factory=list)
    omitted: list[ContextOmitted] = Field(default_factory=list)


class TrajectoryCall(BaseModel):
    """One model call of a run."""

    model_config = _OPEN

    call: int = Field(..., description="1..N in the order the run made them")
    at: str | None = Field(None, description="When the call ended (ISO 8601)")
    run_id: str = ""
    phase_id: str | None = None
    attempt: int | None = Field(None, description="The Builder attempt the call belongs to")
    role: str = Field("", description="builder, auditor, doctor or planner")
    purpose: str = Field("", description="builder, auditor, goal_check or doctor")
    kind: str = Field("call", description="call, continuation or reask")
    provider: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    messages: list[TrajectoryMessage] = Field(default_factory=list)
    answer: str | None = Field(None, description="None when the call failed")
    stop_reason: str | None = None
    truncated: bool | None = None
    usage: TrajectoryUsage | None = None
    latency_ms: int = 0
    retries: int = Field(0, description="Transient errors waited out before the outcome")
    error: str | None = Field(None, description="Why the call failed, when it did")
    error_type: str | None = None
    context: TrajectoryContext | None = None


class TrajectoryPage(BaseModel):
    run_id: str
    total: int = Field(..., description="Calls matching the filters")
    offset: int
    limit: int
    calls: list[TrajectoryCall]

    @classmethod
    def of(
        cls, run_id: str, total: int, offset: int, limit: int, calls: list[Any]
    ) -> TrajectoryPage:
        return cls(
            run_id=run_id,
            total=total,
            offset=offset,
            limit=limit,
            calls=[TrajectoryCall.model_validate(c) for c in calls],
        )
