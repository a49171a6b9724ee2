"""Executor overhead: time per phase spent in Autopack itself, at 10, 100 (and 1,000) phases.

Each phase is one scripted Builder answer (create a file in the phase's own directory,
its scope), a trivial test command (``true``) and a scripted Auditor approval, on a real
git repository and the embedded SQLite database. (Scoped to its own directory, a phase's
context is the same size at phase 10 and phase 1,000; phases that all share one directory
would each read every file the earlier ones left there, which measures the directory.)

Two things are not Autopack's and are measured and subtracted: the test commands
(``run_tests``) and the model (the scripted provider's ``complete``, standing in for the
network call). What remains is Autopack: database writes, git (worktree, savepoints,
commits, squash), context selection, prompts, parsing, governed apply, artifacts, usage
accounting.

Printed per run size: the median and p90 of each phase's own time (one phase's wall time
minus its tests and model time), the run's own time divided by its phases (this adds the
run's start and finish), the CPU time per phase of the process and its children (tests
and model included: small here, and far less sensitive than wall time to other load on
the machine), and the git subprocesses started per phase.

Run: ``.venv/bin/python benchmarks/executor_overhead.py [N ...]`` (default 10 100; add
1000 for the long run, several minutes). ``--seed-files 1000`` starts from a repository that
already holds the 1,000 files a 1,000-phase run leaves behind: a 10-phase run on it shows how
much of the cost at phase 1,000 is the repository's size rather than the run's length.

What grows with the repository's size: toolchain detection scans it (bounded), and the
index and the tree of a directory that holds every phase's output are rewritten. A phase
does not walk the worktree: the squash commits HEAD's tree and tells from the paths the
worktree's inotify watch saw written whether the worktree is still that tree (a walk, ~20
ms at 1,000 files in 1,000 directories, only when that is not known), the next
savepoint's clean check is that answer while nothing was written since, and the
repository map lists HEAD's tree incrementally instead of running ``git ls-files``
(docs/ARCHITECTURE.md, "Git on the executor's hot path"); where inotify is missing (not
Linux) the savepoint walks and the map asks git, as before.
The git processes column shows which: none a phase with the watch (the review diff is
in-process; what is left is ``git maintenance`` every few hundred writes), 1 without.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from autopack.db.database import open_database
from autopack.db.session import unit_of_work
from autopack.executor import loop as loop_module
from autopack.executor import phase as phase_module
from autopack.executor.loop import build_deps, execute_run
from autopack.llm.scripted import ScriptedProvider
from autopack.planning.normalize import load_plan
from autopack.services.runs import create_run
from autopack.settings import Settings

#: Seconds spent outside Autopack (tests, model) since the counter was last reset.
_excluded_seconds = 0.0
_phase_seconds: list[float] = []
_git_processes = 0
_real_run_tests = phase_module.run_tests
_real_complete = ScriptedProvider.complete
_real_popen_init = subprocess.Popen.__init__


def _timed_run_tests(*args: Any, **kwargs: Any) -> Any:
    global _excluded_seconds
    start = time.perf_counter()
    try:
        return _real_run_tests(*args, **kwargs)
    finally:
        _excluded_seconds += time.perf_counter() - start


def _timed_complete(self: ScriptedProvider, request: Any) -> Any:
    global _excluded_seconds
    start = time.perf_counter()
    try:
        return _real_complete(self, request)
    finally:
        _excluded_seconds += time.perf_counter() - start


def _counting_popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kw: Any) -> None:
    global _git_processes
    if isinstance(args, list | tuple) and args and str(args[0]) == "git":
        _git_processes += 1
    _real_popen_init(self, args, *rest, **kw)


class _TimedPhase(phase_module.PhaseExecution):
    """One phase's wall time minus what tests and the model took inside it."""

    def run(self) -> phase_module.PhaseOutcome:
        global _excluded_seconds
        excluded_before = _excluded_seconds
        start = time.perf_counter()
        try:
            return super().run()
        finally:
            wall = time.perf_counter() - start
            _phase_seconds.append(wall - (_excluded_seconds - excluded_before))


phase_module.run_tests = _timed_run_tests  # type: ignore[assignment]
ScriptedProvider.complete = _timed_complete  # type: ignore[method-assign]
subprocess.Popen.__init__ = _counting_popen_init  # type: ignore[method-assign]
loop_module.PhaseExecution = _TimedPhase  # type: ignore[misc]


def _repo(root: Path, seed_files: int) -> Path:
    repo = root / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("benchmark\n")
    for i in range(seed_files):  # the files a run of ``seed_files`` phases would leave
        seed = repo / "seed" / f"p{i:04d}"
        seed.mkdir(parents=True)
        (seed / "f.txt").write_text(f"{i}\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


def measure(n: int, seed_files: int = 0) -> dict[str, float]:
    global _excluded_seconds, _git_processes
    with tempfile.TemporaryDirectory(prefix="autopack-bench-") as tmp:
        root = Path(tmp)
        repo = _repo(root, seed_files)
        phases = [
            {
                "phase_id": f"p{i:03d}",
                "name": f"phase {i}",
                "scope": {"paths": [f"out/p{i:04d}/"], "tests": ["true"]},
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
            create = json.dumps(
                {"op": "create", "path": f"out/p{i:04d}/f.txt", "content": f"{i}\n"}
            )
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
        deps = build_deps(settings, db)
        _excluded_seconds = 0.0
        _git_processes = 0
        _phase_seconds.clear()
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        outcome = execute_run(deps, f"bench-{n}")
        total = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_before
        db.dispose()
        assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    own = total - _excluded_seconds
    per_phase = sorted(_phase_seconds)
    return {
        "phases": n,
        "total_s": total,
        "excluded_s": _excluded_seconds,
        "median_ms": 1000 * statistics.median(per_phase),
        "p90_ms": 1000 * per_phase[int(0.9 * (len(per_phase) - 1))],
        "run_per_phase_ms": 1000 * own / n,
        "git_per_phase": _git_processes / n,
        "cpu_per_phase_ms": 1000 * cpu / n,
    }


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (git, the test commands): on a
    busy machine wall time grows with the load, CPU time much less."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _machine_now() -> str:
    """What this machine gives right now, to read the table by: the interpreter's speed
    (builds differ about twofold: pyenv's default build against Debian's) and the latency
    of a small file write and rename (a loose git object, a lock file), which other work on
    a shared disk stretches. Medians of several tries."""
    loops, writes = [], []
    for _ in range(5):
        start = time.perf_counter()
        sum(range(10**6))
        loops.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory(prefix="autopack-bench-") as tmp:
        for i in range(50):
            start = time.perf_counter()
            part = Path(tmp) / f"{i}.tmp"
            part.write_bytes(b"x" * 200)
            part.rename(part.with_suffix(""))
            writes.append(time.perf_counter() - start)
    return (
        f"machine now: Python {sys.version.split()[0]} at {sys.executable}; "
        f"sum(range(10**6)) {1000 * statistics.median(loops):.1f} ms; "
        f"a small file written and renamed {1e6 * statistics.median(writes):.0f} us; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10, 100], help="Run sizes.")
    parser.add_argument(
        "--seed-files",
        type=int,
        default=0,
        metavar="N",
        help="Start from a repository that already holds N files (as a run of N phases "
        "leaves it): tells the repository's size apart from the run's length.",
    )
    args = parser.parse_args()
    sizes = args.sizes
    print(_machine_now())
    header = (
        f"{'phases':>6} {'total s':>8} {'tests+model s':>13} {'median ms':>9} {'p90 ms':>7} "
        f"{'run/phase ms':>12} {'cpu/phase ms':>12} {'git procs/phase':>15}"
    )
    print(header)
    rows = []
    for n in sizes:
        r = measure(n, args.seed_files)
        rows.append(r)
        print(
            f"{r['phases']:>6} {r['total_s']:>8.2f} {r['excluded_s']:>13.2f} "
            f"{r['median_ms']:>9.1f} {r['p90_ms']:>7.1f} {r['run_per_phase_ms']:>12.1f} "
            f"{r['cpu_per_phase_ms']:>12.1f} {r['git_per_phase']:>15.2f}",
            flush=True,
        )
    if len(rows) > 1:
        growth = rows[-1]["median_ms"] / rows[0]["median_ms"]
        print(
            f"median per-phase overhead x{growth:.2f} from {rows[0]['phases']} to "
            f"{rows[-1]['phases']} phases"
        )


if __name__ == "__main__":
    main()
