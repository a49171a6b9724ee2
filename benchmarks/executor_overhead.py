"""Executor overhead: time per phase spent in Autopack itself, from 10 to 100 phases.

Each phase is one scripted Builder answer (create a file), a trivial test command
(``true``) and a scripted Auditor approval, on a real git repository and the embedded
SQLite database. The time spent inside test commands is measured and subtracted, so what
remains is Autopack: database writes, git (worktree, savepoints, commits, squash), context
selection, parsing, governed apply, artifacts.

Run: ``.venv/bin/python benchmarks/executor_overhead.py [N ...]`` (default 10 50 100).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from autopack.db.database import open_database
from autopack.db.session import unit_of_work
from autopack.executor import phase as phase_module
from autopack.executor.loop import build_deps, execute_run
from autopack.planning.normalize import load_plan
from autopack.services.runs import create_run
from autopack.settings import Settings

_test_seconds = 0.0
_real_run_tests = phase_module.run_tests


def _timed_run_tests(*args: Any, **kwargs: Any) -> Any:
    global _test_seconds
    start = time.perf_counter()
    try:
        return _real_run_tests(*args, **kwargs)
    finally:
        _test_seconds += time.perf_counter() - start


phase_module.run_tests = _timed_run_tests  # type: ignore[assignment]


def _repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("benchmark\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


def measure(n: int) -> dict[str, float]:
    global _test_seconds
    _test_seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="autopack-bench-") as tmp:
        root = Path(tmp)
        repo = _repo(root)
        phases = [
            {
                "phase_id": f"p{i:03d}",
                "name": f"phase {i}",
                "scope": {"paths": ["out/"], "tests": ["true"]},
            }
            for i in range(n)
        ]
        plan = root / "plan.yaml"
        plan.write_text(
            yaml.safe_dump(
                {"run_id": f"bench-{n}", "phases": phases, "budgets": {"max_phases": n + 1}}
            )
        )
        lines = []
        for i in range(n):
            create = json.dumps({"op": "create", "path": f"out/f{i}.txt", "content": f"{i}\n"})
            verdict = json.dumps(
                {"recommendation": "approve", "confidence": 0.9, "review_notes": "ok", "issues": []}
            )
            usage = {"prompt_tokens": 100, "completion_tokens": 20}
            lines.append(
                {"role": "builder", "phase_id": f"p{i:03d}", "content": create, "usage": usage}
            )
            lines.append(
                {"role": "auditor", "phase_id": f"p{i:03d}", "content": verdict, "usage": usage}
            )
        script = root / "script.jsonl"
        script.write_text("".join(json.dumps(x) + "\n" for x in lines))
        settings = Settings(home=root / "home", llm_provider="scripted", llm_script=script)
        db = open_database(settings)
        with unit_of_work(db.factory) as session:
            create_run(session, load_plan(plan), runs_dir=settings.runs_dir, repo_path=str(repo))
        start = time.perf_counter()
        outcome = execute_run(build_deps(settings, db), f"bench-{n}")
        total = time.perf_counter() - start
        db.dispose()
        assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    own = total - _test_seconds
    return {
        "phases": n,
        "total_s": total,
        "tests_s": _test_seconds,
        "autopack_s": own,
        "per_phase_ms": 1000 * own / n,
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10, 50, 100]
    print(
        f"{'phases':>6} {'total s':>8} {'in tests s':>10} {'autopack s':>10} {'per phase ms':>12}"
    )
    rows = [measure(n) for n in sizes]
    for r in rows:
        print(
            f"{r['phases']:>6} {r['total_s']:>8.2f} {r['tests_s']:>10.2f} "
            f"{r['autopack_s']:>10.2f} {r['per_phase_ms']:>12.1f}"
        )
    if len(rows) > 1:
        growth = rows[-1]["per_phase_ms"] / rows[0]["per_phase_ms"]
        print(
            f"per-phase overhead grows x{growth:.2f} from {rows[0]['phases']} to "
            f"{rows[-1]['phases']} phases"
        )


if __name__ == "__main__":
    main()
