"""A standard-library-only Rust crate run for real with `cargo test --offline`.

One crate per module (cargo builds are the slow part); the tests change it step by step.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.toolchains.detect import detect_best
from autopack.toolchains.results import TestReport
from autopack.verify import Baseline, FinalizerInputs, PhaseFinalizer, compute_delta, run_tests

WriteTreeT = Callable[[Path, dict[str, str]], Path]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cargo") is None, reason="`cargo` is not installed"),
]

LIB = """\
/// Adds two numbers.
///
/// ```
/// assert_eq!(calc::add(1, 2), 3);
/// ```
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(1, 2), 3);
    }

    #[test]
    fn wrong() {
        assert_eq!(add(2, 2), 5, "two and two");
    }

    #[test]
    #[ignore]
    fn later() {}

    #[test]
    fn slow() {
        if std::env::var("CALC_SLOW").is_ok() {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
}
"""


@pytest.fixture(scope="module")
def crate(tmp_path_factory: pytest.TempPathFactory, write_tree: WriteTreeT) -> Path:
    return write_tree(
        tmp_path_factory.mktemp("rust") / "calc",
        {
            "Cargo.toml": '[package]\nname = "calc"\nversion = "0.1.0"\nedition = "2021"\n',
            "src/lib.rs": LIB,
            "tests/api.rs": "#[test]\nfn public_api() {\n    assert_eq!(calc::add(2, 3), 5);\n}\n",
        },
    )


@pytest.fixture(scope="module")
def first_run(crate: Path) -> TestReport:
    return run_tests(crate, detect_best(crate) or "", timeout=300)


def test_failing_test_ignored_doc_and_integration_tests(first_run: TestReport) -> None:
    report = first_run
    assert report.source == "cargo"
    assert {t.id: t.outcome for t in report.tests} == {
        "src/lib.rs::tests::adds": "passed",
        "src/lib.rs::tests::wrong": "failed",
        "src/lib.rs::tests::later": "skipped",
        "src/lib.rs::tests::slow": "passed",
        "tests/api.rs::public_api": "passed",
        "doc::src/lib.rs - add": "passed",
    }
    assert "two and two" in next(t for t in report.tests if t.outcome == "failed").message
    assert report.exit_code == 101 and not report.passed


def test_compile_error_then_pre_existing_failure(
    crate: Path, first_run: TestReport, write_tree: WriteTreeT
) -> None:
    baseline = Baseline.from_report(first_run)
    write_tree(crate, {"src/lib.rs": LIB.replace("    a + b\n", "    a + c\n")})
    broken = run_tests(crate, detect_best(crate) or "", timeout=300)
    assert broken.tests == []
    assert len(broken.collection_errors) == 1
    assert broken.collection_errors[0].startswith("error[E0425]: cannot find value `c`")
    decision = PhaseFinalizer().decide(
        FinalizerInputs(worktree=crate, delta=baseline.delta(broken))
    )
    assert decision.outcome == "retry" and "collection error" in decision.reason

    write_tree(crate, {"src/lib.rs": LIB + "\npub fn mul(a: i32, b: i32) -> i32 {\n    a * b\n}\n"})
    fixed = run_tests(crate, detect_best(crate) or "", timeout=300)
    delta = baseline.delta(fixed)
    assert delta.new_failures == [] and delta.still_failing == ["src/lib.rs::tests::wrong"]
    decision = PhaseFinalizer().decide(
        FinalizerInputs(worktree=crate, delta=delta, deliverables=["src/lib.rs::mul"])
    )
    assert decision.outcome == "complete", decision.reason


def test_passing_subset_and_timeout(crate: Path, first_run: TestReport) -> None:
    passing = run_tests(crate, ["cargo", "test", "--offline", "--lib", "adds"], timeout=300)
    assert passing.passed, passing.log_tail
    assert [t.id for t in passing.tests] == ["src/lib.rs::tests::adds"]
    assert compute_delta(passing).new_failures == []

    started = time.monotonic()
    slow = run_tests(
        crate, ["cargo", "test", "--offline", "--lib", "slow"], timeout=4, env={"CALC_SLOW": "1"}
    )
    assert slow.timed_out and not slow.passed
    assert time.monotonic() - started < 20
