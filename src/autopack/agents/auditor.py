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
#: The most of a diff one review reads; a longer diff is read in parts, one call each.
DIFF_CHAR_LIMIT = 60_000
#: The most parts of one diff the Auditor reads; a longer diff goes to a person.
MAX_DIFF_PARTS = 8

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


def split_diff(diff: str, limit: int = DIFF_CHAR_LIMIT) -> list[str]:
    """``diff`` in parts of about ``limit`` characters at most, which together hold every
    line of it: cut between files where a file fits, else between hunks, else between
    lines (a line longer than a part is cut itself). A part that goes on with a file
    starts with the file's header again (and the hunk's, inside a hunk), so each part
    reads as a diff of its own."""
    if len(diff) <= limit:
        return [diff]
    starts = [m.start() for m in _FILE_START.finditer(diff)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    parts: list[str] = []
    current = ""
    for start, end in zip(starts, [*starts[1:], len(diff)], strict=True):
        text = diff[start:end]
        if len(current) + len(text) <= limit:
            current += text
            continue
        if current:
            parts.append(current)
        pieces = [text] if len(text) <= limit else _file_pieces(text, limit)
        parts.extend(pieces[:-1])
        current = pieces[-1]
    if current:
        parts.append(current)
    return parts


_FILE_START = re.compile(r"^diff --git ", re.MULTILINE)


def _file_pieces(text: str, limit: int) -> list[str]:
    """One file's diff, longer than ``limit``, in pieces that each start with its header
    (and, inside a hunk, the hunk's header)."""
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.startswith("@@")), len(lines))
    header = "".join(lines[:first])
    room = max(limit - len(header), limit // 2)
    pieces: list[str] = []
    body = hunk = ""
    for line in lines[first:]:
        opens_hunk = line.startswith("@@")
        if opens_hunk:
            hunk = line
        for i in range(0, len(line), room):
            chunk = line[i : i + room]
            if body and len(body) + len(chunk) > room:
                pieces.append(header + body)
                body = "" if opens_hunk and i == 0 else hunk[: room // 2]
            body += chunk
    pieces.append(header + body)
    return pieces


def render_auditor_prompt(ctx: AuditorContext, *, part: int = 1) -> Prompt:
    """The Auditor's system prompt and its request to review ``part`` of the diff (of
    :func:`split_diff`'s parts; a diff that fits one review is its own part 1)."""
    parts = split_diff(ctx.diff)
    return _review_prompt(ctx, parts[part - 1], part, len(parts))


def _review_prompt(ctx: AuditorContext, diff: str, part: int, parts: int) -> Prompt:
    values = {"ctx": ctx, "diff": diff, "part": part, "parts": parts}
    return Prompt(
        system=render_template("auditor_system.j2"),
        user=render_template("auditor_user.j2", **values),
    )


def run_auditor(client: LLMClient, ctx: AuditorContext, routing: Routing) -> AuditorResult:
    """Ask the Auditor (one re-ask on a malformed verdict); usage is recorded by the client.
    Raises OutputParseError when the re-ask fails too.

    A diff longer than one review reads (:data:`DIFF_CHAR_LIMIT`) is reviewed in parts,
    one call each, and approved only when every part is: nothing is approved unread.
    The first part not approved ends the review with its verdict (the change goes back
    anyway). Callers send a diff of more than :data:`MAX_DIFF_PARTS` parts to a person
    instead (:func:`review_parts`)."""
    parts = split_diff(ctx.diff)
    verdicts: list[AuditorVerdict] = []
    completions: list[Completion] = []
    reasked = False
    for number, diff in enumerate(parts, 1):
        request = _review_prompt(ctx, diff, number, len(parts)).request(
            "auditor", max_tokens=AUDITOR_MAX_TOKENS, run_id=ctx.run_id, phase_id=ctx.phase_id
        )
        parsed: Parsed[AuditorVerdict] = ask_with_reask(
            client,
            request,
            routing,
            parse_auditor_verdict,
            expected="one JSON object with recommendation, confidence, review_notes and issues",
        )
        verdicts.append(parsed.value)
        completions += parsed.completions
        reasked = reasked or parsed.reasked
        if parsed.value.recommendation != "approve":
            break
    return AuditorResult(_whole_verdict(verdicts, len(parts)), completions, reasked)


def unreadable_changes(diff: str) -> list[str]:
    """The files ``diff`` adds or changes but shows as ``Binary files ... differ``, with
    no line of them a reviewer could read: content git takes for binary, or text a
    ``.gitattributes`` marks ``binary`` or ``-diff``. (A deleted binary file is just
    gone.)"""
    found: list[str] = []
    for line in diff.splitlines():
        if line.startswith("Binary files ") and line.endswith(" differ"):
            sides = line[len("Binary files ") : -len(" differ")]
            if not sides.endswith(" and /dev/null"):
                found.append(sides.rpartition(" and ")[2].removeprefix("b/"))
    return found


def review_parts(diff: str) -> int:
    """How many reviews the Auditor needs to read all of ``diff``."""
    return len(split_diff(diff))


def _whole_verdict(verdicts: list[AuditorVerdict], parts: int) -> AuditorVerdict:
    """The verdicts on a diff's parts as one: the last one's recommendation (the first
    that did not approve, or an approval of every part), the lowest confidence, every
    part's notes and issues."""
    if parts == 1:
        return verdicts[0]
    notes = "\n".join(
        f"part {i} of {parts}: {v.review_notes}"
        for i, v in enumerate(verdicts, 1)
        if v.review_notes
    )
    issues = list({issue.issue_key: issue for v in verdicts for issue in v.issues}.values())
    return AuditorVerdict(
        recommendation=verdicts[-1].recommendation,
        confidence=min(v.confidence for v in verdicts),
        review_notes=notes,
        issues=issues,
    )


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
