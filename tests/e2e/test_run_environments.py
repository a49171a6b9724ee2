"""Runs in their own environment: a broken starting point stops the run before any model
call, project tests never see Autopack's packages, and what the tests ran with is recorded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from executor_support import (
    auditor,
    builder,
    make_repo,
    mul_ops,
    op,
    phase,
    write_plan,
    write_script,
)
from sqlalchemy import func, select

from autopack.db.orm import DecisionLog, LlmUsageEvent, PhaseAttempt, Run
from autopack.db.session import unit_of_work
from autopack.settings import Settings
from environment_fixtures import local_wheels, wheelhouse

#: A test module that needs a package nobody declared: the suite cannot be collected.
UNDECLARED_IMPORT = "import undeclared_helper\n\n\ndef test_helper() -> None:\n    assert True\n"

#: Passes only when Autopack's own packages are out of the project's reach.
ISOLATION_TEST = """import importlib.util


def test_autopack_and_its_dependencies_are_not_importable() -> None:
    for name in ("autopack", "sqlalchemy", "fastapi", "anthropic"):
        assert importlib.util.find_spec(name) is None, name
"""


def counts(harness, run_id: str) -> tuple[int, int]:
    """(LLM usage rows, phase attempt rows) of the run."""
    with unit_of_work(harness.db.factory) as session:
        usage = session.scalar(
            select(func.count()).select_from(LlmUsageEvent).where(LlmUsageEvent.run_id == run_id)
        )
        attempts = session.scalar(
            select(func.count()).select_from(PhaseAttempt).where(PhaseAttempt.run_id == run_id)
        )
    return int(usage or 0), int(attempts or 0)


def test_a_baseline_that_cannot_collect_ends_the_run_with_zero_llm_calls(
    settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path, {"tests/test_helper.py": UNDECLARED_IMPORT})
    plan = write_plan(
        tmp_path / "plan.yaml",
        "broken-base",
        [phase("mul", paths=["calc.py", "tests/"], deliverables=["calc.py::mul"])],
    )
    # Before the gate, this suite got three Builder answers, a Doctor and a replan.
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")] * 3)
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_FAILED_ENVIRONMENT"
    assert counts(harness, run_id) == (0, 0)
    assert outcome.tokens_used == 0
    assert [p.builder_attempts for p in outcome.phases] == [0]
    assert not [e for e, _ in harness.events if e in ("builder", "auditor", "doctor")]
    reason = outcome.failure_reason or ""
    for needed in (
        "baseline not usable: the tests could not be collected",
        "-m pytest",  # the command
        "(exit code 2)",
        "diagnosis: python_missing_dep",
        "No module named 'undeclared_helper'",
        "fix: ",
        "baseline: allow_failing",
    ):
        assert needed in reason, (needed, reason)
    errors = Path(outcome.artifacts) / "errors"
    [report] = [json.loads(p.read_text()) for p in errors.glob("*_baseline_unusable.json")]
    assert report["context"]["exit_code"] == 2
    assert "undeclared_helper" in report["context"]["log_tail"]
    with unit_of_work(harness.db.factory) as session:
        run = session.get(Run, run_id)
        assert run is not None and run.baseline is None  # measured again on resume
        decisions = [d.decision for d in session.scalars(select(DecisionLog))]
    assert "baseline_unusable" in decisions


def test_allow_failing_records_a_broken_baseline_and_builds_on_it(
    settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path, {"tests/test_helper.py": UNDECLARED_IMPORT})
    fixed_helper = json.dumps(
        {"op": "create", "path": "undeclared_helper.py", "content": "VALUE = 1\n"}
    )
    plan = write_plan(
        tmp_path / "plan.yaml",
        "repair-suite",
        [phase("fix", paths=["undeclared_helper.py"], deliverables=["undeclared_helper.py"])],
        baseline="allow_failing",
    )
    script = write_script(tmp_path / "s.jsonl", [builder("fix", fixed_helper), auditor("fix")])
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert counts(harness, run_id)[0] == 2  # the Builder and the Auditor, once each
    with unit_of_work(harness.db.factory) as session:
        decisions = [d.decision for d in session.scalars(select(DecisionLog))]
    assert "baseline_allowed_failing" in decisions


def test_project_tests_cannot_import_autopack_and_the_environment_is_recorded(
    settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path, {"tests/test_isolation.py": ISOLATION_TEST})
    plan = write_plan(
        tmp_path / "plan.yaml",
        "isolated",
        [phase("mul", paths=["calc.py", "tests/"], deliverables=["calc.py::mul"])],
    )
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    with unit_of_work(harness.db.factory) as session:
        run = session.get(Run, run_id)
        assert run is not None and run.baseline is not None
        baseline = {t["id"]: t["outcome"] for t in run.baseline["report"]["tests"]}
    isolation = [k for k in baseline if k.endswith("_are_not_importable")]
    assert [baseline[k] for k in isolation] == ["passed"], baseline
    record = json.loads((Path(outcome.artifacts) / "env.json").read_text())
    assert record["toolchain"] == "python"
    interpreter = Path(record["interpreter"])
    assert interpreter.is_absolute()
    assert not interpreter.is_relative_to(sys.prefix)  # not Autopack's virtualenv
    events = [e for e, _ in harness.events]
    assert events.index("environment") < events.index("baseline")
    assert "environment_ready" in events


def test_a_phase_that_adds_a_dependency_is_verified_in_a_rebuilt_environment(
    tmp_path: Path, harness_factory, monkeypatch
) -> None:
    wheels = local_wheels(tmp_path / "wheels")
    monkeypatch.setenv("AUTOPACK_ENV_FIND_LINKS", f"{wheelhouse()},{wheels}")
    settings = Settings(home=tmp_path / "home")
    pyproject = (
        '[project]\nname = "calc"\nversion = "0.1.0"\ndependencies = []\n\n'
        "[tool.pytest.ini_options]\npythonpath = ['.']\n"
    )
    repo = make_repo(tmp_path, {"pyproject.toml": pyproject})
    uses_dep = "import tinydep\n\n\ndef test_tinydep() -> None:\n    assert tinydep.VALUE == 42\n"
    answer = builder(
        "dep",
        op(
            "search_replace",
            "pyproject.toml",
            old="dependencies = []",
            new='dependencies = ["tinydep>=1"]',
        ),
        op("create", "tests/test_dep.py", content=uses_dep),
    )
    plan = write_plan(
        tmp_path / "plan.yaml",
        "add-dep",
        [phase("dep", paths=["pyproject.toml", "tests/"], deliverables=["tests/test_dep.py"])],
    )
    script = write_script(tmp_path / "s.jsonl", [answer, auditor("dep")])
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert [p.builder_attempts for p in outcome.phases] == [1]
    events = [e for e, _ in harness.events]
    assert "environment_rebuild" in events
    assert events.index("environment_rebuild") < events.index("verify")
    record = json.loads((Path(outcome.artifacts) / "env.json").read_text())
    assert record["reason"] == "phase dep changed a manifest"
    assert any(i.startswith("tinydep") for i in record["installed"]), record["installed"]
