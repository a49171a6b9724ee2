"""Many runs on one machine: wall time of N scripted runs at concurrency 1, 2 and 4.

Every run has two phases (one scripted Builder answer creating a file, the trivial test
command ``true``, a scripted Auditor approval) and all runs target ONE git repository, so
the numbers include the shared-repository locking; each run executes in its own worker
process (executor/pool.py), on the embedded SQLite database, as `autopack runs execute`
does. Speed-up is against concurrency 1.

Run: ``.venv/bin/python benchmarks/parallel_runs.py [--runs 20] [--concurrency 1 2 4]``

More measurements (the distributed worker's queue latency, recovery time after a worker's
death) plug in as functions in :data:`SECTIONS`: each takes the parsed arguments and
returns rows of ``(label, value)`` to print.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from autopack.db.database import open_database
from autopack.db.orm import Run
from autopack.db.session import unit_of_work
from autopack.executor.pool import ExecutionPool
from autopack.planning.normalize import load_plan
from autopack.services.runs import create_run
from autopack.settings import Settings


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


def _script(path: Path) -> Path:
    lines: list[dict[str, Any]] = []
    for phase in ("a", "b"):
        edit = {"op": "create", "path": f"out/{phase}.txt", "content": f"{phase}\n"}
        verdict = {"recommendation": "approve", "confidence": 0.9, "review_notes": "ok"}
        lines.append(
            {
                "role": "builder",
                "phase_id": phase,
                "content": json.dumps(edit),
                "usage": {"prompt_tokens": 900, "completion_tokens": 300},
            }
        )
        lines.append(
            {
                "role": "auditor",
                "phase_id": phase,
                "content": json.dumps({**verdict, "issues": []}),
                "usage": {"prompt_tokens": 500, "completion_tokens": 100},
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def measure_local(runs: int, concurrency: int) -> dict[str, float]:
    """Wall time of ``runs`` scripted runs on one repository, ``concurrency`` at once, in
    worker processes; and how many ended in DONE_SUCCESS."""
    with tempfile.TemporaryDirectory(prefix="autopack-bench-par-") as tmp:
        root = Path(tmp)
        repo = _repo(root)
        settings = Settings(
            home=root / "home", llm_provider="scripted", llm_script=_script(root / "s.jsonl")
        )
        db = open_database(settings)
        ids = [f"bench-{i:03d}" for i in range(runs)]
        for run_id in ids:
            plan = root / f"{run_id}.yaml"
            phases = [
                {"phase_id": p, "name": p, "scope": {"paths": ["out/"], "tests": ["true"]}}
                for p in ("a", "b")
            ]
            plan.write_text(yaml.safe_dump({"run_id": run_id, "phases": phases}))
            with unit_of_work(db.factory) as session:
                create_run(
                    session, load_plan(plan), runs_dir=settings.runs_dir, repo_path=str(repo)
                )
        pool = ExecutionPool(settings, concurrency)
        start = time.perf_counter()
        for run_id in ids:
            pool.submit(run_id)
        for run_id in ids:
            pool.wait(run_id)
        wall = time.perf_counter() - start
        pool.shutdown(wait=True)
        with db.factory() as session:
            ok = sum(
                1 for r in session.query(Run).filter(Run.id.in_(ids)) if r.state == "DONE_SUCCESS"
            )
        db.dispose()
    return {"runs": runs, "concurrency": concurrency, "wall_seconds": wall, "succeeded": ok}


def local_section(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Wall time per concurrency level and the speed-up over concurrency 1."""
    rows: list[tuple[str, str]] = []
    base: float | None = None
    for level in args.concurrency:
        result = measure_local(args.runs, level)
        wall = result["wall_seconds"]
        base = base if base is not None else (wall if level == 1 else None)
        speedup = f"  speed-up x{base / wall:.2f}" if base else ""
        rows.append(
            (
                f"{args.runs} runs, concurrency {level}",
                f"{wall:7.1f}s  ({wall / args.runs:.2f}s per run, "
                f"{int(result['succeeded'])}/{args.runs} DONE_SUCCESS){speedup}",
            )
        )
    return rows


def queue_section(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Remote workers on PostgreSQL (benchmarks/queue_latency.py): defer -> start latency
    and the time from a worker's kill -9 to its run starting on another worker."""
    from queue_latency import queue_section as measure_queue  # this script's directory

    return measure_queue(args)


#: Measurements printed in order. Add one by appending a function of the arguments.
SECTIONS: list[Callable[[argparse.Namespace], list[tuple[str, str]]]] = [
    local_section,
    queue_section,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    for section in SECTIONS:
        for label, value in section(args):
            print(f"{label:<32} {value}")


if __name__ == "__main__":
    main()
