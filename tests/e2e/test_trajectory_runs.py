"""Every model call of a scripted run read back through `autopack show` and the API:
call numbers 1..N continued by a resumed run, the context behind each Builder prompt,
and secrets redacted wherever they came from (a file the Builder sees, an answer)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from executor_support import (
    BAD_MUL_FUNC,
    MUL_TEST,
    auditor,
    builder,
    make_repo,
    mul_ops,
    op,
    phase,
    write_plan,
    write_script,
)
from fastapi.testclient import TestClient

from autopack.api.app import create_app
from autopack.settings import Settings
from cli_runner import invoke_cli

GITHUB = "ghp_PLANTEDgithubTOKEN0123456789abcdefghij"
SETTINGS_MODULE = f'"""Deployment settings."""\n\nAPI_TOKEN = "{GITHUB}"\n'
Shown = tuple[int, str, str]


@pytest.fixture
def show(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Shown]:
    """`autopack show ARGS` through the console script's main() (exit codes included),
    in-process: stdout is captured, not a terminal, so nothing may be cut."""

    def run(*args: str) -> Shown:
        monkeypatch.setenv("AUTOPACK_HOME", str(sqlite_settings.home))
        monkeypatch.setenv("AUTOPACK_DATABASE_URL", sqlite_settings.database_url or "")
        code, out, err = invoke_cli(monkeypatch, capsys, "show", *args)
        return code, out, err

    return run


def test_every_call_is_on_record_readable_and_continued_after_a_resume(
    sqlite_settings: Settings, tmp_path: Path, harness_factory, show: Callable[..., Shown]
) -> None:
    repo = make_repo(tmp_path, {"deploy_settings.py": SETTINGS_MODULE})
    plan = write_plan(
        tmp_path / "plan.yaml",
        "traj-run",
        [
            phase(
                "mul",
                paths=["calc.py", "tests/", "deploy_settings.py"],
                budgets={"max_builder_attempts": 1},
            )
        ],
    )
    # First execution: a wrong answer (that also quotes the token) fails the phase's only
    # attempt, so the run ends failed; the resumed run gets the next lines.
    script = write_script(
        tmp_path / "script.jsonl",
        [
            builder(
                "mul",
                op("append", "calc.py", content=BAD_MUL_FUNC + f"# seen {GITHUB}\n"),
                op("create", "tests/test_mul.py", content=MUL_TEST),
            ),
            builder("mul", *mul_ops()),
            auditor("mul"),
        ],
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    assert show(run_id)[:2] == (0, f"run {run_id} has no model calls on record\n")
    outcome = harness.execute(run_id, script)
    assert outcome.state.startswith("DONE_FAILED"), outcome.state
    trajectory = Path(outcome.artifacts) / "trajectory.jsonl"
    first_calls = [json.loads(line) for line in trajectory.read_text().splitlines()]
    assert [c["call"] for c in first_calls] == list(range(1, len(first_calls) + 1))
    assert first_calls[0]["role"] == "builder" and first_calls[0]["attempt"] == 1

    # Resumed: the failed phase is retried and the numbering continues in the same file.
    outcome = harness.execute(run_id, script)
    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    calls = [json.loads(line) for line in trajectory.read_text().splitlines()]
    n = len(first_calls)
    assert [c["call"] for c in calls] == list(range(1, n + 3))
    assert [(c["role"], c["attempt"]) for c in calls[n:]] == [("builder", 2), ("auditor", 2)]
    build = calls[n]
    assert build["phase_id"] == "mul" and build["model"] == "scripted"
    assert build["usage"]["total_tokens"] == 1200 and build["stop_reason"] == "end"
    kept = {f["path"]: f for f in build["context"]["files"]}
    assert kept["calc.py"]["tokens"] > 0 and "deploy_settings.py" in kept
    # The token was in a file the Builder saw and in an answer: never in the trajectory.
    assert GITHUB not in trajectory.read_text()
    assert "[REDACTED:" in build["messages"][1]["content"]
    assert "[REDACTED:" in first_calls[0]["answer"]
    # The phase summary records the context per attempt, with tokens per file.
    summary = next((Path(outcome.artifacts) / "phases").glob("*mul*.md")).read_text()
    assert "## Context per attempt" in summary and "| calc.py |" in summary

    # autopack show: the table, then one call in full, through a pipe.
    code, table, _ = show(run_id)
    assert code == 0
    rows = [line for line in table.splitlines() if " mul " in line]
    assert len(rows) == n + 2 and "auditor" in rows[-1] and "1200" in table
    code, full, _ = show(run_id, "--call", str(n + 1))
    assert code == 0
    assert build["messages"][1]["content"] in full  # the whole prompt, uncut
    assert build["messages"][0]["content"] in full and build["answer"] in full
    assert "calc.py" in full and GITHUB not in full
    code, as_json, _ = show(run_id, "--phase", "mul", "--json")
    assert [c["call"] for c in json.loads(as_json)["calls"]] == list(range(1, n + 3))
    code, _, err = show("no-such-run")
    assert code == 2 and "no-such-run" in err
    code, _, err = show(run_id, "--call", "99")
    assert code == 2 and "no call 99" in err
    code, _, err = show(run_id, "--phase", "nope")
    assert code == 2 and "has no phase 'nope'" in err

    # The API serves the same records, paginated.
    with TestClient(create_app(sqlite_settings), raise_server_exceptions=False) as client:
        page = client.get(f"/runs/{run_id}/trajectory", params={"limit": 2, "offset": n})
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["total"] == n + 2 and [c["call"] for c in body["calls"]] == [n + 1, n + 2]
        assert body["calls"][0]["context"]["files"]
        one = client.get(f"/runs/{run_id}/trajectory", params={"call": n + 2}).json()
        assert one["calls"][0]["role"] == "auditor"
        missing = client.get("/runs/nope/trajectory")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        bad_phase = client.get(f"/runs/{run_id}/trajectory", params={"phase_id": "zzz"})
        assert bad_phase.status_code == 404 and "mul" in bad_phase.text
        assert client.get(f"/runs/{run_id}/trajectory", params={"limit": 0}).status_code == 422
        assert "/runs/{run_id}/trajectory" in client.get("/openapi.json").json()["paths"]
