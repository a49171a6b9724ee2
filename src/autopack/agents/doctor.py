"""The Doctor: diagnoses a failing phase and chooses the recovery action.

Verdict contract::

    {"action": "retry_with_fix" | "replan" | "skip_phase" | "mark_fatal" | "rollback_run",
     "hint": "...", "confidence": 0..1 (or low/medium/high), "rationale": "..."}

The Doctor is called only after deterministic hardening found no known pattern. Its
answer is the executor's input, not its command: budgets and the recovery table decide.
When the first (cheaper) model's confidence is below ``doctor.min_confidence_for_cheap``,
:func:`run_doctor` asks the next model of the Doctor's chain once and keeps that answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from autopack.agents.auditor import normalize_choice, normalize_confidence, pydantic_problem
from autopack.agents.json_extract import ask_with_reask, extract_json_object
from autopack.agents.prompting import Prompt, clip, render_template
from autopack.errors import OutputParseError
from autopack.llm.base import Completion
from autopack.llm.client import LLMClient
from autopack.llm.router import Routing

DOCTOR_MAX_TOKENS = 2048
LOG_CHAR_LIMIT = 20_000

DoctorAction = Literal["retry_with_fix", "replan", "skip_phase", "mark_fatal", "rollback_run"]
_ACTIONS = {
    "retry_with_fix": "retry_with_fix",
    "retry": "retry_with_fix",
    "fix": "retry_with_fix",
    "replan": "replan",
    "re_plan": "replan",
    "skip_phase": "skip_phase",
    "skip": "skip_phase",
    "mark_fatal": "mark_fatal",
    "fatal": "mark_fatal",
    "fail": "mark_fatal",
    "rollback_run": "rollback_run",
    "rollback": "rollback_run",
}


class DoctorVerdict(BaseModel):
    """The Doctor's recommended recovery action."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    action: DoctorAction
    hint: str = ""
    confidence: float = Field(ge=0, le=1)
    rationale: str = ""

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> Any:
        return normalize_choice(value, _ACTIONS)

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, value: Any) -> float:
        return normalize_confidence(value)

    @model_validator(mode="after")
    def _hint_for_retry(self) -> DoctorVerdict:
        if self.action == "retry_with_fix" and not self.hint.strip():
            raise ValueError("retry_with_fix needs a hint: the concrete fix for the Builder")
        return self


def parse_doctor_verdict(text: str) -> DoctorVerdict:
    """The Doctor's verdict. Raises OutputParseError saying what is wrong."""
    data = extract_json_object(text)
    try:
        return DoctorVerdict.model_validate(data)
    except PydanticValidationError as exc:
        raise OutputParseError(f"the verdict is invalid: {pydantic_problem(exc)}") from exc


@dataclass(frozen=True, slots=True)
class DoctorContext:
    """A failing phase, as the Doctor sees it.

    ``failure_class`` is the executor's classification (e.g. ``patch_apply_error``,
    ``ci_fail``, ``auditor_reject``); ``attempt_summaries`` one line per earlier attempt;
    ``logs`` the relevant output (test failures, apply errors), clipped.
    """

    run_id: str
    phase_id: str
    goal: str
    phase_name: str
    phase_description: str
    failure_class: str
    error_message: str
    attempt_summaries: Sequence[str] = ()
    logs: str = ""
    builder_attempts: int = 0
    max_builder_attempts: int = 5
    doctor_calls: int = 0
    replans: int = 0
    allowed_paths: Sequence[str] = ()
    deliverables: Sequence[str] = ()
    #: The run's intention anchor: a fix must keep the run on it.
    intention: str = ""


@dataclass(frozen=True, slots=True)
class DoctorResult:
    """A verdict, its completions, and whether a stronger model was asked."""

    verdict: DoctorVerdict
    completions: list[Completion] = field(default_factory=list)
    escalated: bool = False


def render_doctor_prompt(ctx: DoctorContext) -> Prompt:
    """The Doctor's system prompt and case description."""
    return Prompt(
        system=render_template("doctor_system.j2"),
        user=render_template(
            "doctor_user.j2", ctx=ctx, logs=clip(ctx.logs, LOG_CHAR_LIMIT, what="the logs")
        ),
    )


def run_doctor(
    client: LLMClient, ctx: DoctorContext, routing: Routing, *, min_confidence: float | None = None
) -> DoctorResult:
    """Ask the Doctor; below ``min_confidence`` (default: the config's
    ``doctor.min_confidence_for_cheap``) ask the next model of its chain once.

    Raises OutputParseError when an answer stays malformed after its one re-ask.
    """
    threshold = (
        client.config.doctor.min_confidence_for_cheap if min_confidence is None else min_confidence
    )
    request = render_doctor_prompt(ctx).request(
        "doctor", max_tokens=DOCTOR_MAX_TOKENS, run_id=ctx.run_id, phase_id=ctx.phase_id
    )
    expected = "one JSON object with action, hint, confidence and rationale"
    first = ask_with_reask(client, request, routing, parse_doctor_verdict, expected=expected)
    if first.value.confidence >= threshold:
        return DoctorResult(first.value, first.completions)
    stronger = replace(routing, failures=routing.failures + 1)
    current = client.select("doctor", routing)
    if client.select("doctor", stronger).model == current.model:
        return DoctorResult(first.value, first.completions)  # nothing stronger to ask
    second = ask_with_reask(client, request, stronger, parse_doctor_verdict, expected=expected)
    return DoctorResult(second.value, [*first.completions, *second.completions], True)
