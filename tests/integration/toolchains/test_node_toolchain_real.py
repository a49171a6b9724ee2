"""Node projects run for real with `npm test` -> `node --test` (no npm packages needed).

jest, vitest, yarn and pnpm are covered by detection tests (tests/unit/toolchains): they
would have to be installed from the registry to run.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.toolchains.detect import detect_best
from autopack.toolchains.node import node_supports_junit
from autopack.verify import Baseline, FinalizerInputs, PhaseFinalizer, compute_delta, run_tests

WriteTreeT = Callable[[Path, dict[str, str]], Path]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="node/npm are not installed on this machine",
    ),
]

PACKAGE = json.dumps({"name": "calc", "version": "1.0.0", "scripts": {"test": "node --test"}})
CALC = "exports.add = (a, b) => a + b;\n"
TESTS_OK = """\
const test = require('node:test');
const assert = require('node:assert');
const { add } = require('../calc.js');
test('adds', () => { assert.strictEqual(add(1, 2), 3); });
test.describe('negative', () => {
  test.it('adds negatives', () => { assert.strictEqual(add(-1, -1), -2); });
  test.it.skip('later', () => {});
});
"""
TEST_WRONG = """\
const test = require('node:test');
const assert = require('node:assert');
const { add } = require('../calc.js');
test('wrong', () => { assert.strictEqual(add(2, 2), 5); });
"""


def project(root: Path, write_tree: WriteTreeT, **extra: str) -> Path:
    return write_tree(
        root, {"package.json": PACKAGE, "calc.js": CALC, "test/calc.test.js": TESTS_OK, **extra}
    )


@pytest.fixture(autouse=True)
def _junit_reporter() -> None:
    if not node_supports_junit():
        pytest.skip("this Node has no junit test reporter (needs v20.13+)")


def test_passing_suite_through_npm_test(tmp_path: Path, write_tree: WriteTreeT) -> None:
    root = project(tmp_path / "n", write_tree)
    detection = detect_best(root)
    assert detection is not None and detection.toolchain == "node"
    assert detection.test_command == ["npm", "test"] and detection.report_format == "junit"
    report = run_tests(root, detection, timeout=60)
    assert report.passed, report.log_tail
    assert {t.id: t.outcome for t in report.tests} == {
        "test::adds": "passed",
        "test::adds negatives": "passed",
        "test::later": "skipped",
    }


def test_failing_test_and_unloadable_file(tmp_path: Path, write_tree: WriteTreeT) -> None:
    root = project(
        tmp_path / "n",
        write_tree,
        **{"test/wrong.test.js": TEST_WRONG, "test/broken.test.js": "const x = ;\n"},
    )
    report = run_tests(root, detect_best(root) or "", timeout=60)
    assert report.exit_code == 1
    assert report.failing_ids == ["test::wrong"]
    assert "5" in report.tests[-1].message or "strictly equal" in report.tests[-1].message
    assert len(report.collection_errors) == 1
    assert report.collection_errors[0].startswith("test/broken.test.js: could not be loaded")
    decision = PhaseFinalizer().decide(FinalizerInputs(worktree=root, delta=compute_delta(report)))
    assert decision.outcome == "retry"


def test_timeout(tmp_path: Path, write_tree: WriteTreeT) -> None:
    hang = "require('node:test')('hangs', () => new Promise(r => setTimeout(r, 60000)));\n"
    root = project(tmp_path / "n", write_tree, **{"test/hang.test.js": hang})
    started = time.monotonic()
    report = run_tests(root, detect_best(root) or "", timeout=3)
    assert report.timed_out and not report.passed
    assert time.monotonic() - started < 15


def test_pre_existing_failure(tmp_path: Path, write_tree: WriteTreeT) -> None:
    root = project(tmp_path / "n", write_tree, **{"test/wrong.test.js": TEST_WRONG})
    baseline = Baseline.from_report(run_tests(root, detect_best(root) or "", timeout=60))
    assert baseline.failing == {"test::wrong"}
    write_tree(
        root,
        {
            "calc.js": CALC + "exports.mul = (a, b) => a * b;\n",
            "test/mul.test.js": "const test = require('node:test');\n"
            "const assert = require('node:assert');\n"
            "test('mul', () => assert.strictEqual(require('../calc.js').mul(2, 3), 6));\n",
        },
    )
    delta = baseline.delta(run_tests(root, detect_best(root) or "", timeout=60))
    assert delta.new_failures == [] and delta.still_failing == ["test::wrong"]
    decision = PhaseFinalizer().decide(
        FinalizerInputs(worktree=root, delta=delta, deliverables=["calc.js::mul"])
    )
    assert decision.outcome == "complete", decision.reason
