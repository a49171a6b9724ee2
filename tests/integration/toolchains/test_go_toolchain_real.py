"""A Go module (standard library only) run for real with `go test -json ./...`.

One project per module: the first run fills Go's build cache, the later ones reuse it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.toolchains.detect import detect_best
from autopack.toolchains.results import TestReport
from autopack.verify import Baseline, FinalizerInputs, PhaseFinalizer, run_tests

WriteTreeT = Callable[[Path, dict[str, str]], Path]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("go") is None,
        reason="`go` is not installed (Debian: golang-go; .ci/run installs it)",
    ),
]

CALC_TEST = """\
package calc

import (
	"os"
	"testing"
	"time"
)

func TestAdd(t *testing.T) {
	if Add(1, 2) != 3 {
		t.Fatal("1+2 should be 3")
	}
}

func TestWrong(t *testing.T) {
	if Add(2, 2) != 5 {
		t.Errorf("want 5, got %d", Add(2, 2))
	}
}

func TestTable(t *testing.T) {
	t.Run("zero", func(t *testing.T) {})
	t.Run("later", func(t *testing.T) { t.Skip("not yet") })
}

func TestSlow(t *testing.T) {
	if os.Getenv("CALC_SLOW") != "" {
		time.Sleep(60 * time.Second)
	}
}
"""


@pytest.fixture(scope="module")
def gomod(tmp_path_factory: pytest.TempPathFactory, write_tree: WriteTreeT) -> Path:
    return write_tree(
        tmp_path_factory.mktemp("go") / "calc",
        {
            "go.mod": "module example.com/calc\n\ngo 1.18\n",
            "calc.go": "package calc\n\nfunc Add(a, b int) int { return a + b }\n",
            "calc_test.go": CALC_TEST,
            "util/util.go": "package util\n\nfunc Half(n int) int { return n / 2 }\n",
            "broken/broken.go": "package broken\n\nfunc X() int { return 1 \n",
            "broken/broken_test.go": 'package broken\n\nimport "testing"\n\n'
            "func TestX(t *testing.T) {}\n",
        },
    )


@pytest.fixture(scope="module")
def first_run(gomod: Path) -> TestReport:
    return run_tests(gomod, detect_best(gomod) or "", timeout=180)


def test_failures_subtests_and_build_failure(gomod: Path, first_run: TestReport) -> None:
    detection = detect_best(gomod)
    assert detection is not None and detection.toolchain == "go"
    report = first_run
    assert report.source == "go-json"
    outcomes = {t.id: t.outcome for t in report.tests}
    assert outcomes == {
        "example.com/calc::TestAdd": "passed",
        "example.com/calc::TestWrong": "failed",
        "example.com/calc::TestTable": "passed",
        "example.com/calc::TestTable/zero": "passed",
        "example.com/calc::TestTable/later": "skipped",
        "example.com/calc::TestSlow": "passed",
    }
    wrong = next(t for t in report.tests if t.outcome == "failed")
    assert "want 5, got 4" in wrong.message
    assert len(report.collection_errors) == 1
    assert report.collection_errors[0].startswith("example.com/calc/broken: build failed")
    assert "syntax error" in report.collection_errors[0]
    assert not report.passed


def test_pre_existing_failure_after_fixing_the_build(
    gomod: Path, first_run: TestReport, write_tree: WriteTreeT
) -> None:
    baseline = Baseline.from_report(first_run)
    write_tree(gomod, {"broken/broken.go": "package broken\n\nfunc X() int { return 1 }\n"})
    report = run_tests(gomod, detect_best(gomod) or "", timeout=180)
    delta = baseline.delta(report)
    assert delta.collection_errors == []
    assert delta.new_failures == []
    assert delta.still_failing == ["example.com/calc::TestWrong"]
    assert "example.com/calc/broken::TestX" in {t.id for t in report.tests}
    decision = PhaseFinalizer().decide(
        FinalizerInputs(worktree=gomod, delta=delta, deliverables=["broken/broken.go::X"])
    )
    assert decision.outcome == "complete", decision.reason


def test_passing_package_and_timeout(gomod: Path, first_run: TestReport) -> None:
    passing = run_tests(
        gomod, ["go", "test", "-json", "-run", "TestAdd|TestTable", "."], timeout=120
    )
    assert passing.passed, passing.log_tail
    assert passing.source == "go-json"

    started = time.monotonic()
    slow = run_tests(
        gomod, ["go", "test", "-json", "-run", "TestSlow", "."], timeout=5, env={"CALC_SLOW": "1"}
    )
    assert slow.timed_out and not slow.passed
    assert time.monotonic() - started < 20
