"""Project shapes that real commits replayed through `autopack run` found
(benchmarks/replay_commits.py), each as a small real repository run end to end: the
detected test command, a real environment built offline, the scripted Builder and Auditor.

Each shape has its honest change, which must succeed, and a cheating one (a test taken
away), which must not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from executor_support import auditor, builder, git, op, write_plan, write_script
from sqlalchemy import select

from autopack.db.orm import DecisionLog
from autopack.db.session import unit_of_work
from autopack.settings import Settings


def commit_tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "initial")
    return root


def detected_phase(phase_id: str, paths: list[str]) -> dict[str, Any]:
    """A phase without scope.tests: verification runs what Autopack detects."""
    return {"phase_id": phase_id, "tier_id": "T1", "name": phase_id, "scope": {"paths": paths}}


def baseline_rationale(harness: Any, run_id: str) -> str:
    with unit_of_work(harness.db.factory) as session:
        rows = session.scalars(
            select(DecisionLog).where(
                DecisionLog.run_id == run_id, DecisionLog.decision == "baseline"
            )
        ).all()
        return " ".join(r.rationale for r in rows)


# --- a unittest suite in modules no runner collects by default ------------------------------
# asweigart/pytweening: setup.py (test_suite="tests") and tests/basicTests.py. pytest found
# no test files, the baseline read "no tests collected" as a project without tests, and
# every replay ended DONE_SUCCESS with no test run at all.

TWEEN = "def linear(n):\n    return n\n"
BASIC_TESTS = """import unittest

import tween


class Checks(object):
    def assertHalf(self, value):
        self.assertEqual(value, 0.5)


class TestLinear(unittest.TestCase, Checks):
    def test_zero(self):
        self.assertEqual(tween.linear(0), 0)

    def test_half(self):
        self.assertHalf(tween.linear(0.5))


if __name__ == "__main__":
    unittest.main()
"""
SETUP_PY = (
    "from setuptools import setup\n\n"
    "setup(name='tween', version='1.0', py_modules=['tween'], test_suite='tests')\n"
)
QUAD = "\n\ndef quad(n):\n    return n * n\n"


def tween_repo(tmp_path: Path) -> Path:
    return commit_tree(
        tmp_path / "tween",
        {"setup.py": SETUP_PY, "tween.py": TWEEN, "tests/basicTests.py": BASIC_TESTS},
    )


def test_a_unittest_suite_named_outside_test_py_is_run_and_judged_per_test(
    settings: Settings, tmp_path: Path, harness_factory: Any
) -> None:
    repo = tween_repo(tmp_path)
    plan = write_plan(tmp_path / "plan.yaml", "tween-quad", [detected_phase("quad", ["tween.py"])])
    script = write_script(
        tmp_path / "s.jsonl", [builder("quad", op("append", "tween.py", content=QUAD)),
                               auditor("quad")]
    )  # fmt: skip
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert "2 passed" in baseline_rationale(harness, run_id)


def test_a_test_deleted_from_a_unittest_module_named_outside_test_py_is_caught(
    settings: Settings, tmp_path: Path, harness_factory: Any
) -> None:
    repo = tween_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "tween-cheat",
        [detected_phase("quad", ["tween.py", "tests/basicTests.py"])],
    )
    without_zero = BASIC_TESTS.replace(
        "    def test_zero(self):\n        self.assertEqual(tween.linear(0), 0)\n\n", ""
    )
    cheat = builder(
        "quad",
        op("append", "tween.py", content=QUAD),
        op("replace_file", "tests/basicTests.py", content=without_zero),
    )
    script = write_script(tmp_path / "s.jsonl", [cheat, auditor("quad")])
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state != "DONE_SUCCESS"
    assert "test_zero" in (outcome.failure_reason or ""), outcome.failure_reason
