"""Real pytest runs: every way of making a passing test stop counting is caught.

The project's baseline is taken first; then one change is made the way a Builder could
make it, the same command runs again, and the tests gate must fail naming the test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.toolchains.detect import detect_best
from autopack.verify import Baseline, FinalizerInputs, PhaseFinalizer, TestDelta, run_tests

pytestmark = pytest.mark.slow
WriteTreeT = Callable[[Path, dict[str, str]], Path]

VENV_PYTHON = f'#!/bin/sh\nPYTEST_DISABLE_PLUGIN_AUTOLOAD=1 exec "{sys.executable}" "$@"\n'
PYPROJECT = "[project]\nname = 'calc'\nversion = '0'\n[tool.pytest.ini_options]\n"
CALC = "def add(a, b):\n    return a + b\n"
TEST_CALC = (
    "import pytest\nfrom calc import add\n\n"
    "def test_add():\n    assert add(1, 2) == 3\n\n"
    "def test_negative():\n    assert add(-1, -2) == -3\n\n"
    "@pytest.mark.parametrize('n', [1, 2, 3])\n"
    "def test_zero(n):\n    assert add(n, 0) == n\n"
)
TEST_OTHER = "def test_other():\n    assert True\n"
NEGATIVE = "tests.test_calc::test_negative"
ALL_CALC = [
    "tests.test_calc::test_add",
    NEGATIVE,
    "tests.test_calc::test_zero[1]",
    "tests.test_calc::test_zero[2]",
    "tests.test_calc::test_zero[3]",
]


def changed(root: Path, write_tree: WriteTreeT, files: dict[str, str | None]) -> TestDelta:
    """Baseline, then the change (None deletes a file), then the same command again."""
    write_tree(
        root,
        {
            "pyproject.toml": PYPROJECT,
            "calc.py": CALC,
            "conftest.py": "",
            ".venv/bin/python": VENV_PYTHON,
            "tests/test_calc.py": TEST_CALC,
            "tests/test_other.py": TEST_OTHER,
        },
    )
    (root / ".venv" / "bin" / "python").chmod(0o755)
    detection = detect_best(root)
    assert detection is not None
    before = run_tests(root, detection, timeout=60)
    assert before.passed, before.log_tail
    for rel, text in files.items():
        if text is None:
            (root / rel).unlink()
        else:
            write_tree(root, {rel: text})
    return Baseline.from_report(before).delta(run_tests(root, detection, timeout=60))


def gate_reason(root: Path, delta: TestDelta) -> str:
    decision = PhaseFinalizer().decide(FinalizerInputs(worktree=root, delta=delta))
    assert decision.outcome == "retry", decision.reason
    return decision.reason


SKIP = "@pytest.mark.skip\n"
NEGATIVE_PATH = "tests/test_calc.py::test_negative"
CALC_BROKEN = "def add(a, b):\n    return a + b if a >= 0 else 0\n"

CASES: dict[str, tuple[dict[str, str | None], list[str], list[str]]] = {
    # name: (files changed, expected removed, expected newly skipped)
    "deleted": (
        {"tests/test_calc.py": TEST_CALC.replace("def test_negative", "def _negative")},
        [NEGATIVE],
        [],
    ),
    "skip marker": (
        {"tests/test_calc.py": TEST_CALC.replace("def test_neg", SKIP + "def test_neg")},
        [],
        [NEGATIVE],
    ),
    "xfail on a broken function": (
        {
            "calc.py": CALC_BROKEN,
            "tests/test_calc.py": TEST_CALC.replace(
                "def test_neg", "@pytest.mark.xfail(reason='later')\ndef test_neg"
            ),
        },
        [],
        [NEGATIVE],
    ),
    "addopts -k": (
        {"pyproject.toml": PYPROJECT + "addopts = \"-k 'not negative'\"\n"},
        [NEGATIVE],
        [],
    ),
    "addopts --deselect": (
        {"pyproject.toml": PYPROJECT + f'addopts = "--deselect {NEGATIVE_PATH}"\n'},
        [NEGATIVE],
        [],
    ),
    "collect_ignore": (
        {"conftest.py": "collect_ignore = ['tests/test_calc.py']\n"},
        ALL_CALC,
        [],
    ),
    "__test__ = False": (
        {"tests/test_calc.py": TEST_CALC + "\n__test__ = False\n"},
        ALL_CALC,
        [],
    ),
    "module-level pytest.skip": (
        {
            "tests/test_calc.py": "import pytest\npytest.skip('later', allow_module_level=True)\n"
            + TEST_CALC
        },
        ALL_CALC,
        [],
    ),
    "renamed file": (
        {"tests/test_calc.py": None, "tests/test_arith.py": TEST_CALC},
        ALL_CALC,
        [],
    ),
    "dropped parameter": (
        {"tests/test_calc.py": TEST_CALC.replace("[1, 2, 3]", "[1, 2]")},
        ["tests.test_calc::test_zero[3]"],
        [],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_removing_or_skipping_a_passing_test_fails_the_tests_gate(
    case: str, tmp_path: Path, write_tree: WriteTreeT
) -> None:
    files, removed, skipped = CASES[case]
    delta = changed(tmp_path / "p", write_tree, files)
    assert delta.removed == removed, delta.summary
    assert delta.newly_skipped == skipped, delta.summary
    assert delta.new_failures == []
    reason = gate_reason(tmp_path, delta)
    assert (removed or skipped)[0] in reason


def test_moving_a_test_into_a_class_is_not_a_removal(
    tmp_path: Path, write_tree: WriteTreeT
) -> None:
    moved = TEST_CALC.replace(
        "def test_negative():\n    assert",
        "class TestSigns:\n    def test_negative(self):\n        assert",
    )
    delta = changed(tmp_path / "p", write_tree, {"tests/test_calc.py": moved})
    assert delta.moved == {NEGATIVE: "tests.test_calc.TestSigns::test_negative"}
    assert delta.removed == [] and delta.newly_skipped == []
    decision = PhaseFinalizer().decide(FinalizerInputs(worktree=tmp_path, delta=delta))
    assert decision.outcome == "complete", decision.reason


def test_a_plan_command_for_the_whole_suite_still_sees_a_deleted_test_file(
    tmp_path: Path, write_tree: WriteTreeT
) -> None:
    # The baseline ran the detected command; the phase runs its plan's own spelling of the
    # whole suite. The Builder deleted the test file that covered its change.
    root = tmp_path / "p"
    delta = changed(root, write_tree, {})
    assert delta.removed == []
    detection = detect_best(root)
    assert detection is not None
    baseline = Baseline.from_report(run_tests(root, detection, timeout=60))
    (root / "tests" / "test_calc.py").unlink()
    plan_command = f"{root / '.venv' / 'bin' / 'python'} -m pytest -q -p no:cacheprovider"
    delta = baseline.delta(run_tests(root, plan_command, timeout=60))
    assert delta.removed == ALL_CALC
    assert delta.removal_unchecked == ""
    assert NEGATIVE in gate_reason(tmp_path, delta)


# humanize's test_intword parametrizes over (args, expected) pairs: pytest names each case
# `test_args<index>-<expected>`, so a case added in the middle renumbers every case after
# it (the replay of python-humanize 3c577d7 failed on 12 "missing" tests).
TEST_TABLE = (
    "import pytest\nfrom calc import add\n\n"
    "@pytest.mark.parametrize('test_args, expected', [\n{rows}])\n"
    "def test_table(test_args, expected):\n    assert add(*test_args) == expected\n"
)
ROWS = [((1, 2), 3), ((2, 2), 4), ((0, 0), 0), ((5, 5), 10)]


def table(rows: list[tuple[tuple[int, int], int]]) -> str:
    return TEST_TABLE.format(rows="".join(f"    ({args!r}, {want}),\n" for args, want in rows))


def table_delta(
    root: Path, write_tree: WriteTreeT, rows: list[tuple[tuple[int, int], int]]
) -> TestDelta:
    """The delta of the real suite when the parametrized table ROWS becomes ``rows``."""
    changed(root, write_tree, {"tests/test_table.py": table(ROWS)})
    detection = detect_best(root)
    assert detection is not None
    baseline = Baseline.from_report(run_tests(root, detection, timeout=60))
    write_tree(root, {"tests/test_table.py": table(rows)})
    return baseline.delta(run_tests(root, detection, timeout=60))


def test_a_case_added_in_the_middle_of_a_parametrized_table_removes_nothing(
    tmp_path: Path, write_tree: WriteTreeT
) -> None:
    delta = table_delta(tmp_path / "p", write_tree, [*ROWS[:1], ((7, 0), 7), *ROWS[1:]])
    assert delta.removed == [] and delta.newly_skipped == [], delta.summary
    case = "tests.test_table::test_table[test_args{}]".format
    assert delta.moved == {
        case("1-4"): case("2-4"),
        case("2-0"): case("3-0"),
        case("3-10"): case("4-10"),
    }
    decision = PhaseFinalizer().decide(FinalizerInputs(worktree=tmp_path, delta=delta))
    assert decision.outcome == "complete", decision.reason


def test_a_case_taken_out_of_the_middle_of_a_parametrized_table_is_still_removed(
    tmp_path: Path, write_tree: WriteTreeT
) -> None:
    # The renumbering is not a loophole: the cases after it pair up, the one taken does not.
    delta = table_delta(tmp_path / "p", write_tree, [ROWS[0], *ROWS[2:]])
    assert delta.removed == ["tests.test_table::test_table[test_args1-4]"], delta.summary
    assert "test_args1-4" in gate_reason(tmp_path, delta)
