"""`autopack plan`: YAML on stdout, warnings on stderr, nothing run; exit 0, or 2 on a bad plan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from autopack.cli import main as cli_main
from autopack.errors import PlanError
from autopack.planning import load_plan

MARKDOWN_PLAN = """\
# Stats [id:stats]

## Core [id:T1]
- Add word_frequencies() [paths:textstats/,tests/] [deliverables:textstats/freq.py]
  - counts ignore case
- Edit secrets [paths:.env] [deliverables:docs/secrets.md]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return root


@pytest.fixture
def runner() -> CliRunner:
    cli_main._register()
    return CliRunner()


def test_prints_the_normalized_plan_and_warnings(
    runner: CliRunner, repo: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text(MARKDOWN_PLAN)
    before = sorted(p.name for p in repo.iterdir())

    result = runner.invoke(cli_main.app, ["plan", str(plan), "--repo", str(repo)])

    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)
    assert printed["run_id"] == "stats"
    assert printed["repo"] == str(repo.resolve())
    assert printed["phases"][0]["scope"]["acceptance_criteria"] == ["counts ignore case"]
    assert printed["phases"][0]["complexity"] == "medium"
    assert printed["budgets"]["token_cap"] == 5_000_000  # defaults are shown, not hidden
    assert "warning [protected_path_in_scope] phase edit-secrets:" in result.stderr
    assert "warning [deliverable_outside_scope] phase edit-secrets:" in result.stderr
    assert "1 tier, 2 phases, 2 warnings; nothing was run" in result.stderr
    assert sorted(p.name for p in repo.iterdir()) == before


def test_printed_yaml_is_itself_a_plan_that_loads_to_the_same_spec(
    runner: CliRunner, repo: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text(MARKDOWN_PLAN)
    result = runner.invoke(
        cli_main.app, ["plan", str(plan), "--repo", str(repo), "--run-id", "renamed"]
    )
    out = tmp_path / "normalized.yaml"
    out.write_text(result.stdout)

    reloaded = load_plan(out)
    assert reloaded.run_id == "renamed"
    original = load_plan(plan, run_id="renamed").model_copy(update={"repo": str(repo.resolve())})
    assert reloaded == original


def test_bad_plan_raises_plan_error(runner: CliRunner, repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("run_id: r\nphases:\n  - phase_id: a\n    name: A\n    complexity: hard\n")
    result = runner.invoke(cli_main.app, ["plan", str(plan), "--repo", str(repo)])
    assert isinstance(result.exception, PlanError)
    assert result.exception.field == "phases[0].complexity"


def test_missing_repo_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text(MARKDOWN_PLAN)
    result = runner.invoke(cli_main.app, ["plan", str(plan), "--repo", str(tmp_path / "nope")])
    assert result.exception is not None
    assert "--repo" in str(result.exception)


def _autopack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "from autopack.cli.main import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_exit_codes_through_the_console_entry_point(repo: Path, tmp_path: Path) -> None:
    good = tmp_path / "plan.md"
    good.write_text(MARKDOWN_PLAN)
    bad = tmp_path / "bad.md"
    bad.write_text("## Core\n- Do it [complexty:low]\n")

    ok = _autopack("plan", str(good), "--repo", str(repo), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("run_id: stats\n")
    assert "2 warnings" in ok.stderr

    failed = _autopack("plan", str(bad), "--repo", str(repo), cwd=tmp_path)
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert "unknown tag 'complexty'" in failed.stderr
