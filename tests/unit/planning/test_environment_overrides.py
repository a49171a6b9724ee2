"""Environment overrides: the plan's setup/env/baseline fields, the Markdown title tags, and
the repository's .autopack.yaml (read, never written; the plan wins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.domain.plan import RunSpec
from autopack.errors import ConfigurationError, PlanError
from autopack.planning import parse_markdown_plan, plan_from_data
from autopack.planning.project_config import (
    PROJECT_CONFIG_FILE,
    ProjectConfig,
    merge_overrides,
    read_project_config,
)

PHASES = [{"phase_id": "p1", "name": "Phase one"}]


def spec(**fields: object) -> RunSpec:
    return plan_from_data({"run_id": "r1", "phases": PHASES, **fields})


def test_plan_fields_default_to_no_overrides_and_a_required_baseline() -> None:
    plain = spec()
    assert (plain.setup, plain.env, plain.baseline) == ([], {}, "required")


def test_plan_fields_are_read_and_a_single_setup_string_is_one_command() -> None:
    given = spec(setup="make generate", env={"APP_MODE": "test"}, baseline="allow_failing")
    assert given.setup == ["make generate"]
    assert given.env == {"APP_MODE": "test"}
    assert given.baseline == "allow_failing"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"baseline": "sometimes"}, "baseline", "required"),
        ({"env": {"1BAD": "x"}}, "env", "not a variable name"),
        ({"env": {"AUTOPACK_HOME": "/tmp"}}, "env", "never passed to project commands"),
    ],
)
def test_bad_override_fields_are_plan_errors_naming_the_field(
    fields: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(PlanError) as caught:
        spec(**fields)
    assert caught.value.field is not None and caught.value.field.startswith(field)
    assert words in caught.value.message


def test_markdown_title_tags_set_setup_env_and_baseline() -> None:
    plan = parse_markdown_plan(
        "# Fix the suite [id:fix] [setup:make generate] [setup:python tools/seed.py] "
        "[env:APP_MODE=test] [env:DSN=sqlite:///x.db] [baseline:allow_failing]\n\n"
        "- Repair the imports\n"
    )
    assert plan.setup == ["make generate", "python tools/seed.py"]
    assert plan.env == {"APP_MODE": "test", "DSN": "sqlite:///x.db"}
    assert plan.baseline == "allow_failing"


@pytest.mark.parametrize(
    ("title", "words"),
    [
        ("# Run [env:NOVALUE]", "needs NAME=VALUE"),
        ("# Run [env:A=1] [env:A=2]", "set twice"),
        ("# Run [setup: ]", "needs a command"),
        ("# Run [baseline:whatever]", "baseline"),
    ],
)
def test_markdown_override_tag_mistakes_name_the_line(title: str, words: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_markdown_plan(f"{title}\n\n- Do a thing\n", source="plan.md")
    assert caught.value.message.startswith("plan.md:1")
    assert words in caught.value.message


def test_setup_tag_on_a_phase_is_refused_because_setup_belongs_to_the_run() -> None:
    with pytest.raises(PlanError) as caught:
        parse_markdown_plan("# Run\n\n- Do a thing [setup:make]\n", source="plan.md")
    assert "unknown tag 'setup' on a phase" in caught.value.message


def test_project_config_is_optional(tmp_path: Path) -> None:
    assert read_project_config(tmp_path) is None


def test_project_config_is_read_with_yaml_scalars_as_text(tmp_path: Path) -> None:
    (tmp_path / PROJECT_CONFIG_FILE).write_text(
        "setup: make generate\nenv:\n  DEBUG: 1\n  FAST: yes\n", encoding="utf-8"
    )
    config = read_project_config(tmp_path)
    assert config == ProjectConfig(setup=["make generate"], env={"DEBUG": "1", "FAST": "true"})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("setup: [make\n", "YAML syntax error"),
        ("- make\n", "expected a mapping"),
        ("setpu: [make]\n", "setpu"),
        ("env: {'bad name': x}\n", "not a variable name"),
        ("notifications: [{channel: tg, events: [approval_neded]}]\n", "notifications.0.events"),
        ("notifications: [{chanel: tg}]\n", "chanel"),
    ],
)
def test_a_broken_project_config_names_the_file_and_the_problem(
    tmp_path: Path, text: str, words: str
) -> None:
    (tmp_path / PROJECT_CONFIG_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        read_project_config(tmp_path)
    assert caught.value.message.startswith(PROJECT_CONFIG_FILE)
    assert words in caught.value.message


def test_the_plan_wins_over_the_project_config() -> None:
    config = ProjectConfig(setup=["make a"], env={"A": "file", "B": "file"})
    merged = merge_overrides(spec(setup=["make b"], env={"B": "plan"}), config)
    assert merged.setup == ["make b"]
    assert merged.env == {"A": "file", "B": "plan"}
    assert merged.sources == [PROJECT_CONFIG_FILE, "plan"]


def test_the_project_config_applies_when_the_plan_says_nothing() -> None:
    merged = merge_overrides(spec(), ProjectConfig(setup=["make a"], env={"A": "1"}))
    assert (merged.setup, merged.env) == (["make a"], {"A": "1"})
    assert merged.sources == [PROJECT_CONFIG_FILE]
    assert merge_overrides(spec(), None).sources == []


def test_notification_routes_default_to_every_run_event(tmp_path: Path) -> None:
    (tmp_path / PROJECT_CONFIG_FILE).write_text(
        "notifications:\n  - channel: mail\n  - channel: tg\n    events: [approval_needed]\n",
        encoding="utf-8",
    )
    config = read_project_config(tmp_path)
    assert config is not None and config.notifications is not None
    mail, tg = config.notifications
    assert set(mail.events) == {
        "approval_needed",
        "run_finished",
        "run_failed",
        "phase_failed",
        "budget_80",
    }
    assert tg.events == ["approval_needed"]
