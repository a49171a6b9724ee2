"""The intention anchor (<= 2 KB, what matters first) and the drift check."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from autopack.agents.auditor import AuditorContext, render_auditor_prompt, render_goal_check_prompt
from autopack.agents.builder import BuilderContext, render_builder_prompt
from autopack.agents.doctor import DoctorContext, render_doctor_prompt
from autopack.domain.plan import RunSpec
from autopack.memory.intention import (
    MAX_ANCHOR_BYTES,
    build_anchor,
    check_drift,
    content_words,
    lexical_similarity,
    phase_summary,
)


def spec(**extra: Any) -> RunSpec:
    data: dict[str, Any] = {
        "run_id": "r1",
        "goal": "Add a multiplication function to the calculator",
        "tiers": [{"tier_id": "T1", "name": "Core arithmetic"}],
        "phases": [
            {
                "phase_id": "mul",
                "tier_id": "T1",
                "name": "Multiply",
                "scope": {"paths": ["calc.py"], "deliverables": ["calc.py::mul"]},
            }
        ],
        "protected_paths": ["migrations/"],
        **extra,
    }
    return RunSpec.model_validate(data)


def test_the_anchor_names_goal_constraints_tiers_phases_and_deliverables() -> None:
    anchor = build_anchor(spec(safety_profile="safety_critical", drift="blocking"))
    assert anchor.startswith("Goal: Add a multiplication function to the calculator")
    for part in (
        "safety_critical",
        "Never change: migrations/",
        "5,000,000 tokens",
        "T1 Core arithmetic",
        "mul: Multiply -> calc.py::mul",
        "Drift from this intention: blocking (threshold 0.2)",
    ):
        assert part in anchor, part


def test_a_huge_plan_is_cut_to_2kb_with_a_note_and_the_goal_first() -> None:
    phases = [
        {
            "phase_id": f"p{i}",
            "name": f"Phase number {i} with a long name ✓ " + "é" * 40,
            "scope": {"paths": ["src/"], "deliverables": [f"src/module_{i}.py"]},
        }
        for i in range(60)
    ]
    anchor = build_anchor(spec(phases=phases, tiers=[]))
    assert len(anchor.encode("utf-8")) <= MAX_ANCHOR_BYTES
    assert anchor.startswith("Goal: Add a multiplication")
    assert "more line(s) of the plan left out)" in anchor
    assert "p0: Phase number 0" in anchor and "p59:" not in anchor


def test_a_goal_longer_than_the_limit_is_cut_at_a_character() -> None:
    anchor = build_anchor(spec(goal="ü" * 3000))
    assert len(anchor.encode("utf-8")) <= MAX_ANCHOR_BYTES
    anchor.encode("utf-8").decode("utf-8")  # no split character
    assert anchor.startswith("Goal: üü") and anchor.endswith(" ...")


@pytest.mark.parametrize("limit", [64, 200, 700, 2048])
def test_every_limit_is_held(limit: int) -> None:
    phases = [{"phase_id": f"p{i}", "name": "x" * 50} for i in range(40)]
    assert len(build_anchor(spec(phases=phases, tiers=[]), limit=limit).encode()) <= limit


def test_content_words_drop_stop_words_and_split_paths() -> None:
    assert content_words("The tests of calc_tools.py were changed") == {"test", "calc", "tool"}


def test_lexical_similarity_is_high_on_topic_and_low_off_topic() -> None:
    anchor = build_anchor(spec())
    on_topic = phase_summary(
        "Multiply", ["calc.py", "tests/test_mul.py"], ["mul multiplies two numbers correctly"]
    )
    off_topic = phase_summary(
        "Multiply",
        ["billing/invoice.py", "billing/templates/email.html"],
        ["reworked invoice email rendering and currency formatting for customers"],
    )
    high = check_drift(anchor, on_topic, mode="advisory", threshold=0.2)
    low = check_drift(anchor, off_topic, mode="advisory", threshold=0.2)
    assert high.score >= 0.4 and not high.drifted
    assert low.score < 0.2 and low.drifted
    assert lexical_similarity("", anchor) == 0.0


def test_a_long_phase_description_is_not_drift_but_off_topic_changes_are() -> None:
    anchor = build_anchor(spec())
    goal = (
        "Multiply\nImplement mul(a, b) by repeated doubling, handling negative integers "
        "and overflow carefully; document the algorithm in the docstring"
    )
    on_topic = phase_summary(goal, ["calc.py"], ["mul handles negative integers via doubling"])
    assert check_drift(anchor, on_topic, mode="blocking", threshold=0.2).score >= 0.7
    off_topic = phase_summary(goal, ["billing/invoice.py"], ["reworked invoice emails"])
    assert check_drift(anchor, off_topic, mode="blocking", threshold=0.2).blocks
    # A phase that changed nothing is judged by its goal against the anchor.
    idle = phase_summary("Multiply calc", [], [])
    assert check_drift(anchor, idle, mode="advisory", threshold=0.2).score == 1.0


def test_drift_results_are_advisory_or_blocking_by_the_plan() -> None:
    invoice = phase_summary("Multiply", ["invoice.py"], ["email"])
    advisory = check_drift("calculator multiply", invoice, mode="advisory", threshold=0.2)
    assert advisory.method == "lexical" and advisory.score == 0.0
    assert advisory.drifted and not advisory.blocks
    assert "drifted from" in advisory.explain("mul")
    blocking = check_drift("calculator multiply", invoice, mode="blocking", threshold=0.2)
    assert blocking.blocks and "drift: blocking" in blocking.explain("mul")
    seen: list[tuple[str, str]] = []

    def cosine(summary: str, anchor: str) -> float:
        seen.append((summary, anchor))
        return 0.93

    fine = check_drift("anchor", invoice, mode="blocking", threshold=0.5, similarity=cosine)
    assert fine.method == "semantic" and fine.score == 0.93 and not fine.blocks
    assert seen == [("Multiply\ninvoice.py\nemail", "anchor")]
    clamped = check_drift("a", invoice, mode="advisory", threshold=0.5, similarity=lambda s, a: -1)
    assert clamped.score == 0.0


def test_the_plan_fields_default_to_advisory_and_are_validated() -> None:
    assert (spec().drift, spec().drift_threshold) == ("advisory", 0.2)
    with pytest.raises(ValidationError, match="drift"):
        spec(drift="strict")
    with pytest.raises(ValidationError, match="drift_threshold"):
        spec(drift_threshold=1.5)


def test_the_builder_prompt_carries_the_anchor() -> None:
    anchor = build_anchor(spec())
    prompt = render_builder_prompt(
        BuilderContext(
            run_id="r1", phase_id="mul", goal="g", phase_name="Multiply", intention=anchor
        )
    )
    assert "# The run's intention" in prompt.user and anchor in prompt.user
    bare = render_builder_prompt(
        BuilderContext(run_id="r1", phase_id="mul", goal="g", phase_name="M")
    )
    assert "# The run's intention" not in bare.user


def test_the_auditor_goal_check_and_doctor_prompts_carry_the_anchor() -> None:
    anchor = build_anchor(spec())
    audit = AuditorContext(
        run_id="r1",
        phase_id="mul",
        goal="g",
        phase_name="Multiply",
        phase_description="",
        diff="",
        test_summary="ok",
        intention=anchor,
    )
    doctor = DoctorContext(
        run_id="r1",
        phase_id="mul",
        goal="g",
        phase_name="Multiply",
        phase_description="",
        failure_class="ci_fail",
        error_message="boom",
        intention=anchor,
    )
    for prompt in (
        render_auditor_prompt(audit),
        render_goal_check_prompt(audit, []),
        render_doctor_prompt(doctor),
    ):
        assert anchor in prompt.user
