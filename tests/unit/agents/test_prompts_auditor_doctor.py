"""Auditor and Doctor prompts and verdict parsing."""

from __future__ import annotations

import json

import pytest

from autopack.agents.auditor import (
    DIFF_CHAR_LIMIT,
    AuditorContext,
    parse_auditor_verdict,
    render_auditor_prompt,
    split_diff,
    unreadable_changes,
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


def _file_diff(path: str, hunks: int, lines: int, width: int = 40) -> str:
    head = (
        f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"
    )
    body = "".join(
        f"@@ -{h * 100},0 +{h * 100},{lines} @@ def f{h}():\n"
        + "".join(f"+{path}:{h}:{n}:".ljust(width, "x") + "\n" for n in range(lines))
        for h in range(hunks)
    )
    return head + body


def test_a_diff_too_long_for_one_review_is_cut_into_parts_that_hold_every_line() -> None:
    one_line = (
        "diff --git a/min.js b/min.js\n--- a/min.js\n+++ b/min.js\n@@ -1 +1 @@\n+"
        + ("Q" * 5_000)
        + "\n"
    )
    diff = (
        _file_diff("a.py", 2, 10)
        + _file_diff("big.py", 12, 30)  # longer than a part: cut between hunks
        + _file_diff("huge_hunk.py", 1, 200)  # one hunk longer than a part
        + one_line  # one line longer than a part
        + _file_diff("z.py", 1, 3)
    )
    limit = 2_000

    parts = split_diff(diff, limit)

    assert len(parts) > 5 and all(p.startswith("diff --git ") for p in parts)
    assert all(len(p) <= limit + 200 for p in parts)  # a repeated header at most
    seen = "".join(parts)
    for line in diff.splitlines():
        if line.startswith("+Q"):
            continue
        assert line in seen, line
    assert seen.count("Q") == 5_000  # the long line is all there, cut into pieces
    # In order, and a part going on with a file (or a hunk) repeats its header.
    assert parts[0].startswith("diff --git a/a.py") and "z.py" in parts[-1]
    huge = [p for p in parts if "huge_hunk.py:0:" in p]
    assert len(huge) > 2 and all(p.count("@@ -0,0 +0,200 @@") == 1 for p in huge)
    assert split_diff(diff, len(diff)) == [diff]


def test_changes_a_diff_shows_as_binary_are_named() -> None:
    diff = (
        _file_diff("a.py", 1, 2)
        + "diff --git a/tests/zz helper.py b/tests/zz helper.py\nnew file mode 100644\n"
        + "Binary files /dev/null and b/tests/zz helper.py differ\n"
        + "diff --git a/logo.png b/logo.png\nBinary files a/logo.png and b/logo.png differ\n"
        + "diff --git a/old.bin b/old.bin\ndeleted file mode 100644\n"
        + "Binary files a/old.bin and /dev/null differ\n"
    )
    assert unreadable_changes(diff) == ["tests/zz helper.py", "logo.png"]
    assert unreadable_changes(_file_diff("a.py", 2, 3)) == []


def test_the_auditor_prompt_shows_its_part_of_a_long_diff() -> None:
    diff = _file_diff("a.py", 1, 1000)  # ~45,000 characters
    ctx = auditor_context(diff + _file_diff("b.py", 1, 1000))
    assert len(ctx.diff) > DIFF_CHAR_LIMIT

    first = render_auditor_prompt(ctx, part=1)
    second = render_auditor_prompt(ctx, part=2)

    assert "## Diff, part 1 of 2" in first.user and "a.py:0:999:" in first.user
    assert "## Diff, part 2 of 2" in second.user and "b.py:0:999:" in second.user
    assert "b.py" not in first.user and "omitted" not in first.user + second.user
    assert "part 1 of" not in render_auditor_prompt(auditor_context()).user


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
