"""Builders for end-to-end executor tests: a real git repository with a real test suite,
scripted model answers, and a plan."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

CALC = '''"""A tiny calculator."""


def add(a: int, b: int) -> int:
    return a + b
'''

CALC_TESTS = """from calc import add


def test_add() -> None:
    assert add(2, 3) == 5
"""

#: ``python`` is the run environment's (first on PATH): never Autopack's interpreter.
TEST_COMMAND = "python -m pytest -q -p no:cacheprovider"


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout


def make_repo(root: Path, extra: dict[str, str] | None = None) -> Path:
    """A git repository holding the calc package and its passing test."""
    files = {
        "calc.py": CALC,
        "tests/test_calc.py": CALC_TESTS,
        "pyproject.toml": "[tool.pytest.ini_options]\npythonpath = ['.']\n",
        **(extra or {}),
    }
    return committed_repo(root / "project", files)


def committed_repo(repo: Path, files: dict[str, str]) -> Path:
    """A new git repository at ``repo`` whose one commit on ``main`` holds ``files``."""
    repo.mkdir(parents=True)
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "initial")
    return repo


def op(kind: str, path: str, **fields: Any) -> str:
    return json.dumps({"op": kind, "path": path, **fields})


def builder(phase_id: str, *ops: str, tokens: tuple[int, int] = (900, 300)) -> dict[str, Any]:
    return {
        "role": "builder",
        "phase_id": phase_id,
        "content": "\n".join(ops),
        "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]},
    }


def auditor(
    phase_id: str,
    recommendation: str = "approve",
    notes: str = "looks right",
    issues: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    verdict = {
        "recommendation": recommendation,
        "confidence": 0.9,
        "review_notes": notes,
        "issues": issues or [],
    }
    return {
        "role": "auditor",
        "phase_id": phase_id,
        "content": json.dumps(verdict),
        "usage": {"prompt_tokens": 500, "completion_tokens": 100},
    }


def doctor(phase_id: str, hint: str, action: str = "retry_with_fix") -> dict[str, Any]:
    verdict = {"action": action, "hint": hint, "confidence": 0.9, "rationale": "diagnosed"}
    return {
        "role": "doctor",
        "phase_id": phase_id,
        "content": json.dumps(verdict),
        "usage": {"prompt_tokens": 400, "completion_tokens": 80},
    }


def write_script(path: Path, lines: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def phase(
    phase_id: str,
    *,
    paths: list[str],
    deliverables: list[str] | None = None,
    tier: str = "T1",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "phase_id": phase_id,
        "tier_id": tier,
        "name": f"Phase {phase_id}",
        "scope": {"paths": paths, "deliverables": deliverables or [], "tests": [TEST_COMMAND]},
        **extra,
    }


def write_plan(
    path: Path,
    run_id: str,
    phases: list[dict[str, Any]],
    tiers: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Path:
    plan = {
        "run_id": run_id,
        "goal": "extend calc",
        "tiers": tiers or [{"tier_id": "T1", "name": "Core"}],
        "phases": phases,
        **extra,
    }
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


MUL_FUNC = "\n\ndef mul(a: int, b: int) -> int:\n    return a * b\n"
MUL_TEST = "from calc import mul\n\n\ndef test_mul() -> None:\n    assert mul(3, 4) == 12\n"
BAD_MUL_FUNC = "\n\ndef mul(a: int, b: int) -> int:\n    return a + b\n"


#: A 300-line file: deleting it passes the 200-line approval threshold.
LEGACY_300 = "".join(f"VALUE_{i} = {i}\n" for i in range(300))


def mul_ops() -> list[str]:
    """The correct Builder answer for the ``mul`` phase: the function and its test."""
    return [
        op("append", "calc.py", content=MUL_FUNC),
        op("create", "tests/test_mul.py", content=MUL_TEST),
    ]


def count_per_phase(monkeypatch: Any, counts: Counter[str], *, walks: str) -> list[Counter[str]]:
    """Count the worktree status walks of the run about to execute (libgit2's status and
    ``add -A`` walks) under ``counts[walks]``, and return the list that receives, for each
    phase executed, what ``counts`` grew by during that phase (the caller may count more
    in ``counts``: statements, processes)."""
    from autopack.executor import loop as loop_module
    from autopack.executor import phase as phase_module
    from autopack.workspace.git_lib import LibRepo

    per_phase: list[Counter[str]] = []
    real_changed, real_add = LibRepo.changed_paths, LibRepo._add_everything

    def counting_changed(self: LibRepo) -> dict[str, int]:
        counts[walks] += 1
        return real_changed(self)

    def counting_add(self: LibRepo, index: Any) -> bool:
        counts[walks] += 1
        return real_add(self, index)

    class CountedPhase(phase_module.PhaseExecution):
        def run(self) -> phase_module.PhaseOutcome:
            before = counts.copy()
            try:
                return super().run()
            finally:
                per_phase.append(counts - before)

    monkeypatch.setattr(LibRepo, "changed_paths", counting_changed)
    monkeypatch.setattr(LibRepo, "_add_everything", counting_add)
    monkeypatch.setattr(loop_module, "PhaseExecution", CountedPhase)
    return per_phase
