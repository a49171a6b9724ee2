"""Deterministic fixes stick: a hardening mitigation that changes the worktree is made
again after the reset that starts the next attempt, and lands with the phase."""

from __future__ import annotations

from pathlib import Path

from executor_support import auditor, builder, git, make_repo, op, phase, write_plan, write_script

from autopack.settings import Settings

CHECK_SCRIPT = "#!/bin/sh\necho ok\n"
TOOL_TEST = """import subprocess
from pathlib import Path


def test_check_script_runs() -> None:
    script = Path(__file__).resolve().parent.parent / "tools" / "check.sh"
    out = subprocess.run([str(script)], capture_output=True, text=True, check=True)
    assert out.stdout == "ok\\n"
"""


def test_a_chmod_fix_survives_the_reset_and_lands_with_the_phase(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    # tools/check.sh is committed without its execute bit; the Builder's new test runs it.
    repo = make_repo(tmp_path, {"tools/check.sh": CHECK_SCRIPT})
    plan = write_plan(tmp_path / "plan.yaml", "chmod-fix", [phase("tool", paths=["tests/"])])
    answer = op("create", "tests/test_tool.py", content=TOOL_TEST)
    # The same answer twice: only the fix between the attempts can make the second pass.
    script = write_script(
        tmp_path / "s.jsonl", [builder("tool", answer), builder("tool", answer), auditor("tool")]
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert outcome.phases[0].builder_attempts == 2
    mode = git(repo, "ls-tree", f"autopack/{run_id}", "tools/check.sh").split()[0]
    assert mode == "100755"
    assert git(repo, "ls-tree", "main", "tools/check.sh").split()[0] == "100644"
    # One commit for the phase: the fix is part of it, not left loose on the branch.
    log = git(repo, "log", "--format=%s", f"main..autopack/{run_id}").splitlines()
    assert log == ["tool: Phase tool"]
