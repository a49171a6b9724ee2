"""A scripted run, executed for real, then delivered: /metrics shows its numbers, the diff
shows its phases, and it is merged into the user's checkout and pushed to a bare remote."""

from __future__ import annotations

from pathlib import Path

from executor_support import (
    auditor,
    builder,
    git,
    make_repo,
    mul_ops,
    op,
    phase,
    write_plan,
    write_script,
)
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from autopack.api.app import create_app
from autopack.settings import Settings


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_a_scripted_run_is_measured_reviewed_merged_and_pushed(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "deliver-me",
        [
            phase("mul", paths=["calc.py", "tests/"], deliverables=["calc.py::mul"]),
            phase("sub", paths=["calc.py", "tests/"], deliverables=["calc.py::sub"]),
        ],
    )
    sub = "\n\ndef sub(a: int, b: int) -> int:\n    return a - b\n"
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder("mul", *mul_ops(), tokens=(1000, 250)),
            auditor("mul"),
            builder("sub", op("append", "calc.py", content=sub), tokens=(800, 200)),
            auditor("sub"),
        ],
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    with TestClient(create_app(sqlite_settings)) as client:
        before = samples(client)
        outcome = harness.execute(run_id, script)
        assert outcome.state == "DONE_SUCCESS", outcome
        after = samples(client)

        assert after[("autopack_runs", frozenset({("state", "DONE_SUCCESS")}))] == 1
        assert after[("autopack_phases", frozenset({("state", "COMPLETE")}))] == 2
        # Two Builder calls (1250 + 1000 tokens) and two Auditor calls (600 each).
        tokens = sum(v for (n, _), v in after.items() if n == "autopack_llm_tokens_total")
        calls = sum(v for (n, _), v in after.items() if n == "autopack_llm_calls_total")
        assert (tokens, calls) == (1250 + 1000 + 600 + 600, 4)

        def grown(name: str) -> float:
            total = sum(v for (n, _), v in after.items() if n == name)
            return total - sum(v for (n, _), v in before.items() if n == name)

        # Observed in this process, where the run executed: every call, every suite run
        # (the baseline and each phase's verification).
        assert grown("autopack_llm_latency_seconds_count") == 4
        assert grown("autopack_test_duration_seconds_count") >= 3

        diff = client.get(f"/runs/{run_id}/diff").json()
        assert [c["phase_id"] for c in diff["commits"]] == ["mul", "sub"]
        assert {f["path"] for f in diff["files"]} == {"calc.py", "tests/test_mul.py"}

        (repo / "scratch.txt").write_text("untracked, mine\n", encoding="utf-8")
        merged = client.post(f"/runs/{run_id}/merge", json={"into": "main"})
        assert merged.status_code == 200, merged.text
        assert merged.json()["result"] == "fast_forward"
        assert git(repo, "log", "--format=%s", "-2", "main").splitlines() == [
            "sub: Phase sub",
            "mul: Phase mul",
        ]
        assert "def sub(" in (repo / "calc.py").read_text()
        assert (repo / "scratch.txt").read_text() == "untracked, mine\n"

        remote = tmp_path / "remote.git"
        git(tmp_path, "init", "-q", "--bare", str(remote))
        git(repo, "remote", "add", "origin", str(remote))
        pushed = client.post(f"/runs/{run_id}/push")
        assert pushed.status_code == 200, pushed.text
        assert git(remote, "rev-parse", f"autopack/{run_id}").strip() == merged.json()["sha"]
