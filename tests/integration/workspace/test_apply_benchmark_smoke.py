"""The apply-robustness benchmark on a small corpus: never a wrong apply, and it runs."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "apply_robustness.py"


def load_benchmark() -> ModuleType:
    # The benchmark imports its sibling modules the way `python benchmarks/...` finds them.
    if str(BENCHMARK.parent) not in sys.path:
        sys.path.insert(0, str(BENCHMARK.parent))
    spec = importlib.util.spec_from_file_location("apply_robustness", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module executes.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_corpus_is_deterministic() -> None:
    bench = load_benchmark()
    first = [(c.id, c.answer) for c in bench.build_corpus(11, 1)]
    assert first == [(c.id, c.answer) for c in bench.build_corpus(11, 1)]
    assert {c.fmt for c in bench.build_corpus(11, 1)} == set(bench.FORMATS)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_small_run_never_applies_wrongly(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark()
    code = bench.main(["--seed", "7", "--per-cell", "2", "--json"])
    report = json.loads(capsys.readouterr().out)
    for fmt, row in report["formats"].items():
        assert row.get("wrong", 0) == 0, (fmt, row)
    ours = report["diff_subset"]["autopack"]
    assert ours.get("wrong", 0) == 0
    assert code == 0
    bench._print_report(report, [])
    table = capsys.readouterr().out
    assert "applied wrongly" in table and "duplicate_anchor" in table


def _history_repo(root: Path, git: Callable[..., str]) -> None:
    """Three commits of one module: a blank-line change, an insertion next to a double
    blank line, and a change at the end of a file without a final newline."""
    git(root, "init", "-q", "-b", "main")
    versions = [
        "import os\n\n\ndef a():\n    return 1\n\n\ndef b():   \n    return 2\n",
        "import os\n\n\ndef a():\n    return 1\n\n\n\ndef b():   \n    return 2\n",
        "import os\n\n\ndef a():\n    return 1\n\n\ndef c():\n    return 3\n\n\n"
        "def b():   \n    return 2\n",
        "import os\n\n\ndef a():\n    return 1\n\n\ndef c():\n    return 3\n\n\n"
        "def b():   \n    return 22",
    ]
    for n, text in enumerate(versions):
        (root / "mod.py").write_text(text)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", f"v{n}")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_real_history_cases_are_scored_byte_for_byte(
    tmp_path: Path, git: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_benchmark()
    _history_repo(tmp_path, git)
    misses: list[str] = []
    report = bench.run_history_corpus(tmp_path, 10, misses)
    assert (report["file_changes"], report["commits"]) == (3, 3)
    kinds = report["kinds"]
    assert all(sum(kinds[k].values()) > 0 for k in ("diff", "wrong_counts", "fenced")), kinds
    assert sum(row.get("wrong", 0) for row in kinds.values()) == 0, misses
    assert kinds["diff"] == {"correct": 3}
    assert kinds["wrong_counts"] == {"correct": 3}
    # Nothing the tool applies of a cut answer counts as correct unless it is the whole
    # change: the cut cases are rejected or partial, or correct only byte for byte.
    assert set(kinds["truncated"]) <= {"correct", "rejected", "partial"}
    code = bench.main(["--seed", "3", "--per-cell", "1", "--repo", str(tmp_path), "--json"])
    assert json.loads(capsys.readouterr().out)["history"]["file_changes"] == 3
    assert code == 0
