"""The plan contract: RunSpec defaults, ids, tiers, legacy shapes, the original request."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from autopack.domain.plan import MAX_COUNT, RunSpec, spec_from_run_start
from autopack.domain.states import Complexity, SafetyProfile
from autopack.errors import PlanError


def spec(**data: Any) -> RunSpec:
    return RunSpec.model_validate({"run_id": "r1", **data})


def test_the_smallest_plan_gets_every_default() -> None:
    s = spec(phases=[{"phase_id": "p1", "name": "First"}])
    assert s.name == "r1"
    assert s.goal == ""
    assert s.safety_profile is SafetyProfile.NORMAL
    assert s.run_scope == "multi_tier"
    assert (s.budgets.token_cap, s.budgets.max_phases, s.budgets.max_duration_minutes) == (
        5_000_000,
        25,
        120,
    )
    assert s.budgets.ci_run_cap is None
    assert [(t.tier_id, t.tier_index) for t in s.tiers] == [("T1", 0)]
    phase = s.phases[0]
    assert phase.tier_id == "T1"
    assert phase.phase_index == 0
    assert phase.task_category == "feature"
    assert phase.complexity is Complexity.MEDIUM
    assert phase.budgets.max_builder_attempts == 5
    assert phase.budgets.max_auditor_attempts == 2
    assert phase.scope.paths == [] and phase.scope.deliverables == []


def test_minor_issue_budget_defaults_to_three_per_phase() -> None:
    s = spec(phases=[{"phase_id": f"p{i}", "name": "x"} for i in range(4)])
    assert s.budgets.max_minor_issues_total is None
    assert s.effective_max_minor_issues() == 12
    assert spec(budgets={"max_minor_issues_total": 1}).effective_max_minor_issues() == 1


def test_a_run_without_phases_has_no_tiers() -> None:
    assert spec().tiers == []


@pytest.mark.parametrize("run_id", ["F2.3", "fileorg-phase2-beta", "a_b-c.d", "7", "x" * 128])
def test_slug_ids_are_accepted(run_id: str) -> None:
    s = RunSpec.model_validate({"run_id": run_id, "phases": [{"phase_id": run_id, "name": "n"}]})
    assert s.run_id == run_id
    assert s.phases[0].phase_id == run_id


@pytest.mark.parametrize(
    "bad", ["", "a b", "../x", "a..b", "-x", ".x", "x.", "x.lock", "a/b", "é", "x" * 129, "a;rm"]
)
def test_ids_that_break_urls_or_branch_names_are_refused(bad: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        RunSpec.model_validate({"run_id": bad})
    assert "is not a valid id" in str(caught.value)
    with pytest.raises(pydantic.ValidationError):
        spec(phases=[{"phase_id": bad, "name": "n"}])


@pytest.mark.parametrize("tier_id", ["Auth & Security", "T1", "Tier 2: data/model", "🚀"])
def test_tier_ids_are_short_free_text(tier_id: str) -> None:
    s = spec(
        tiers=[{"tier_id": tier_id, "name": "x"}],
        phases=[{"phase_id": "p", "name": "n", "tier_id": tier_id}],
    )
    assert s.phases[0].tier_id == tier_id


@pytest.mark.parametrize("bad", ["", "   ", "x" * 101])
def test_tier_ids_must_be_1_to_100_characters(bad: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        spec(tiers=[{"tier_id": bad, "name": "x"}])


def test_duplicate_phase_ids_are_a_plan_error_naming_the_second() -> None:
    with pytest.raises(PlanError) as caught:
        spec(
            phases=[
                {"phase_id": "p", "name": "a"},
                {"phase_id": "q", "name": "b"},
                {"phase_id": "p", "name": "c"},
            ]
        )
    assert caught.value.field == "phases[2].phase_id"
    assert "'p' is not unique" in caught.value.message


def test_duplicate_tier_ids_are_a_plan_error() -> None:
    with pytest.raises(PlanError) as caught:
        spec(tiers=[{"tier_id": "T1", "name": "a"}, {"tier_id": "T1", "name": "b"}])
    assert caught.value.field == "tiers[1].tier_id"


def test_unknown_tier_reference_names_the_field_and_the_known_tiers() -> None:
    with pytest.raises(PlanError) as caught:
        spec(
            tiers=[{"tier_id": "T1", "name": "a"}, {"tier_id": "Auth & Security", "name": "b"}],
            phases=[
                {"phase_id": "p", "name": "a", "tier_id": "T1"},
                {"phase_id": "q", "name": "b", "tier_id": "T9"},
            ],
        )
    assert caught.value.field == "phases[1].tier_id"
    assert caught.value.code == "invalid_plan"
    assert "'T9'" in caught.value.message
    assert "Auth & Security, T1" in caught.value.message


def test_tier_reference_without_declared_tiers_is_an_error() -> None:
    with pytest.raises(PlanError) as caught:
        spec(
            phases=[
                {"phase_id": "p", "name": "a"},
                {"phase_id": "q", "name": "b", "tier_id": "Backend"},
            ]
        )
    assert caught.value.field == "phases[1].tier_id"


def test_a_phase_without_tier_in_a_multi_tier_run_must_say_which() -> None:
    with pytest.raises(PlanError) as caught:
        spec(
            tiers=[{"tier_id": "A", "name": "a"}, {"tier_id": "B", "name": "b"}],
            phases=[{"phase_id": "p", "name": "a"}],
        )
    assert caught.value.field == "phases[0].tier_id"


def test_a_phase_without_tier_joins_the_only_tier() -> None:
    s = spec(tiers=[{"tier_id": "Core", "name": "c"}], phases=[{"phase_id": "p", "name": "a"}])
    assert s.phases[0].tier_id == "Core"


def test_legacy_read_only_context_strings_become_entries() -> None:
    s = spec(
        phases=[
            {
                "phase_id": "p",
                "name": "n",
                "scope": {"read_only_context": ["docs/a.md", {"path": "b.py", "reason": "API"}]},
            }
        ]
    )
    ctx = s.phases[0].scope.read_only_context
    assert [(c.path, c.reason) for c in ctx] == [("docs/a.md", ""), ("b.py", "API")]


def test_legacy_bucketed_deliverables_are_flattened_in_order() -> None:
    s = spec(
        phases=[
            {
                "phase_id": "p",
                "name": "n",
                "scope": {
                    "deliverables": {
                        "code": ["src/a.py", "src/b.py::build"],
                        "tests": ["tests/test_a.py"],
                        "docs": "README.md",
                    }
                },
            }
        ]
    )
    assert s.phases[0].scope.deliverables == [
        "src/a.py",
        "src/b.py::build",
        "tests/test_a.py",
        "README.md",
    ]


def test_legacy_flat_scope_and_budget_fields_on_the_phase_are_moved() -> None:
    s = spec(
        phases=[
            {
                "phase_id": "p",
                "name": "n",
                "paths": "src/",
                "deliverables": ["x.py"],
                "max_builder_attempts": 3,
                "complexity": " HIGH ",
            }
        ]
    )
    phase = s.phases[0]
    assert phase.scope.paths == ["src/"]
    assert phase.scope.deliverables == ["x.py"]
    assert phase.budgets.max_builder_attempts == 3
    assert phase.complexity is Complexity.HIGH


def test_legacy_flat_run_budgets_are_moved_and_none_means_default() -> None:
    s = spec(token_cap=1000, max_phases=None)
    assert s.budgets.token_cap == 1000
    assert s.budgets.max_phases == 25


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        spec(phases=[{"phase_id": "p", "name": "n", "scpoe": {}}])
    assert "scpoe" in str(caught.value)


def test_indexes_follow_list_order_unless_given() -> None:
    s = spec(
        tiers=[{"tier_id": "B", "name": "b"}, {"tier_id": "A", "name": "a"}],
        phases=[
            {"phase_id": "p0", "name": "x", "tier_id": "A"},
            {"phase_id": "p1", "name": "x", "tier_id": "B"},
            {"phase_id": "p2", "name": "x", "tier_id": "A", "phase_index": 10},
        ],
    )
    assert [(t.tier_id, t.tier_index) for t in s.tiers] == [("B", 0), ("A", 1)]
    assert [p.phase_index for p in s.phases] == [0, 1, 10]
    # Execution order: tier by tier (B first), then by phase index.
    assert [p.phase_id for p in s.ordered_phases()] == ["p1", "p0", "p2"]


def test_given_indexes_decide_the_execution_order() -> None:
    s = spec(
        tiers=[
            {"tier_id": "late", "name": "l", "tier_index": 5},
            {"tier_id": "early", "name": "e", "tier_index": 1},
        ],
        phases=[
            {"phase_id": "b", "name": "x", "tier_id": "late", "phase_index": 0},
            {"phase_id": "a", "name": "x", "tier_id": "early", "phase_index": 2},
            {"phase_id": "c", "name": "x", "tier_id": "early", "phase_index": 1},
        ],
    )
    assert [p.phase_id for p in s.ordered_phases()] == ["c", "a", "b"]


@pytest.mark.parametrize(
    "budgets",
    [{"token_cap": 0}, {"max_phases": 0}, {"token_cap": MAX_COUNT + 1}, {"ci_run_cap": 0}],
)
def test_budgets_out_of_range_are_refused(budgets: dict[str, int]) -> None:
    with pytest.raises(pydantic.ValidationError):
        spec(budgets=budgets)


# -- the original RunStartRequest ---------------------------------------------------------
RUN_START: dict[str, Any] = {
    "run": {
        "run_id": "fileorg-phase2-beta",
        "safety_profile": "safety_critical",
        "run_scope": "single_tier",
        "token_cap": 900_000,
        "max_phases": 9,
        "max_duration_minutes": None,
    },
    "tiers": [
        {"tier_id": "T1", "tier_index": 0, "name": "Fixes", "description": None},
        {"tier_id": "Auth & Security", "tier_index": 1, "name": "Auth", "description": "tighten"},
    ],
    "phases": [
        {
            "phase_id": "fileorg-p2-test-fixes",
            "phase_index": 0,
            "tier_id": "T1",
            "name": "Test fixes",
            "description": None,
            "task_category": "schema_change",
            "complexity": "low",
            "builder_mode": "tweak_light",
        },
        {
            "phase_id": "F2.3",
            "phase_index": 1,
            "tier_id": "Auth & Security",
            "name": "Tokens",
            "description": "rotate",
            "task_category": None,
            "complexity": None,
            "builder_mode": None,
        },
    ],
}


def test_spec_from_run_start_keeps_every_field_and_defaults_the_nones() -> None:
    s = spec_from_run_start(RUN_START)
    assert s.run_id == "fileorg-phase2-beta"
    assert s.safety_profile is SafetyProfile.SAFETY_CRITICAL
    assert s.run_scope == "single_tier"
    assert s.budgets.token_cap == 900_000
    assert s.budgets.max_phases == 9
    assert s.budgets.max_duration_minutes == 120
    assert [(t.tier_id, t.tier_index, t.description) for t in s.tiers] == [
        ("T1", 0, ""),
        ("Auth & Security", 1, "tighten"),
    ]
    first, second = s.phases
    assert (first.task_category, first.complexity, first.builder_mode) == (
        "schema_change",
        Complexity.LOW,
        "tweak_light",
    )
    assert (second.task_category, second.complexity, second.builder_mode) == (
        "feature",
        Complexity.MEDIUM,
        None,
    )
    assert second.tier_id == "Auth & Security"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"run": {"run_id": "a b"}}, "run.run_id"),
        ({"run": {"run_id": "r", "token_cap": 0}}, "run.token_cap"),
        ({"run": {"run_id": "r", "safety_profile": "yolo"}}, "run.safety_profile"),
        (
            {
                "phases": [
                    {
                        "phase_id": "p",
                        "phase_index": 0,
                        "tier_id": "T1",
                        "name": "n",
                        "complexity": "extreme",
                    }
                ]
            },
            "phases[0].complexity",
        ),
        (
            {"phases": [{"phase_id": "p", "phase_index": -1, "tier_id": "T1", "name": "n"}]},
            "phases[0].phase_index",
        ),
        (
            {"phases": [{"phase_id": "p", "phase_index": 0, "tier_id": "T9", "name": "n"}]},
            "phases[0].tier_id",
        ),
    ],
)
def test_spec_from_run_start_refusals_are_plan_errors_named_as_the_request_spells_them(
    change: dict[str, Any], field: str
) -> None:
    # Regression: these escaped as a bare pydantic ValidationError (an HTTP 500).
    payload = {
        "run": {"run_id": "r"},
        "tiers": [{"tier_id": "T1", "tier_index": 0, "name": "t"}],
        "phases": [],
        **change,
    }
    with pytest.raises(PlanError) as caught:
        spec_from_run_start(payload)
    assert caught.value.field == field
    assert field in caught.value.message
