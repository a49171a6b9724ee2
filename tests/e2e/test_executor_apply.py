"""The executor applies a Builder's diff as the provider delivered it: complete when the
provider says the answer ended, whatever the diff's hunk counts claim."""

from __future__ import annotations

from pathlib import Path

from executor_support import (
    MUL_TEST,
    auditor,
    builder,
    git,
    make_repo,
    phase,
    write_plan,
    write_script,
)

from autopack.settings import Settings

# The calc.py hunk claims 4 old and 9 new lines for a body of 3 and 7, and ends on an
# added line (the function goes at the end of the file): a complete answer all the same.
DIFF = (
    "diff --git a/tests/test_mul.py b/tests/test_mul.py\n"
    "--- /dev/null\n"
    "+++ b/tests/test_mul.py\n"
    "@@ -0,0 +1,5 @@\n"
    + "".join(f"+{line}\n" for line in MUL_TEST.splitlines())
    + "diff --git a/calc.py b/calc.py\n"
    "--- a/calc.py\n"
    "+++ b/calc.py\n"
    "@@ -3,4 +3,9 @@\n"
    " \n"
    " def add(a: int, b: int) -> int:\n"
    "     return a + b\n"
    "+\n"
    "+\n"
    "+def mul(a: int, b: int) -> int:\n"
    "+    return a * b\n"
)


def test_a_complete_diff_with_wrong_counts_is_applied_and_committed(
    settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "diff-run",
        [phase("mul", paths=["calc.py", "tests/"], deliverables=["calc.py::mul"])],
    )
    script = write_script(tmp_path / "s.jsonl", [builder("mul", DIFF), auditor("mul")])
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    calc = git(repo, "show", "autopack/diff-run:calc.py")
    assert calc.endswith(
        "    return a + b\n\n\ndef mul(a: int, b: int) -> int:\n    return a * b\n"
    )
    assert git(repo, "show", "autopack/diff-run:tests/test_mul.py") == MUL_TEST
