"""The apply-robustness benchmark on a small corpus: never a wrong apply, and it runs."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
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
