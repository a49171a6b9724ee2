"""The main job through its interfaces: `autopack demo`, `autopack run` with a Markdown
plan, and the API's execute and cancel routes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from executor_support import MUL_FUNC, MUL_TEST, auditor, builder, git, make_repo, op
from executor_support import write_script as write_jsonl
from fastapi.testclient import TestClient

from autopack.api.app import create_app
from autopack.settings import Settings


def _autopack(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "AUTOPACK_HOME": str(home), **env}
    return subprocess.run(
        [sys.executable, "-c", "from autopack.cli.main import main; main()", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_demo_builds_the_bundled_plan_offline(tmp_path: Path) -> None:
    target = tmp_path / "demo-project"
    done = _autopack(tmp_path / "home", "demo", "--dir", str(target), "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["state"] == "DONE_SUCCESS"
    phases = {p["phase_id"]: p for p in result["phases"]}
    assert len(result["phases"]) == 4
    assert phases["reading-time"]["doctor_calls"] == 1  # failed tests, Doctor, fixed
    assert phases["reading-time"]["builder_attempts"] == 2
    assert phases["cli"]["auditor_attempts"] == 2  # "revise", then approved
    # The copy's own checkout is untouched; the work is on the run's branch.
    assert git(target, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert len(git(target, "log", "--oneline", f"main..{result['branch']}").splitlines()) == 4
    about = Path(result["artifacts"]) / "ABOUT_THIS_RUN.md"
    assert "SCRIPTED" in about.read_text()


def test_run_with_a_markdown_plan_and_exit_codes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    plan = tmp_path / "plan.md"
    plan.write_text(
        "# Calc\nAdd multiplication.\n\n## Core\n"
        "- Add mul [id:mul] [complexity:low] [paths:calc.py,tests/] "
        f"[tests:{sys.executable} -m pytest -q -p no:cacheprovider]\n"
        "  - mul(3, 4) == 12\n"
    )
    script = write_jsonl(
        tmp_path / "s.jsonl",
        [
            builder(
                "mul",
                op("append", "calc.py", content=MUL_FUNC),
                op("create", "tests/test_mul.py", content=MUL_TEST),
            ),
            auditor("mul"),
        ],
    )
    env = {"AUTOPACK_LLM_PROVIDER": "scripted", "AUTOPACK_LLM_SCRIPT": str(script)}
    home = tmp_path / "home"

    done = _autopack(
        home, "run", str(plan), "--repo", str(repo), "--run-id", "md-run", "--json", **env
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {k: result[k] for k in ("run_id", "state", "failure_reason")} == {
        "run_id": "md-run",
        "state": "DONE_SUCCESS",
        "failure_reason": None,
    }
    assert result["tokens_used"] > 0 and result["branch"] == "autopack/md-run"
    assert [p["state"] for p in result["phases"]] == ["COMPLETE"]

    # Usage errors exit 2 with a message, and change nothing.
    missing = _autopack(home, "run", str(plan), **env)
    assert missing.returncode == 2
    assert "--repo" in missing.stderr
    # A run that cannot succeed (the model has no answer for it) exits 1, and says why.
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    again = _autopack(
        home,
        "run",
        str(plan),
        "--repo",
        str(repo),
        "--run-id",
        "md-run-2",
        "--json",
        **{**env, "AUTOPACK_LLM_SCRIPT": str(empty)},
    )
    assert again.returncode == 1, again.stderr
    failed = json.loads(again.stdout)
    assert failed["state"] == "DONE_FAILED_ENVIRONMENT"  # at once: retrying cannot help
    assert "no unused line" in failed["failure_reason"]
    assert failed["phases"][0]["builder_attempts"] == 0
    reports = sorted((Path(failed["artifacts"]) / "errors").glob("*.json"))
    assert reports, "the failure is reported under errors/"
    report = json.loads(reports[0].read_text())
    assert (report["run_id"], report["phase_id"]) == ("md-run-2", "mul")
    assert "ScriptExhausted" in report["stack"] and reports[0].with_suffix(".txt").exists()


def test_api_executes_in_the_background_and_cancels(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    script = write_jsonl(
        tmp_path / "s.jsonl",
        [builder("mul", op("append", "calc.py", content=MUL_FUNC)), auditor("mul")],
    )
    settings = sqlite_settings.model_copy(update={"llm_provider": "scripted", "llm_script": script})
    spec = {
        "run_id": "bg",
        "repo": str(repo),
        "phases": [{"phase_id": "mul", "name": "mul", "scope": {"paths": ["calc.py"]}}],
    }
    with TestClient(create_app(settings)) as client:
        assert client.post("/runs", json=spec).status_code == 201
        accepted = client.post("/runs/bg/execute")
        assert accepted.status_code == 202, accepted.text
        client.app.state.executor_pool.wait("bg", timeout=120)  # type: ignore[attr-defined]
        status = client.get("/runs/bg/status").json()
        assert status["state"] == "DONE_SUCCESS", status
        assert status["phase_counts"] == {"COMPLETE": 1}
        assert client.post("/runs/bg/execute").status_code == 409  # already done

        spec["run_id"] = "idle"
        assert client.post("/runs", json=spec).status_code == 201
        cancelled = client.post("/runs/idle/cancel")
        assert cancelled.status_code == 202
        assert client.get("/runs/idle/status").json()["state"] == "DONE_CANCELLED"
        assert client.post("/runs/idle/cancel").status_code == 409
        no_repo = client.post("/runs", json={"run_id": "norepo", "phases": []})
        assert no_repo.status_code == 201
        refused = client.post("/runs/norepo/execute")
        assert refused.status_code in (400, 422) and "repository" in refused.json()["detail"]
