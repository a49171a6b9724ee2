"""Auditor and Doctor prompts and verdict parsing."""

from __future__ import annotations

import json

import pytest

from autopack.agents.auditor import (
    DIFF_CHAR_LIMIT,
    AuditorContext,
    parse_auditor_verdict,
    render_auditor_prompt,
)
from autopack.agents.doctor import DoctorContext, parse_doctor_verdict, render_doctor_prompt
from autopack.errors import OutputParseError


def auditor_context(diff: str = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n") -> AuditorContext:
    return AuditorContext(
        run_id="r",
        phase_id="p1",
        goal="Goal.",
        phase_name="Phase one",
        phase_description="Do it.",
        diff=diff,
        test_summary="2 new passes, 0 new failures",
        deliverables=["src/x.py"],
        acceptance_criteria=["x works"],
    )


def test_auditor_prompt_has_diff_tests_and_criteria() -> None:
    prompt = render_auditor_prompt(auditor_context())
    assert "```diff\n--- a/x" in prompt.user
    assert "2 new passes, 0 new failures" in prompt.user
    assert "- x works" in prompt.user and "- src/x.py" in prompt.user
    assert '"recommendation": "approve" | "revise" | "escalate"' in prompt.system


def test_auditor_prompt_clips_huge_diffs() -> None:
    prompt = render_auditor_prompt(auditor_context("+" * (DIFF_CHAR_LIMIT + 500)))
    assert "500 more characters of the diff omitted" in prompt.user


def test_verdict_parsing_is_lenient_about_form() -> None:
    text = (
        "Here you go:\n```json\n"
        + json.dumps(
            {
                "recommendation": "Approved",
                "confidence": "high",
                "review_notes": "fine",
                "issues": [
                    {
                        "severity": "critical",
                        "category": "security",
                        "description": "Token logged",
                        "evidence_refs": "src/x.py:4",
                    },
                    {"issue_key": "style_nit", "severity": "nit"},
                ],
            }
        )
        + "\n```"
    )
    verdict = parse_auditor_verdict(text)
    assert verdict.recommendation == "approve" and verdict.confidence == 0.85
    first, second = verdict.issues
    assert first.severity == "major" and first.issue_key == "security_token_logged"
    assert first.evidence_refs == ["src/x.py:4"]
    assert second.severity == "minor"


@pytest.mark.parametrize(
    ("value", "expected"), [(0.4, 0.4), ("85%", 0.85), (90, 0.9), ("0.7", 0.7), ("low", 0.3)]
)
def test_confidence_forms(value: object, expected: float) -> None:
    verdict = parse_auditor_verdict(json.dumps({"recommendation": "revise", "confidence": value}))
    assert verdict.confidence == pytest.approx(expected)


@pytest.mark.parametrize(
    "payload",
    [
        {"recommendation": "maybe", "confidence": 0.5},
        {"recommendation": "approve", "confidence": 7000},
        {"recommendation": "approve"},
        {"recommendation": "approve", "confidence": 0.5, "issues": [{"severity": "huge"}]},
    ],
)
def test_invalid_verdicts_name_the_problem(payload: dict[str, object]) -> None:
    with pytest.raises(OutputParseError, match="verdict is invalid"):
        parse_auditor_verdict(json.dumps(payload))


def test_doctor_prompt_and_verdict() -> None:
    ctx = DoctorContext(
        run_id="r",
        phase_id="p1",
        goal="G",
        phase_name="P",
        phase_description="D",
        failure_class="ci_fail",
        error_message="ImportError: cannot import name 'slugify'",
        attempt_summaries=["builder: 2 edits, tests failed"],
        logs="E   ImportError",
        builder_attempts=2,
    )
    prompt = render_doctor_prompt(ctx)
    assert "Class: ci_fail" in prompt.user and "1. builder: 2 edits" in prompt.user
    assert "Builder attempts used: 2 of 5" in prompt.user
    assert '"retry_with_fix" | "replan"' in prompt.system
    verdict = parse_doctor_verdict(
        '{"action": "retry", "hint": "export slugify", '
        '"confidence": "medium", "rationale": "missing export"}'
    )
    assert verdict.action == "retry_with_fix" and verdict.confidence == 0.6
    with pytest.raises(OutputParseError, match="needs a hint"):
        parse_doctor_verdict('{"action": "retry_with_fix", "confidence": 0.9}')
    with pytest.raises(OutputParseError, match="action"):
        parse_doctor_verdict('{"action": "pray", "confidence": 0.9}')
