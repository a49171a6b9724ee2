"""Several runs at once on one machine, through the real CLI: worker processes (not
threads of the command), one repository shared by all runs, the same branch content as a
run alone, and a Markdown and JSON report with each run's timing, state, tokens and cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from executor_support import (
    auditor,
    builder,
    git,
    make_repo,
    mul_ops,
    phase,
    write_plan,
    write_script,
)
from sqlalchemy import create_engine, select

from autopack.db.orm import RunLease
from autopack.settings import Settings


def _autopack(*args: str) -> list[str]:
    return [sys.executable, "-c", "from autopack.cli.main import main; main()", *args]


def _env(settings: Settings, script: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AUTOPACK_HOME": str(settings.home),
            "AUTOPACK_DATABASE_URL": settings.effective_database_url,
            "AUTOPACK_LLM_PROVIDER": "scripted",
            "AUTOPACK_LLM_SCRIPT": str(script),
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        }
    )
    return env


def _plans(root: Path, ids: list[str]) -> list[Path]:
    return [
        write_plan(root / f"{run_id}.yaml", run_id, [phase("mul", paths=["calc.py", "tests/"])])
        for run_id in ids
    ]


def test_four_plans_at_once_on_one_repository(settings: Settings, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    ids = [f"par-{i}" for i in range(4)]
    plans = _plans(tmp_path, ids)
    report_dir = tmp_path / "reports"
    command = subprocess.Popen(
        _autopack(
            "run",
            *map(str, plans),
            "--repo",
            str(repo),
            "--max-concurrent",
            "4",
            "--report",
            str(report_dir),
            "--json",
        ),
        env=_env(settings, script),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = command.communicate(timeout=600)
    assert command.returncode == 0, stderr + stdout
    report = json.loads(stdout)

    assert [r["run_id"] for r in report["runs"]] == ids
    assert {r["state"] for r in report["runs"]} == {"DONE_SUCCESS"}
    assert all(r["tokens_used"] == 1800 and r["seconds"] > 0 for r in report["runs"])
    assert report["total_tokens"] == 4 * 1800
    # All four executed at once: each started before any ended.
    starts = [r["started_at"] for r in report["runs"]]
    ends = [r["ended_at"] for r in report["runs"]]
    assert max(starts) < min(ends)
    markdown = Path(report["report_markdown"]).read_text()
    assert Path(report["report_markdown"]).parent == report_dir
    assert all(f"| {run_id} | DONE_SUCCESS |" in markdown for run_id in ids)
    assert json.loads(Path(report["report_json"]).read_text())["succeeded"] == 4

    # Each run has its own branch, with the same content as any run alone.
    alone = git(repo, "show", f"autopack/{ids[0]}:calc.py")
    assert "def mul" in alone
    for run_id in ids:
        assert git(repo, "show", f"autopack/{run_id}:calc.py") == alone
        log = git(repo, "log", "--format=%s", f"main..autopack/{run_id}").splitlines()
        assert log == ["mul: Phase mul"]
    assert git(repo, "status", "--porcelain") == ""

    # Each run was executed by its own worker process, not by the command's process.
    engine = create_engine(settings.effective_database_url)
    try:
        with engine.connect() as conn:
            owners = conn.execute(select(RunLease.run_id, RunLease.owner)).all()
    finally:
        engine.dispose()
    pids = {run_id: owner.split(":")[1] for run_id, owner in owners}
    assert sorted(pids) == ids
    assert len(set(pids.values())) == 4 and str(command.pid) not in pids.values()


def test_runs_execute_shows_a_table_and_writes_a_report(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    env = _env(sqlite_settings, script)
    for plan in _plans(tmp_path, ["ex-a", "ex-b"]):
        created = subprocess.run(
            _autopack("runs", "create", str(plan), "--repo", str(repo)),
            env=env,
            capture_output=True,
            text=True,
        )
        assert created.returncode == 0, created.stderr

    unknown = subprocess.run(
        _autopack("runs", "execute", "ex-a", "nope"), env=env, capture_output=True, text=True
    )
    assert unknown.returncode == 2 and "nope" in unknown.stderr + unknown.stdout

    done = subprocess.run(
        _autopack("runs", "execute", "ex-a", "ex-b", "--max-concurrent", "2"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "2 of 2 runs succeeded" in done.stdout
    assert "ex-a" in done.stderr and "tokens" in done.stderr  # the live table
    paths = [line.split(": ", 1)[1] for line in done.stdout.splitlines() if "report" in line]
    assert len(paths) == 2 and all(
        Path(p).parent == sqlite_settings.home / "reports" for p in paths
    )
    assert "| ex-b | DONE_SUCCESS |" in Path(paths[0]).read_text()
