"""Running the agents through a real LLMClient: continuation, re-asks, escalation."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from autopack.agents.auditor import AuditorContext, review_parts, run_auditor
from autopack.agents.builder import (
    BuilderContext,
    complete_operation_lines,
    run_builder,
    stop_verdict,
)
from autopack.agents.doctor import DoctorContext, run_doctor
from autopack.errors import OutputParseError
from autopack.llm.base import Completion, Usage
from autopack.llm.router import Routing

OP1 = json.dumps({"op": "create", "path": "src/a.py", "content": "A = 1\n"})
OP2 = json.dumps({"op": "create", "path": "src/b.py", "content": "B = 2\n"})
OP3 = json.dumps({"op": "create", "path": "src/c.py", "content": "C = 3\n"})
ROUTING = Routing(category="feature", complexity="medium")


def builder_context() -> BuilderContext:
    return BuilderContext(
        run_id="r1",
        phase_id="p1",
        goal="G",
        phase_name="P",
        deliverables=["src/a.py", "src/b.py", "src/c.py"],
        allowed_paths=["src/"],
    )


def test_builder_answer_is_parsed_and_budget_recorded(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig(f"{OP1}\n{OP2}\n")
    answer = run_builder(r.client, builder_context(), ROUTING)
    assert [e.path for e in answer.edits] == ["src/a.py", "src/b.py"]
    assert not answer.continued and not answer.truncated and not answer.reasked
    assert answer.model == "claude-sonnet-4-5" and len(r.usage) == 1
    request = r.provider.requests[0]
    assert request.max_tokens == answer.estimate.budget
    assert request.role == "builder" and request.phase_id == "p1"
    (record,) = r.budgets
    assert record.estimate.deliverables_count == 3 and record.model == "claude-sonnet-4-5"
    assert record.actual_output_tokens == r.usage[0][1].usage.completion_tokens
    assert not record.truncated


def test_truncated_answer_continues_from_last_complete_operation(rig) -> None:  # type: ignore[no-untyped-def]
    cut = f'{OP1}\n{OP2}\n{{"op": "create", "path": "src/c.py", "cont'
    r = rig(
        (cut, "max_tokens", Usage.reported(500, 1000)),
        (f"{OP2}\n{OP3}\n", "end", Usage.reported(700, 300)),
    )
    answer = run_builder(r.client, builder_context(), ROUTING)

    assert [e.path for e in answer.edits] == ["src/a.py", "src/b.py", "src/c.py"]
    assert answer.continued and not answer.truncated and len(answer.completions) == 2
    continuation = r.provider.requests[1]
    user, assistant, note = continuation.messages
    assert user.content == r.provider.requests[0].messages[0].content
    assert assistant.role == "assistant" and assistant.content == f"{OP1}\n{OP2}"
    assert "2 complete operation(s)" in note.content and "src/b.py" in note.content
    assert len(r.usage) == 2  # each call is accounted for
    (record,) = r.budgets
    assert record.truncated and record.actual_output_tokens == 1300


def test_truncated_before_any_operation_asks_again_in_one_message(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig(('{"op": "create", "path": "src/a.py", "content": "A', "max_tokens"), f"{OP1}\n")
    answer = run_builder(r.client, builder_context(), ROUTING)
    assert len(answer.edits) == 1
    (message,) = r.provider.requests[1].messages
    assert "before its first operation was" in message.content


def test_continuations_are_bounded(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig(
        (f"{OP1}\n{{", "max_tokens"), (f"{OP2}\n{{", "max_tokens"), (f"{OP3}\n{{", "max_tokens")
    )
    answer = run_builder(r.client, builder_context(), ROUTING, max_continuations=2)
    assert answer.truncated and len(answer.completions) == 3
    assert [e.path for e in answer.edits] == ["src/a.py", "src/b.py", "src/c.py"]


def test_builder_reasks_once_then_fails_cleanly(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig("I would create a file.", f"{OP1}\n")
    answer = run_builder(r.client, builder_context(), ROUTING)
    assert answer.reasked and len(answer.edits) == 1
    assert "could not be read" in r.provider.requests[1].messages[-1].content

    r = rig("Sorry, I cannot.", "Still no edits.")
    with pytest.raises(OutputParseError, match="after one re-ask") as caught:
        run_builder(r.client, builder_context(), ROUTING)
    assert caught.value.context["answer"] == "Still no edits."
    assert len(r.provider.requests) == 2 and len(r.usage) == 2


def test_complete_operation_lines() -> None:
    kept, dropped = complete_operation_lines(f'```json\n{OP1}\n{OP2}\n{{"op": ')
    assert kept == [OP1, OP2] and dropped
    assert complete_operation_lines(f"{OP1}\n") == ([OP1], False)


def auditor_context() -> AuditorContext:
    return AuditorContext(
        run_id="r1",
        phase_id="p1",
        goal="G",
        phase_name="P",
        phase_description="",
        diff="+x",
        test_summary="ok",
    )


def test_auditor_reasks_exactly_once_with_the_error(rig) -> None:  # type: ignore[no-untyped-def]
    good = json.dumps(
        {"recommendation": "approve", "confidence": 0.9, "review_notes": "ok", "issues": []}
    )
    r = rig("Looks good to me!", good)
    result = run_auditor(r.client, auditor_context(), ROUTING)
    assert result.verdict.recommendation == "approve" and result.reasked
    reask = r.provider.requests[1]
    assert reask.messages[1].content == "Looks good to me!"
    assert "no JSON object" in reask.messages[2].content

    r = rig("nope", '{"recommendation": "ship it", "confidence": 1}')
    with pytest.raises(OutputParseError, match=r"even after one re-ask.*recommendation"):
        run_auditor(r.client, auditor_context(), ROUTING)
    assert len(r.provider.requests) == 2


def _verdict(recommendation: str, notes: str, confidence: float = 0.9, key: str = "") -> str:
    issues = [{"issue_key": key, "severity": "major", "description": notes}] if key else []
    return json.dumps(
        {
            "recommendation": recommendation,
            "confidence": confidence,
            "review_notes": notes,
            "issues": issues,
        }
    )


def _long_diff(files: int) -> str:
    """``files`` file diffs of ~45,000 characters each: one review part per file."""
    return "".join(
        f"diff --git a/f{i}.py b/f{i}.py\n--- a/f{i}.py\n+++ b/f{i}.py\n@@ -0,0 +1,1000 @@\n"
        + "".join(f"+line {n} of f{i}".ljust(44, "x") + "\n" for n in range(1000))
        for i in range(files)
    )


def test_a_long_diff_is_approved_only_when_every_part_is(rig) -> None:  # type: ignore[no-untyped-def]
    ctx = replace(auditor_context(), diff=_long_diff(3))
    r = rig(
        _verdict("approve", "first fine", 0.9),
        _verdict("approve", "second fine", 0.7, key="style"),
        _verdict("approve", "third fine", 0.8),
    )

    result = run_auditor(r.client, ctx, ROUTING)

    prompts = [req.messages[0].content for req in r.provider.requests]
    assert len(prompts) == 3 and len(result.completions) == 3 and len(r.usage) == 3
    for i, prompt in enumerate(prompts):
        assert f"part {i + 1} of 3" in prompt and f"line 999 of f{i}" in prompt
    verdict = result.verdict
    assert verdict.recommendation == "approve" and verdict.confidence == 0.7
    assert verdict.review_notes.splitlines() == [
        "part 1 of 3: first fine",
        "part 2 of 3: second fine",
        "part 3 of 3: third fine",
    ]
    assert [i.issue_key for i in verdict.issues] == ["style"]


def test_a_part_not_approved_ends_the_review_with_its_verdict(rig) -> None:  # type: ignore[no-untyped-def]
    ctx = replace(auditor_context(), diff=_long_diff(3))
    r = rig(
        _verdict("approve", "fine"),
        _verdict("revise", "f1.py shells out", key="shell"),
        _verdict("approve", "never asked"),
    )

    result = run_auditor(r.client, ctx, ROUTING)

    assert len(r.provider.requests) == 2
    assert result.verdict.recommendation == "revise"
    assert "part 2 of 3: f1.py shells out" in result.verdict.review_notes
    assert [i.issue_key for i in result.verdict.issues] == ["shell"]
    assert review_parts(ctx.diff) == 3 and review_parts("+x") == 1


def doctor_context() -> DoctorContext:
    return DoctorContext(
        run_id="r1",
        phase_id="p1",
        goal="G",
        phase_name="P",
        phase_description="",
        failure_class="ci_fail",
        error_message="boom",
    )


def test_doctor_low_confidence_asks_the_stronger_model(rig) -> None:  # type: ignore[no-untyped-def]
    unsure = json.dumps({"action": "replan", "confidence": 0.4, "rationale": "?"})
    sure = json.dumps(
        {
            "action": "retry_with_fix",
            "hint": "export it",
            "confidence": 0.9,
            "rationale": "missing export",
        }
    )
    r = rig(unsure, sure)
    result = run_doctor(r.client, doctor_context(), ROUTING)
    assert result.escalated and result.verdict.action == "retry_with_fix"
    assert [q.model for q in r.provider.requests] == ["claude-sonnet-4-5", "claude-opus-4-5"]

    r = rig(unsure)
    result = run_doctor(r.client, doctor_context(), Routing(complexity="high"))
    assert not result.escalated and result.verdict.action == "replan"  # nothing stronger


# A complete diff whose header overstates its counts: the provider's stop reason decides.
DIFF_WRONG_COUNTS = "--- a/src/a.py\n+++ b/src/a.py\n@@ -1,6 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n"


@pytest.mark.parametrize("stop", ["end", "stop_sequence", "other"])
def test_builder_trusts_the_stop_reason_over_hunk_counts(rig, stop: str) -> None:  # type: ignore[no-untyped-def]
    r = rig((DIFF_WRONG_COUNTS, stop))
    answer = run_builder(r.client, builder_context(), ROUTING)
    assert [e.path for e in answer.edits] == ["src/a.py"]
    assert not answer.truncated and not any("cut off" in d.reason for d in answer.diagnostics)


@pytest.mark.parametrize(
    ("stop", "verdict"),
    [
        ("end", False),
        ("stop_sequence", False),
        ("max_tokens", True),
        ("content_filter", True),
        ("other", None),
    ],
)
def test_stop_verdict(stop: str, verdict: bool | None) -> None:
    completion = Completion(
        text="",
        provider="p",
        model="m",
        usage=Usage.reported(1, 1),
        stop_reason=stop,  # type: ignore[arg-type]
    )
    assert stop_verdict(completion) is verdict
