"""Delivery and observability costs: GET /metrics and the usage charts over a large
database, and a run branch's diff and merge over a large change.

- /metrics with 10,000 phases (200 runs x 50) and 20,000 LLM calls over 30 days, scraped
  through the app (one grouped query per family);
- the usage charts (30 days, 3 providers x 2 models) from the same database, drawn
  afresh and again with the same numbers (the drawing is cached);
- GET /runs/{id}/diff and POST /runs/{id}/merge (a merge commit) for a branch of 50
  commits changing 500 files, on real git.

Run: ``.venv/bin/python benchmarks/delivery.py`` (SQLite in a temporary AUTOPACK_HOME).
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from autopack.api.app import create_app
from autopack.config import load_models_config
from autopack.db.orm import LlmUsageEvent, Phase, Run, Tier
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.services.runs import create_run
from autopack.settings import Settings
from autopack.web import charts as chart_module
from autopack.web.charts import usage_charts
from autopack.workspace.git import GitWorkspace

DAY = date(2026, 3, 30)


def timed(label: str, action: Callable[[], object], repeat: int = 10) -> None:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    print(f"{label:<52} median {statistics.median(times):8.1f} ms   max {max(times):8.1f} ms")


def seed_database(client: TestClient) -> None:
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    states = ["COMPLETE", "COMPLETE", "COMPLETE", "FAILED", "QUEUED"]
    with unit_of_work(factory) as session:
        for r in range(200):
            run = Run(id=f"bench-{r}", state="DONE_SUCCESS" if r % 3 else "PHASE_EXECUTION")
            tier = Tier(run=run, tier_id="T1", name="T1")
            session.add_all([run, tier])
            for p in range(50):
                session.add(
                    Phase(run=run, tier=tier, phase_id=f"p{p}", phase_index=p, state=states[p % 5])
                )
        session.flush()  # the runs first: usage rows reference them
        models = [
            ("anthropic", "claude-sonnet-4-5"),
            ("anthropic", "claude-haiku-4-5"),
            ("openai", "gpt-5"),
            ("openai", "gpt-5-mini"),
            ("local", "llama-3"),
            ("local", "qwen"),
        ]
        start = datetime.combine(DAY - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
        for n in range(20_000):
            provider, model = models[n % len(models)]
            session.add(
                LlmUsageEvent(
                    created_at=start + timedelta(minutes=2 * n + 1),
                    provider=provider,
                    model=model,
                    run_id=f"bench-{n % 200}",
                    prompt_tokens=1000,
                    completion_tokens=250,
                    total_tokens=1250,
                    cost_usd=0.01 if provider != "local" else None,
                    latency_ms=800,
                )
            )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def seed_branch(client: TestClient, settings: Settings, root: Path) -> str:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for i in range(500):
        (repo / f"src/m{i // 50}").mkdir(parents=True, exist_ok=True)
        (repo / f"src/m{i // 50}/f{i}.py").write_text(
            "".join(f"line_{j} = {j}\n" for j in range(40))
        )
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "base")
    ws = GitWorkspace.create(repo, "big", settings.worktrees_dir)
    for c in range(50):
        for i in range(c * 10, c * 10 + 10):
            path = ws.path / f"src/m{i // 50}/f{i}.py"
            path.write_text(path.read_text().replace("line_7 = 7", f"line_7 = {c}"))
        ws.commit(f"p{c}: change {c}")
    (repo / "README.md").write_text("moved on\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "user")
    spec = RunSpec.model_validate(
        {"run_id": "big", "tiers": [{"tier_id": "T1", "name": "T"}], "phases": []}
    )
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        run = create_run(session, spec, runs_dir=settings.runs_dir, repo_path=str(repo))
        run.state, run.branch = "DONE_SUCCESS", ws.branch_name
    return "big"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="autopack-bench-") as tmp:
        # TestClient sends "Host: testserver"; the server answers only names it knows.
        settings = Settings(home=Path(tmp) / "home", allowed_hosts=["testserver"])
        with TestClient(create_app(settings)) as client:
            seed_database(client)
            timed(
                "GET /metrics (10,000 phases, 20,000 calls)",
                lambda: client.get("/metrics").raise_for_status(),
            )
            factory = client.app.state.session_factory  # type: ignore[attr-defined]
            caps = load_models_config().provider_quotas

            def charts() -> None:
                with factory() as session:
                    usage_charts(session, last_day=DAY, days=30, caps=caps)

            def fresh_charts() -> None:
                chart_module._tokens_svg.cache_clear()
                chart_module._cost_svg.cache_clear()
                charts()

            timed("usage charts, 30 days, 6 models: query + drawing", fresh_charts)
            timed("usage charts, same numbers again: query only", charts)
            run_id = seed_branch(client, settings, Path(tmp))
            timed(
                "GET /runs/{id}/diff (50 commits, 500 files)",
                lambda: client.get(f"/runs/{run_id}/diff").raise_for_status(),
            )
            start = time.perf_counter()
            merged = client.post(f"/runs/{run_id}/merge", json={"into": "main"})
            merged.raise_for_status()
            took = (time.perf_counter() - start) * 1000
            print(f"{'POST /runs/{id}/merge (merge commit, 500 files)':<52} once   {took:8.1f} ms")
            assert merged.json()["result"] == "merge_commit"


if __name__ == "__main__":
    main()
