"""The offline demo's bundled assets: a loadable plan, a script that fits it, a green project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autopack.demo import EXAMPLE_PROJECT, PLAN_FILE, SCRIPT_FILE, demo_assets_dir
from autopack.planning import load_plan, preflight

ROLES = {"builder", "auditor", "doctor"}
EDIT_OPS = {"create", "replace_file", "search_replace", "append"}


def _script() -> list[dict[str, object]]:
    text = (demo_assets_dir() / SCRIPT_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_plan_loads_as_two_tiers_and_four_phases() -> None:
    spec = load_plan(demo_assets_dir() / PLAN_FILE)

    assert spec.run_id == "demo"
    assert [t.tier_id for t in spec.tiers] == ["T1", "T2"]
    assert [p.phase_id for p in spec.ordered_phases()] == [
        "word-frequencies",
        "reading-time",
        "cli",
        "docs",
    ]
    for phase in spec.phases:
        assert phase.scope.paths and phase.scope.deliverables and phase.scope.acceptance_criteria
        assert phase.scope.tests == ["python -m pytest -q"]
    assert any("::" in d for p in spec.phases for d in p.scope.deliverables)


def test_plan_passes_preflight_against_the_example_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(demo_assets_dir() / EXAMPLE_PROJECT, project)
    (project / ".git").mkdir()  # the demo makes the copy a git repository
    assert preflight(load_plan(demo_assets_dir() / PLAN_FILE), project) == []


def test_script_lines_fit_the_plan_and_the_output_contracts() -> None:
    phase_ids = {p.phase_id for p in load_plan(demo_assets_dir() / PLAN_FILE).phases}
    for number, line in enumerate(_script(), start=1):
        assert line["role"] in ROLES, number
        assert line["phase_id"] in phase_ids, number
        usage = line["usage"]
        assert isinstance(usage, dict)
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
        content = line["content"]
        assert isinstance(content, str)
        if line["role"] == "builder":
            ops = [json.loads(op) for op in content.splitlines() if op.strip()]
            assert ops and all(op["op"] in EDIT_OPS and op["path"] for op in ops), number
        elif line["role"] == "auditor":
            verdict = json.loads(content)
            assert verdict["recommendation"] in {"approve", "revise", "escalate"}
            assert 0 <= verdict["confidence"] <= 1
            for issue in verdict["issues"]:
                assert issue["severity"] in {"minor", "major"} and issue["issue_key"]
        else:
            diagnosis = json.loads(content)
            assert diagnosis["action"] == "retry_with_fix" and diagnosis["hint"]


def test_script_tells_the_story_in_call_order() -> None:
    story = []
    for line in _script():
        step = str(line["role"])
        if step == "auditor":
            step += ":" + json.loads(str(line["content"]))["recommendation"]
        story.append((line["phase_id"], step))
    assert story == [
        ("word-frequencies", "builder"),
        ("word-frequencies", "auditor:approve"),
        ("reading-time", "builder"),  # fails the tests
        ("reading-time", "doctor"),
        ("reading-time", "builder"),
        ("reading-time", "auditor:approve"),
        ("cli", "builder"),
        ("cli", "auditor:revise"),
        ("cli", "builder"),
        ("cli", "auditor:approve"),
        ("docs", "builder"),
        ("docs", "auditor:approve"),
    ]


def _pytest(project: Path) -> subprocess.CompletedProcess[str]:
    # The example project needs nothing but pytest; skipping this environment's other
    # plugins (hypothesis, schemathesis, ...) keeps each run fast.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.slow
def test_example_project_suite_passes_in_a_copy(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(demo_assets_dir() / EXAMPLE_PROJECT, project)
    result = _pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


def _apply(project: Path, content: str) -> None:
    """Apply a Builder answer the plain way: exact anchors, creates of new files only."""
    # Deliberately not governed apply: the assets must work with the simplest reading of
    # the operations, and this test must not change when the apply machinery does.
    for raw in content.splitlines():
        op = json.loads(raw)
        target = project / op["path"]
        if op["op"] == "create":
            assert not target.exists(), op["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(op["content"], encoding="utf-8")
        elif op["op"] == "replace_file":
            target.write_text(op["content"], encoding="utf-8")
        elif op["op"] == "search_replace":
            text = target.read_text(encoding="utf-8")
            assert text.count(op["old"]) == 1, op["path"]
            target.write_text(text.replace(op["old"], op["new"]), encoding="utf-8")
        else:
            target.write_text(target.read_text(encoding="utf-8") + op["content"], "utf-8")


@pytest.mark.slow
def test_builder_answers_fail_and_pass_the_tests_as_the_story_says(tmp_path: Path) -> None:
    """Each Builder attempt starts from the tree its phase started from (the savepoint)."""
    project = tmp_path / "project"
    shutil.copytree(demo_assets_dir() / EXAMPLE_PROJECT, project)
    outcomes: list[tuple[object, bool]] = []
    savepoint: Path | None = None
    phase = None
    for line in _script():
        if line["phase_id"] != phase:
            phase = line["phase_id"]
            savepoint = tmp_path / f"save-{phase}"
            shutil.copytree(project, savepoint)
        if line["role"] != "builder":
            continue
        assert savepoint is not None
        shutil.rmtree(project)
        shutil.copytree(savepoint, project)
        _apply(project, str(line["content"]))
        outcomes.append((phase, _pytest(project).returncode == 0))

    assert outcomes == [
        ("word-frequencies", True),
        ("reading-time", False),
        ("reading-time", True),
        ("cli", True),
        ("cli", True),
        ("docs", True),
    ]
    assert (project / "docs" / "usage.md").is_file()
    assert "## Command line" in (project / "README.md").read_text(encoding="utf-8")
