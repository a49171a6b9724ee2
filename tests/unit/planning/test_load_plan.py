"""load_plan: YAML, JSON (RunSpec and the original's RunStartRequest) and Markdown files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autopack.domain.states import Complexity, SafetyProfile
from autopack.errors import PlanError
from autopack.planning import load_plan, plan_from_data

YAML_PLAN = """\
run_id: add-stats
goal: Add statistics
verify: python -m pytest -q
tiers:
  - tier_id: T1
    name: Core
  - tier_id: T2
    name: Quality
phases:
  - phase_id: freq
    tier_id: T1
    name: Frequencies
    complexity: LOW
    scope:
      paths: [textstats/]
      deliverables: [textstats/freq.py::word_frequencies]
  - phase_id: cli
    tier_id: T2
    name: CLI
    paths: textstats/cli.py
    read_only_context: [README.md]
"""

RUN_START_REQUEST = {
    "run": {
        "run_id": "legacy-run",
        "safety_profile": "safety_critical",
        "run_scope": "multi_tier",
        "token_cap": 100000,
        "max_phases": None,
        "max_duration_minutes": 30,
    },
    "tiers": [{"tier_id": "T1", "tier_index": 0, "name": "Core", "description": None}],
    "phases": [
        {
            "phase_id": "F1.1",
            "phase_index": 0,
            "tier_id": "T1",
            "name": "Schema",
            "description": None,
            "task_category": "schema_change",
            "complexity": None,
            "builder_mode": None,
        }
    ],
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Plans are loaded by relative path, so messages start with the bare file name.
    monkeypatch.chdir(tmp_path)


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return Path(name)


def test_yaml_runspec_with_legacy_flat_scope(tmp_path: Path) -> None:
    spec = load_plan(_write(tmp_path, "plan.yaml", YAML_PLAN))

    assert spec.run_id == "add-stats"
    assert spec.verify == "python -m pytest -q"
    freq, cli = spec.phases
    assert freq.complexity is Complexity.LOW
    assert freq.scope.deliverables == ["textstats/freq.py::word_frequencies"]
    assert cli.scope.paths == ["textstats/cli.py"]
    assert cli.scope.read_only_context[0].path == "README.md"


def test_yml_and_json_runspec_load_the_same(tmp_path: Path) -> None:
    from_yaml = load_plan(_write(tmp_path, "plan.yml", YAML_PLAN))
    data = from_yaml.model_dump(mode="json")
    from_json = load_plan(_write(tmp_path, "plan.json", json.dumps(data)))
    assert from_json == from_yaml


def test_json_run_start_request_nulls_take_defaults(tmp_path: Path) -> None:
    spec = load_plan(_write(tmp_path, "start.json", json.dumps(RUN_START_REQUEST)))

    assert spec.run_id == "legacy-run"
    assert spec.safety_profile is SafetyProfile.SAFETY_CRITICAL
    assert spec.budgets.token_cap == 100000
    assert spec.budgets.max_phases == 25
    assert spec.budgets.max_duration_minutes == 30
    assert spec.tiers[0].description == ""
    phase = spec.phases[0]
    assert (phase.phase_id, phase.task_category, phase.complexity) == (
        "F1.1",
        "schema_change",
        Complexity.MEDIUM,
    )


def test_yaml_run_start_request_is_accepted_too(tmp_path: Path) -> None:
    import yaml

    spec = load_plan(_write(tmp_path, "start.yaml", yaml.safe_dump(RUN_START_REQUEST)))
    assert spec.run_id == "legacy-run"


def test_markdown_file(tmp_path: Path) -> None:
    spec = load_plan(_write(tmp_path, "plan.markdown", "# Demo [id:md]\n## Core\n- Do it\n"))
    assert (spec.run_id, spec.phases[0].phase_id) == ("md", "do-it")


def test_run_id_argument_overrides_every_shape(tmp_path: Path) -> None:
    yaml_path = _write(tmp_path, "plan.yaml", YAML_PLAN)
    request_path = _write(tmp_path, "start.json", json.dumps(RUN_START_REQUEST))
    assert load_plan(yaml_path, run_id="mine").run_id == "mine"
    assert load_plan(request_path, run_id="mine").run_id == "mine"


def test_plan_without_run_id_gets_one_from_its_name_and_content(tmp_path: Path) -> None:
    text = "phases:\n  - phase_id: a\n    name: A\n"
    first = load_plan(_write(tmp_path, "my plan.yaml", text))
    again = load_plan(tmp_path / "my plan.yaml")
    assert first.run_id.startswith("my-plan-")
    assert first.run_id == again.run_id


def test_plan_from_data_without_id_or_seed_names_the_missing_field() -> None:
    with pytest.raises(PlanError) as info:
        plan_from_data({"phases": []}, source="body")
    assert info.value.field == "run_id"
    assert "run_id: required field is missing" in info.value.message


def _load_error(tmp_path: Path, name: str, text: str | bytes) -> PlanError:
    with pytest.raises(PlanError) as info:
        load_plan(_write(tmp_path, name, text))
    return info.value


def test_field_errors_name_file_line_and_field(tmp_path: Path) -> None:
    text = YAML_PLAN.replace("complexity: LOW", "complexity: hard").replace(
        "paths: textstats/cli.py", "paths: [1]"
    )
    err = _load_error(tmp_path, "plan.yaml", text)

    assert "plan.yaml: 2 problems in the plan" in err.message
    assert "plan.yaml:13: phases[0].complexity: Input should be 'low', 'medium' or 'high'" in (
        err.message
    )
    # A scope field written flat on the phase is found on its own line.
    assert "plan.yaml:20: phases[1].scope.paths[0]: Input should be a valid string" in (err.message)
    assert err.field == "phases[0].complexity"
    assert err.context["line"] == 13


def test_unknown_field_gets_a_spelling_suggestion(tmp_path: Path) -> None:
    text = "run_id: r\nphases:\n  - phase_id: a\n    name: A\n    complexty: low\n"
    err = _load_error(tmp_path, "plan.yaml", text)
    assert err.message == (
        "plan.yaml:5: phases[0].complexty: unknown field; did you mean 'complexity'? "
        "remove it or fix its spelling"
    )


def test_cross_field_error_from_the_contract_is_located(tmp_path: Path) -> None:
    text = YAML_PLAN.replace("tier_id: T2\n    name: CLI", "tier_id: T9\n    name: CLI")
    err = _load_error(tmp_path, "plan.yaml", text)
    assert err.message.startswith("plan.yaml:18: phases[1].tier_id 'T9' is not a tier")
    assert err.field == "phases[1].tier_id"


def test_run_start_request_errors_use_the_request_field_names(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(RUN_START_REQUEST))
    bad["run"]["token_cap"] = -5
    err = _load_error(tmp_path, "start.json", json.dumps(bad, indent=2))
    assert err.field == "run.token_cap"
    assert "start.json:6: run.token_cap: Input should be greater than or equal to 1" in (
        err.message
    )


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    err = _load_error(tmp_path, "plan.yaml", "run_id: r\nphases:\n  - phase_id: a\n   name: x\n")
    assert err.message.startswith("plan.yaml:4: YAML syntax error")
    assert err.context["line"] == 4


def test_json_syntax_error_names_the_line(tmp_path: Path) -> None:
    err = _load_error(tmp_path, "plan.json", '{"run_id": "r",\n "phases": [}')
    assert err.message.startswith("plan.json:2: JSON syntax error")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("plan.yaml", "", "the plan is empty"),
        ("plan.yaml", "- a\n- b\n", "the plan is a list"),
        ("plan.txt", "run_id: r\n", "cannot tell the plan format from the suffix '.txt'"),
        ("plan.yaml", b"run_id: r\ngoal: \xff\n", "plan.yaml:2: the plan is not valid UTF-8"),
    ],
)
def test_unusable_files_say_what_to_do(
    tmp_path: Path, name: str, text: str | bytes, expected: str
) -> None:
    assert expected in _load_error(tmp_path, name, text).message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan(tmp_path / "nope.yaml")
