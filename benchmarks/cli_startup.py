"""CLI start-up: wall time of `autopack` commands against `python -c pass`.

Each command runs as a fresh subprocess (what a shell or a batch script pays), several
times; the table shows the median and the best, and the median minus the interpreter's
own start-up. Commands run against a temporary AUTOPACK_HOME with one created run, a
small git repository, a plan and an answer file, so ``status``, ``plan`` and ``apply``
do their real work (database read, plan normalization, a dry-run apply).

Targets (issue 15): ``--version`` and ``--help`` under 150 ms; ``status``, ``plan``,
``apply`` under 400 ms.

Autopack's bytecode is compiled first, as ``pip install`` does for a wheel: an editable
checkout under ``PYTHONDONTWRITEBYTECODE=1`` would otherwise recompile every module on
every call and measure the compiler, not the start-up.

Run: ``.venv/bin/python benchmarks/cli_startup.py [--runs N] [--autopack PATH]`` (default
7 runs; ``--autopack`` times another build's console script, e.g. to compare before/after).
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AUTOPACK = str(Path(sys.executable).with_name("autopack"))
PLAN = """\
run_id: bench-run
name: Benchmark
tiers:
  - {tier_id: t1, name: Tier one}
phases:
  - phase_id: p1
    tier_id: t1
    name: Add a greeting
    description: Add hello.py with a greet() function.
    scope: {paths: [hello.py]}
"""
ANSWER = '{"op": "create", "path": "hello.py", "content": "def greet():\\n    return 1\\n"}\n'


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _compile_bytecode() -> None:
    import autopack

    compileall.compile_dir(Path(autopack.__file__).parent, quiet=1)


def _setup(root: Path, autopack: str) -> dict[str, str]:
    env = {**os.environ, "AUTOPACK_HOME": str(root / "home"), "COLUMNS": "120"}
    env.pop("AUTOPACK_DATABASE_URL", None)
    repo = root / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("bench\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "init")
    (root / "plan.yaml").write_text(PLAN)
    (root / "answer.ndjson").write_text(ANSWER)
    subprocess.run(
        [autopack, "runs", "create", str(root / "plan.yaml"), "--repo", str(repo)],
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """Median wall ms, best wall ms, median CPU ms (user + system) of ``runs`` runs. CPU
    time says what the command costs even when other work shares the machine."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu, start = _cpu(), time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr!r}")
    return statistics.median(walls) * 1000, min(walls) * 1000, statistics.median(cpus) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="Runs per command (default 7).")
    parser.add_argument("--autopack", default=AUTOPACK, help="The console script to time.")
    options = parser.parse_args()
    runs, autopack = options.runs, options.autopack
    _compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="autopack-cli-bench-") as tmp:
        root = Path(tmp)
        env = _setup(root, autopack)
        repo = str(root / "repo")
        plan = str(root / "plan.yaml")
        cases: list[tuple[str, list[str], float | None]] = [
            ("python -c pass", [sys.executable, "-c", "pass"], None),
            ("autopack --version", [autopack, "--version"], 150),
            ("autopack --help", [autopack, "--help"], 150),
            ("autopack status RUN", [autopack, "status", "bench-run"], 400),
            ("autopack plan PLAN", [autopack, "plan", plan, "--repo", repo], 400),
            (
                "autopack apply --dry-run",
                [autopack, "apply", str(root / "answer.ndjson"), "--repo", repo, "--dry-run"],
                400,
            ),
            ("autopack runs list", [autopack, "runs", "list"], None),
        ]
        floor = 0.0
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {runs} runs each")
        header = ("command", "median ms", "best ms", "- python", "cpu ms", "target", "ok")
        print(f"{header[0]:<26}" + "".join(f"{h:>10}" for h in header[1:6]) + "  ok")
        for label, argv, target in cases:
            median, best, cpu = _time(argv, env, runs)
            if argv[0] == sys.executable:
                floor = median
            verdict = "" if target is None else ("yes" if median <= target else "NO")
            print(
                f"{label:<26}{median:>10.1f}{best:>10.1f}{median - floor:>10.1f}{cpu:>10.1f}"
                f"{target or '':>10}  {verdict}"
            )


if __name__ == "__main__":
    main()
