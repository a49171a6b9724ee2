"""A run killed mid-phase resumes to the same result as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from executor_support import (
    MUL_FUNC,
    MUL_TEST,
    auditor,
    builder,
    git,
    make_repo,
    op,
    phase,
    write_plan,
    write_script,
)
from sqlalchemy import create_engine, select

from autopack.db.orm import PhaseAttempt

SLOW_TEST = "import time\n\n\ndef test_slow() -> None:\n    time.sleep(2)\n"
SUB_FUNC = "\n\ndef sub(a: int, b: int) -> int:\n    return a - b\n"


def _env(home: Path, script: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AUTOPACK_HOME": str(home),
            "AUTOPACK_LLM_PROVIDER": "scripted",
            "AUTOPACK_LLM_SCRIPT": str(script),
            "AUTOPACK_LEASE_SECONDS": "60",
        }
    )
    return env


def _autopack(*args: str) -> list[str]:
    return [sys.executable, "-c", "from autopack.cli.main import main; main()", *args]


def _setup(root: Path, run_id: str) -> tuple[Path, Path, Path]:
    repo = make_repo(root, {"tests/test_slow.py": SLOW_TEST})
    plan = write_plan(
        root / "plan.yaml",
        run_id,
        [
            phase("mul", paths=["calc.py", "tests/"]),
            phase("sub", paths=["calc.py", "tests/"]),
        ],
    )
    script = write_script(
        root / "s.jsonl",
        [
            builder(
                "mul",
                op("append", "calc.py", content=MUL_FUNC),
                op("create", "tests/test_mul.py", content=MUL_TEST),
            ),
            auditor("mul"),
            builder("sub", op("append", "calc.py", content=SUB_FUNC)),
            auditor("sub"),
        ],
    )
    return repo, plan, script


def _stage_of_mul(db: Path) -> str | None:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(PhaseAttempt.payload).where(PhaseAttempt.role == "builder")
            ).all()
    except Exception:  # the database may not exist yet
        return None
    finally:
        engine.dispose()
    return rows[0][0].get("stage") if rows else None


@pytest.mark.slow
def test_killed_run_resumes_with_the_commits_of_a_clean_run(tmp_path: Path) -> None:
    clean_root, killed_root = tmp_path / "clean", tmp_path / "killed"
    repo_a, plan_a, script_a = _setup(clean_root, "resume-a")
    repo_b, plan_b, script_b = _setup(killed_root, "resume-b")

    clean = subprocess.run(
        _autopack("run", str(plan_a), "--repo", str(repo_a), "--json"),
        env=_env(clean_root / "home", script_a),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert clean.returncode == 0, clean.stderr

    home_b = killed_root / "home"
    proc = subprocess.Popen(
        _autopack("run", str(plan_b), "--repo", str(repo_b), "--json"),
        env=_env(home_b, script_b),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while _stage_of_mul(home_b / "autopack.db") != "applied":  # killed while verifying
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached verification"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    resumed = subprocess.run(
        _autopack("run", "--resume", "resume-b", "--json"),
        env=_env(home_b, script_b),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["state"] == "DONE_SUCCESS"
    assert [p["builder_attempts"] for p in result["phases"]] == [1, 1]  # no attempt redone

    def history(repo: Path, run_id: str) -> list[tuple[str, str]]:
        log = git(repo, "log", "--format=%s%x00%T", f"main..autopack/{run_id}")
        return [tuple(line.split("\0")) for line in log.splitlines()]  # type: ignore[misc]

    assert history(repo_b, "resume-b") == history(repo_a, "resume-a")
    assert len(history(repo_b, "resume-b")) == 2
