"""The Builder: writes a phase's change as NDJSON edit operations.

:func:`render_builder_prompt` turns a :class:`BuilderContext` into the prompt;
:func:`run_builder` routes, budgets (``TokenEstimator``), calls, continues a truncated
answer from its last complete operation, parses it (:mod:`autopack.agents.output`), and
records the budget decision for calibration. Usage is recorded by the client's sink.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from autopack.agents.output import (
    NDJSON_FORMAT_SPEC,
    REQUEST_FORMAT_SPEC,
    Diagnostic,
    parse_model_output,
)
from autopack.agents.prompting import Prompt, render_template
from autopack.domain.edits import Edit
from autopack.errors import OutputParseError
from autopack.llm.base import Completion, LLMRequest, Message, estimate_tokens
from autopack.llm.client import EstimationRecord, LLMClient
from autopack.llm.estimator import Estimate
from autopack.llm.router import Routing

MAX_CONTINUATIONS = 2


@dataclass(frozen=True, slots=True)
class FileContext:
    """A file's contents as the caller selected them (``truncated`` when cut to fit)."""

    path: str
    content: str
    truncated: bool = False
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class ContextRef:
    """A read-only context entry of the plan: a path and why it matters."""

    path: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BuilderContext:
    """Everything the Builder is told about a phase attempt.

    ``allowed_paths``: a path ending in ``/`` allows creating files beneath it.
    ``protected_paths``: refused unless asked for (a governance request).
    ``learned_rules``: rules learned from earlier failures of this run or project.
    ``doctor_hint``/``auditor_notes``/``previous_failure``: what went wrong last time.
    ``intention``: the run's intention anchor, shown after the goal.
    ``repo_map``: definitions elsewhere in the repository ranked for the phase (rendered
    after the files, read-only), empty for none.
    """

    run_id: str
    phase_id: str
    goal: str
    phase_name: str
    phase_description: str = ""
    task_category: str = "feature"
    complexity: str = "medium"
    builder_mode: str | None = None
    deliverables: Sequence[str] = ()
    allowed_paths: Sequence[str] = ()
    #: Patterns the apply guard refuses unless a governance request is granted.
    protected_paths: Sequence[str] = ()
    read_only_context: Sequence[ContextRef] = ()
    acceptance_criteria: Sequence[str] = ()
    files: Sequence[FileContext] = ()
    repo_map: str = ""
    learned_rules: Sequence[str] = ()
    human_notes: Sequence[str] = ()
    doctor_hint: str | None = None
    auditor_notes: str | None = None
    previous_failure: str | None = None
    attempt: int = 1
    #: The run's intention anchor (memory/intention.py): what the whole run is for.
    intention: str = ""


@dataclass(frozen=True, slots=True)
class BuilderAnswer:
    """The Builder's parsed answer.

    ``text`` is the whole answer (continuations joined); ``continued`` says whether it took
    continuation calls; ``truncated`` whether it was still cut off after the last one;
    ``stopped_early`` the provider's word on that (:func:`stop_verdict`), for whoever
    parses ``text`` again.
    """

    text: str
    edits: list[Edit]
    diagnostics: list[Diagnostic]
    completions: list[Completion]
    continued: bool
    truncated: bool
    estimate: Estimate
    model: str
    reasked: bool = False
    stopped_early: bool | None = None

    @property
    def total_tokens(self) -> int:
        return sum(c.usage.total_tokens for c in self.completions)


def describe_diagnostic(diagnostic: Diagnostic) -> str:
    """One parser diagnostic as a line a model (or a person) can act on."""
    where = f"line {diagnostic.line}: " if diagnostic.line else ""
    return f"{where}{diagnostic.reason}"


def _deliverable(item: str) -> str:
    path, _, symbol = item.partition("::")
    return f"{path} (must define `{symbol}`)" if symbol else path


def render_builder_prompt(ctx: BuilderContext) -> Prompt:
    """The Builder's system prompt (rules and output format) and its task message."""
    system = render_template(
        "builder_system.j2",
        format_spec=NDJSON_FORMAT_SPEC.strip(),
        request_spec=REQUEST_FORMAT_SPEC.strip(),
    )
    user = render_template(
        "builder_user.j2",
        ctx=ctx,
        deliverables=[_deliverable(d) for d in ctx.deliverables],
        editable=[f for f in ctx.files if not f.read_only],
        read_only=[f for f in ctx.files if f.read_only],
    )
    return Prompt(system=system, user=user)


def complete_operation_lines(text: str) -> tuple[list[str], bool]:
    """The lines of ``text`` up to its last complete NDJSON operation, and whether a
    partial tail was dropped. A complete operation is a line holding one JSON object."""
    lines = text.splitlines()
    last = -1
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("{"):
            try:
                if isinstance(json.loads(stripped), dict):
                    last = index
            except json.JSONDecodeError:
                pass
    kept = [ln for ln in lines[: last + 1] if ln.strip() and not ln.strip().startswith("```")]
    return kept, last < len(lines) - 1


def _continuation(request: LLMRequest, first_user: str, kept: list[str]) -> LLMRequest:
    note = render_template(
        "builder_continue.j2", operations=len(kept), last=kept[-1][:300] if kept else None
    )
    if not kept:
        messages: tuple[Message, ...] = (Message("user", f"{first_user}\n\n{note}"),)
    else:
        messages = (
            Message("user", first_user),
            Message("assistant", "\n".join(kept)),
            Message("user", note),
        )
    return LLMRequest(
        role="builder",
        system=request.system,
        messages=messages,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        run_id=request.run_id,
        phase_id=request.phase_id,
        model=request.model,
        kind="continuation",
    )


#: Stop reasons that say the model finished its answer where it meant to.
_FINISHED = frozenset({"end", "stop_sequence", "tool_use"})


def stop_verdict(completion: Completion) -> bool | None:
    """Whether the provider cut the answer off: ``True`` (the token limit, or a content
    filter that stopped it mid-answer), ``False`` (it ended normally) or ``None`` (the
    provider did not say). The parser trusts this over anything the text suggests, so a
    complete diff with wrong hunk counts still applies."""
    if completion.truncated or completion.stop_reason == "content_filter":
        return True
    if completion.stop_reason in _FINISHED:
        return False
    return None


def _call_until_complete(
    client: LLMClient, request: LLMRequest, routing: Routing, max_continuations: int
) -> tuple[str, list[Completion]]:
    """Call, then continue while the answer is cut off, keeping complete operations."""
    first_user = request.messages[0].content
    completion = client.complete(request, routing)
    completions = [completion]
    text = completion.text
    while completion.truncated and len(completions) <= max_continuations:
        kept, _ = complete_operation_lines(text)
        completion = client.complete(_continuation(request, first_user, kept), routing)
        completions.append(completion)
        seen = set(kept)  # a model that repeats an operation must not apply it twice
        text = "\n".join([*kept, *(ln for ln in completion.text.splitlines() if ln not in seen)])
    return text, completions


def run_builder(
    client: LLMClient,
    ctx: BuilderContext,
    routing: Routing,
    *,
    max_continuations: int = MAX_CONTINUATIONS,
) -> BuilderAnswer:
    """One Builder attempt: budget, call, continue if truncated, parse, record the budget.

    An answer with no usable edit gets exactly one re-ask quoting the parser's
    diagnostics; if that fails too, OutputParseError carries the diagnostics and the
    answer text (``context["answer"]``) for the attempt record.
    """
    prompt = render_builder_prompt(ctx)
    choice = client.select("builder", routing)
    estimate = client.estimator.estimate(
        ctx.task_category,
        routing.complexity,
        len(ctx.deliverables),
        estimate_tokens(prompt.user),
        ctx.builder_mode,
        max_output_tokens=client.output_limit(choice.model),
    )
    request = prompt.request(
        "builder", max_tokens=estimate.budget, run_id=ctx.run_id, phase_id=ctx.phase_id
    )
    text, completions = _call_until_complete(client, request, routing, max_continuations)
    answer_calls = list(completions)
    truncated = completions[-1].truncated
    parsed = parse_model_output(text, stopped_early=stop_verdict(completions[-1]))
    reasked = False
    if not parsed.edits and not truncated:
        problems = "; ".join(map(describe_diagnostic, parsed.diagnostics)) or "no edits found"
        note = render_template(
            "reask.j2",
            error=problems,
            truncated=False,
            expected="NDJSON edit operations, one JSON object per line",
        )
        retry = replace(
            request,
            kind="reask",
            messages=(
                *request.messages,
                Message("assistant", text or "(empty answer)"),
                Message("user", note),
            ),
        )
        second = client.complete(retry, routing)
        completions.append(second)
        text, truncated, reasked = second.text, second.truncated, True
        parsed = parse_model_output(text, stopped_early=stop_verdict(second))
    client.record_estimation(_estimation_record(estimate, ctx, answer_calls))
    if not parsed.edits:
        raise OutputParseError(
            "the Builder's answer has no usable edit operation"
            + (" after one re-ask: " if reasked else ": ")
            + ("; ".join(str(d) for d in parsed.diagnostics) or "nothing parseable"),
            role="builder",
            run_id=ctx.run_id,
            phase_id=ctx.phase_id,
            answer=text[:20_000],
            diagnostics=[str(d) for d in parsed.diagnostics],
        )
    return BuilderAnswer(
        text=text,
        edits=list(parsed.edits),
        diagnostics=list(parsed.diagnostics),
        completions=completions,
        continued=len(answer_calls) > 1,
        truncated=truncated,
        estimate=estimate,
        model=completions[0].model,
        reasked=reasked,
        stopped_early=stop_verdict(completions[-1]),
    )


def _estimation_record(
    estimate: Estimate, ctx: BuilderContext, calls: list[Completion]
) -> EstimationRecord:
    """Budget vs. what the answer really needed: the output of the first call and its
    continuations (NULL when a provider reported no split)."""
    outputs = [c.usage.completion_tokens for c in calls]
    actual = None if None in outputs else sum(t for t in outputs if t is not None)
    return EstimationRecord(
        estimate=estimate,
        model=calls[0].model,
        run_id=ctx.run_id,
        phase_id=ctx.phase_id,
        actual_output_tokens=actual,
        truncated=calls[0].truncated,
    )
