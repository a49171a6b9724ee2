"""Project shapes that real commits replayed through `autopack run` found
(benchmarks/replay_commits.py), each as a small real repository run end to end: the
detected test command, a real environment built offline, the scripted Builder and Auditor.

Each shape has its honest change, which must succeed, and a cheating one (a test taken
away), which must not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from executor_support import auditor, builder, doctor, git, op, write_plan, write_script
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


# --- suites judged by their exit code only ----------------------------------------------
# pillarjs/path-to-regexp and jshttp/cookie: "test": "ts-scripts test && npm run size" runs
# vitest behind a wrapper, so no JUnit XML; a Builder that deleted a test ended
# DONE_SUCCESS ("removed tests cannot be checked"). The runner's printed summary counts
# are compared instead. Offline, the same shape is a Node package whose test script runs
# its node:test file directly (no --test flag, no reporter option), and a plan whose verify
# command is plain unittest.

NODE_CALC = "export function add(a, b) {\n  return a + b;\n}\n"
NODE_TESTS = """import { test } from "node:test";
import assert from "node:assert/strict";
import { add } from "../calc.mjs";

test("adds", () => {
  assert.equal(add(1, 2), 3);
});

test("adds negatives", () => {
  assert.equal(add(-1, -2), -3);
});
"""
NODE_PACKAGE = json.dumps(
    {"name": "calc", "version": "1.0.0", "type": "module",
     "scripts": {"test": "node test/calc.test.mjs"}}
)  # fmt: skip
NODE_SUB = "\nexport function sub(a, b) {\n  return a - b;\n}\n"


def node_repo(tmp_path: Path) -> Path:
    return commit_tree(
        tmp_path / "calc",
        {"package.json": NODE_PACKAGE, "calc.mjs": NODE_CALC, "test/calc.test.mjs": NODE_TESTS},
    )


NODE_CHEATS = {
    "honest": None,
    "deleted": NODE_TESTS.replace(
        'test("adds negatives", () => {\n  assert.equal(add(-1, -2), -3);\n});\n', ""
    ),
    "skipped": NODE_TESTS.replace('test("adds negatives"', 'test.skip("adds negatives"'),
}


@pytest.mark.parametrize("case", list(NODE_CHEATS))
def test_a_node_suite_judged_by_exit_code_still_sees_a_test_taken_away(
    case: str, settings: Settings, tmp_path: Path, harness_factory: Any
) -> None:
    repo = node_repo(tmp_path)
    cheat = NODE_CHEATS[case]
    ops = [op("append", "calc.mjs", content=NODE_SUB)]
    if cheat is not None:
        ops.append(op("replace_file", "test/calc.test.mjs", content=cheat))
    plan = write_plan(
        tmp_path / "plan.yaml", f"node-{case}",
        [detected_phase("sub", ["calc.mjs", "test/calc.test.mjs"])],
    )  # fmt: skip
    script = write_script(tmp_path / "s.jsonl", [builder("sub", *ops), auditor("sub")])
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert "exit-code" in baseline_rationale(harness, run_id)  # no per-test results
    if cheat is None:
        assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
        return
    assert outcome.state != "DONE_SUCCESS"
    reason = outcome.failure_reason or ""
    want = "1 tests passed, 2 in the baseline"
    assert want in reason, reason
    if case == "skipped":
        assert "1 skipped, 0 in the baseline" in reason, reason


UNITTEST_CALC = "def add(a, b):\n    return a + b\n"
UNITTEST_TESTS = """import unittest

from calc import add


class TestAdd(unittest.TestCase):
    def test_adds(self):
        self.assertEqual(add(1, 2), 3)

    def test_negatives(self):
        self.assertEqual(add(-1, -2), -3)
"""


def test_a_test_deleted_under_a_plain_unittest_command_is_caught(
    settings: Settings, tmp_path: Path, harness_factory: Any
) -> None:
    repo = commit_tree(
        tmp_path / "calc", {"calc.py": UNITTEST_CALC, "tests/test_calc.py": UNITTEST_TESTS}
    )
    without = UNITTEST_TESTS.replace(
        "\n    def test_negatives(self):\n        self.assertEqual(add(-1, -2), -3)\n", ""
    )
    plan = write_plan(
        tmp_path / "plan.yaml", "unittest-cheat",
        [detected_phase("sub", ["calc.py", "tests/test_calc.py"])],
        verify="python -m unittest discover -s tests",
    )  # fmt: skip
    ops = [
        op("append", "calc.py", content="\n\ndef sub(a, b):\n    return a - b\n"),
        op("replace_file", "tests/test_calc.py", content=without),
    ]
    script = write_script(tmp_path / "s.jsonl", [builder("sub", *ops), auditor("sub")])
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state != "DONE_SUCCESS"
    assert "1 tests passed, 2 in the baseline" in (outcome.failure_reason or "")


# --- a removal next to a failure that pre-dates the run -----------------------------------
# python-poetry/cleo and commander.js: a test failed in every baseline (Autopack forced
# NO_COLOR, and they test FORCE_COLOR). A Builder that deleted an in-scope test was told
# by hardening (scope_mismatch) to fix that old failure in a file outside its scope,
# instead of being told to restore the test it deleted.

OLD_FAILURE = "def test_colour():\n    assert False, 'fails before the run'\n"
SCOPED_TESTS = (
    "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_zero():\n    assert add(0, 0) == 0\n"
)


def test_a_deleted_test_is_reported_as_such_not_as_the_old_failure_beside_it(
    settings: Settings, tmp_path: Path, harness_factory: Any
) -> None:
    repo = commit_tree(
        tmp_path / "calc",
        {
            "pyproject.toml": "[tool.pytest.ini_options]\npythonpath = ['.']\n",
            "calc.py": UNITTEST_CALC,
            "tests/test_calc.py": SCOPED_TESTS,
            "tests/test_output.py": OLD_FAILURE,
        },
    )
    plan = write_plan(
        tmp_path / "plan.yaml",
        "old-failure",
        [detected_phase("sub", ["calc.py", "tests/test_calc.py"])],
    )
    sub = op("append", "calc.py", content="\n\ndef sub(a, b):\n    return a - b\n")
    cheat = op(
        "replace_file",
        "tests/test_calc.py",
        content=SCOPED_TESTS.split("\n\n\ndef test_zero")[0] + "\n",
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder("sub", sub, cheat),
            doctor("sub", "restore tests/test_calc.py::test_zero"),
            builder("sub", sub),
            auditor("sub"),
        ],
    )
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    with unit_of_work(harness.db.factory) as session:
        decisions = session.scalars(select(DecisionLog).where(DecisionLog.run_id == run_id)).all()
        hardening = [d.rationale for d in decisions if d.decision == "hardening"]
    assert hardening == []  # before: "The failure is in tests/test_output.py, which ..."
    [first] = [p for p in outcome.phases if p.phase_id == "sub"]
    assert first.builder_attempts == 2
