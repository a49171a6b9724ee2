"""The Auditor: reviews a phase's diff and test results and answers a JSON verdict.

Verdict contract::

    {"recommendation": "approve" | "revise" | "escalate",
     "confidence": 0..1 (or "low" | "medium" | "high"),
     "review_notes": "...",
     "issues": [{"issue_key", "severity": "minor" | "major", "category",
                 "description", "evidence_refs": [...]}]}

The parser is lenient about form (fences, prose around the JSON, common synonyms such as
``approved`` or ``critical``) and strict about meaning: an unknown recommendation or a
confidence outside 0..1 is a parse error, which gets one re-ask.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from autopack.agents.json_extract import Parsed, ask_with_reask, extract_json_object
from autopack.agents.prompting import Prompt, clip, render_template
from autopack.errors import OutputParseError
from autopack.llm.base import Completion
from autopack.llm.client import LLMClient
from autopack.llm.router import Routing

AUDITOR_MAX_TOKENS = 4096
DIFF_CHAR_LIMIT = 60_000

CONFIDENCE_WORDS = {
    "very low": 0.1,
    "low": 0.3,
    "medium": 0.6,
    "moderate": 0.6,
    "high": 0.85,
    "very high": 0.95,
}

_RECOMMENDATIONS = {
    "approve": "approve",
    "approved": "approve",
    "accept": "approve",
    "pass": "approve",
    "revise": "revise",
    "reject": "revise",
    "rejected": "revise",
    "request_changes": "revise",
    "changes_requested": "revise",
    "fix": "revise",
    "escalate": "escalate",
    "escalated": "escalate",
    "human_review": "escalate",
}
_SEVERITIES = {
    "minor": "minor",
    "low": "minor",
    "trivial": "minor",
    "nit": "minor",
    "info": "minor",
    "warning": "minor",
    "medium": "minor",
    "major": "major",
    "high": "major",
    "critical": "major",
    "blocker": "major",
    "error": "major",
    "severe": "major",
}


def normalize_confidence(value: Any) -> float:
    """A confidence as a number in 0..1, from a number, a percentage or a word."""
    if isinstance(value, bool):
        raise ValueError("confidence must be a number 0..1 or low/medium/high")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in CONFIDENCE_WORDS:
            return CONFIDENCE_WORDS[text]
        text = text.rstrip("%")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(
                f"confidence {value!r} is not a number 0..1 or low/medium/high"
            ) from None
        value = number / 100 if value.strip().endswith("%") else number
    if not isinstance(value, int | float):
        raise ValueError("confidence must be a number 0..1 or low/medium/high")
    number = float(value)
    if 1 < number <= 100:
        number /= 100  # "85" meant 85 %
    if not 0 <= number <= 1:
        raise ValueError(f"confidence {value!r} is outside 0..1")
    return number


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:80] or "issue"


class AuditIssue(BaseModel):
    """One problem the Auditor found; ``issue_key`` is stable across reviews."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    issue_key: str = Field(min_length=1, max_length=200)
    severity: Literal["minor", "major"]
    category: str = "general"
    description: str = ""
    evidence_refs: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _lenient(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        severity = str(data.get("severity", "minor")).strip().lower()
        data["severity"] = _SEVERITIES.get(severity, severity)
        refs = data.get("evidence_refs")
        if isinstance(refs, str):
            data["evidence_refs"] = [refs]
        elif isinstance(refs, list):
            data["evidence_refs"] = [str(r) for r in refs]
        if not data.get("issue_key"):
            data["issue_key"] = _slug(f"{data.get('category', '')} {data.get('description', '')}")
        return data


class AuditorVerdict(BaseModel):
    """The Auditor's decision on a phase."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    recommendation: Literal["approve", "revise", "escalate"]
    confidence: float = Field(ge=0, le=1)
    review_notes: str = ""
    issues: list[AuditIssue] = Field(default_factory=list)

    @field_validator("recommendation", mode="before")
    @classmethod
    def _recommendation(cls, value: Any) -> Any:
        return normalize_choice(value, _RECOMMENDATIONS)

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, value: Any) -> float:
        return normalize_confidence(value)


def normalize_choice(value: Any, aliases: dict[str, str]) -> Any:
    """A model's spelling of a closed-vocabulary word (``"Retry-With Fix"``) as the word the
    contract uses: lowercased, ``_``-joined, then mapped through ``aliases``. Non-strings
    pass through, for pydantic to reject."""
    if not isinstance(value, str):
        return value
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    return aliases.get(key, key)


def pydantic_problem(exc: PydanticValidationError) -> str:
    """A short, model-readable description of what failed validation."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()[:5]
    )


def parse_auditor_verdict(text: str) -> AuditorVerdict:
    """The verdict in an Auditor answer. Raises OutputParseError saying what is wrong."""
    data = extract_json_object(text)
    try:
        return AuditorVerdict.model_validate(data)
    except PydanticValidationError as exc:
        raise OutputParseError(f"the verdict is invalid: {pydantic_problem(exc)}") from exc


@dataclass(frozen=True, slots=True)
class AuditorContext:
    """What the Auditor reviews. ``diff`` is the phase's unified diff; ``test_summary`` the
    verification delta against the run's baseline, in words."""

    run_id: str
    phase_id: str
    goal: str
    phase_name: str
    phase_description: str
    diff: str
    test_summary: str
    deliverables: Sequence[str] = ()
    acceptance_criteria: Sequence[str] = ()
    builder_notes: str | None = None
    task_category: str = "feature"
    complexity: str = "medium"
    #: The run's intention anchor: the review also asks whether the change serves it.
    intention: str = ""


@dataclass(frozen=True, slots=True)
class AuditorResult:
    """A verdict and the completions it took (two after a re-ask)."""

    verdict: AuditorVerdict
    completions: list[Completion] = field(default_factory=list)
    reasked: bool = False


def render_auditor_prompt(ctx: AuditorContext) -> Prompt:
    """The Auditor's system prompt and review request."""
    values = {"ctx": ctx, "diff": clip(ctx.diff, DIFF_CHAR_LIMIT, what="the diff")}
    return Prompt(
        system=render_template("auditor_system.j2"),
        user=render_template("auditor_user.j2", **values),
    )


def run_auditor(client: LLMClient, ctx: AuditorContext, routing: Routing) -> AuditorResult:
    """Ask the Auditor (one re-ask on a malformed verdict); usage is recorded by the client.
    Raises OutputParseError when the re-ask fails too."""
    request = render_auditor_prompt(ctx).request(
        "auditor", max_tokens=AUDITOR_MAX_TOKENS, run_id=ctx.run_id, phase_id=ctx.phase_id
    )
    parsed: Parsed[AuditorVerdict] = ask_with_reask(
        client,
        request,
        routing,
        parse_auditor_verdict,
        expected="one JSON object with recommendation, confidence, review_notes and issues",
    )
    return AuditorResult(parsed.value, parsed.completions, parsed.reasked)


# -- "is the goal already met?" ----------------------------------------------------------
# Asked before a phase's first Builder call when its deliverables already exist and its
# checks pass: existing files are not evidence that the phase is done, the Auditor's
# reading of the current code against the goal is.
GOAL_CHECK_MAX_TOKENS = 1024


class GoalCheckVerdict(BaseModel):
    """The Auditor's answer to "does the current code already meet the phase's goal?"."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    goal_met: bool
    confidence: float = Field(ge=0, le=1)
    reason: str = Field(min_length=1)

    @field_validator("goal_met", mode="before")
    @classmethod
    def _strict_bool(cls, value: Any) -> Any:
        # "yes"/"no" are common; anything else is not an answer (a re-ask follows).
        if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
            return value.strip().lower() == "yes"
        return value

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, value: Any) -> float:
        return normalize_confidence(value)


@dataclass(frozen=True, slots=True)
class CodeFile:
    path: str
    content: str


@dataclass(frozen=True, slots=True)
class GoalCheckResult:
    verdict: GoalCheckVerdict
    completions: list[Completion] = field(default_factory=list)


def parse_goal_check(text: str) -> GoalCheckVerdict:
    """The verdict in a goal-check answer. Raises OutputParseError saying what is wrong."""
    data = extract_json_object(text)
    try:
        return GoalCheckVerdict.model_validate(data)
    except PydanticValidationError as exc:
        raise OutputParseError(f"the goal check is invalid: {pydantic_problem(exc)}") from exc


def render_goal_check_prompt(ctx: AuditorContext, files: Sequence[CodeFile]) -> Prompt:
    return Prompt(
        system=render_template("auditor_goal_system.j2"),
        user=render_template(
            "auditor_goal_user.j2",
            ctx=ctx,
            files=[CodeFile(f.path, clip(f.content, DIFF_CHAR_LIMIT, what=f.path)) for f in files],
        ),
    )


def run_goal_check(
    client: LLMClient, ctx: AuditorContext, files: Sequence[CodeFile], routing: Routing
) -> GoalCheckResult:
    """Ask the Auditor whether the current code (``files``) already meets the phase's goal
    (one re-ask on a malformed answer). Raises OutputParseError when the re-ask fails too."""
    request = render_goal_check_prompt(ctx, files).request(
        "auditor", max_tokens=GOAL_CHECK_MAX_TOKENS, run_id=ctx.run_id, phase_id=ctx.phase_id
    )
    parsed: Parsed[GoalCheckVerdict] = ask_with_reask(
        client,
        request,
        routing,
        parse_goal_check,
        expected="one JSON object with goal_met, confidence and reason",
    )
    return GoalCheckResult(parsed.value, parsed.completions)
