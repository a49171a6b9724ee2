"""Output into a pipe is whole: no wrapping, no truncation, one commit hash per phase."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

AUTOPACK = str(Path(sys.executable).with_name("autopack"))


def test_runs_list_in_a_pipe_keeps_long_ids_and_states_whole(tmp_path: Path) -> None:
    run_id = "a-rather-long-run-identifier-" + "x" * 60
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"run_id: {run_id}\nphases:\n  - {{phase_id: p1, name: P, description: d}}\n")
    env = {"AUTOPACK_HOME": str(tmp_path / "home"), "COLUMNS": "40", "PATH": "/usr/bin:/bin"}
    subprocess.run([AUTOPACK, "runs", "create", str(plan)], env=env, check=True)
    out = subprocess.run(
        [AUTOPACK, "runs", "list"], env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in out.splitlines() if run_id in line)
    assert "RUN_CREATED" in line and "…" not in out


class _Session:
    """A session with no rows: the progress line reads the run's tokens from it."""

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get(self, *args: object) -> None:
        return None


class _NoDb:
    def factory(self) -> _Session:
        return _Session()


def test_progress_shows_only_the_phase_commit_that_stays_on_the_branch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from autopack.cli import progress

    live = progress.LiveProgress(_NoDb(), "r", quiet=False)  # type: ignore[arg-type]
    live("apply_event", phase_id="p1", message="committed " + "a" * 40)
    live("phase_complete", phase_id="p1", commit="b" * 40)
    live.close()
    err = capsys.readouterr().err
    assert "a" * 40 not in err
    assert err.count("b" * 40) == 1 and "phase complete" in err


def test_progress_names_the_test_results_and_leaves_out_empty_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from autopack.cli import progress

    live = progress.LiveProgress(_NoDb(), "r", quiet=False)  # type: ignore[arg-type]
    live("baseline", run_id="r")
    live("tested", run_id="r", summary="PASSED: 3 passed, 0 failed (pytest, exit 0, 1.2s)")
    live("tested", phase_id="p1", summary="FAILED: 2 passed, 1 failed (pytest, exit 1, 0.9s)")
    live("run_finished", state="DONE_SUCCESS", reason=None)
    live.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("baseline running the project's tests before any change")
    assert lines[1].endswith("tests baseline: PASSED: 3 passed, 0 failed (pytest, exit 0, 1.2s)")
    assert lines[2].endswith("tests p1: FAILED: 2 passed, 1 failed (pytest, exit 1, 0.9s)")
    assert lines[3].endswith("run_finished state=DONE_SUCCESS")
