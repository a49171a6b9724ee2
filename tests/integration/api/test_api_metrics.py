"""GET /metrics: the Prometheus text format, parsed back with prometheus_client's own
parser, with the numbers the database and this process hold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from autopack.api.app import create_app
from autopack.db.session import unit_of_work
from autopack.domain.edits import CreateFile
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.services import usage
from autopack.settings import Settings
from autopack.verify.suite import run_tests
from autopack.workspace.apply import apply_edits
from autopack.workspace.guards import ApplyPolicy


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def record(client: TestClient, run_id: str, provider: str, model: str, latency_ms: int) -> None:
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    request = LLMRequest(
        role="builder", system="s", messages=(Message("user", "u"),), max_tokens=10, run_id=run_id
    )
    completion = Completion(
        text="x",
        provider=provider,
        model=model,
        usage=Usage.reported(1200, 300),
        stop_reason="end",
        latency_ms=latency_ms,
    )
    with unit_of_work(factory) as session:
        usage.record_usage(session, completion=completion, request=request)


def test_metrics_show_runs_phases_tokens_and_cost(
    client: TestClient, make_run: Callable[..., dict[str, Any]]
) -> None:
    make_run("m1", "a", "b")
    make_run("m2", "c")
    before = scrape(client)
    record(client, "m1", "anthropic", "claude-sonnet-4-5", 1500)
    record(client, "m1", "anthropic", "claude-sonnet-4-5", 700)
    samples = scrape(client)
    assert value(samples, "autopack_runs", state="RUN_CREATED") == 2
    assert value(samples, "autopack_runs", state="DONE_SUCCESS") == 0
    assert value(samples, "autopack_phases", state="QUEUED") == 3
    key = {"provider": "anthropic", "model": "claude-sonnet-4-5"}
    assert value(samples, "autopack_llm_calls_total", **key) == 2
    assert value(samples, "autopack_llm_tokens_total", **key) == 3000
    assert value(samples, "autopack_llm_cost_usd_total", **key) > 0
    # The latency histogram is this process's: compare with the scrape before.
    count = "autopack_llm_latency_seconds_count"
    assert value(samples, count, **key) - value(before, count, **key) == 2
    total = "autopack_llm_latency_seconds_sum"
    assert round(value(samples, total, **key) - value(before, total, **key), 3) == 2.2
    le_1 = value(samples, "autopack_llm_latency_seconds_bucket", le="1.0", **key)
    assert le_1 - value(before, "autopack_llm_latency_seconds_bucket", le="1.0", **key) == 1


def test_apply_rejections_and_test_durations_are_counted(
    client: TestClient, tmp_path: Path
) -> None:
    before = scrape(client)
    (tmp_path / "ws").mkdir()
    policy = ApplyPolicy(allowed_paths=("src/",))
    assert apply_edits(tmp_path / "ws", [], policy).status == "rejected"
    outside = [CreateFile(path="elsewhere.py", content="x = 1\n")]
    assert apply_edits(tmp_path / "ws", outside, policy).status == "rejected"
    run_tests(tmp_path, "python -c pass", timeout=60)
    samples = scrape(client)
    rejections = "autopack_apply_rejections_total"
    for reason in ("no_edits", "edits"):
        assert (
            value(samples, rejections, reason=reason) - value(before, rejections, reason=reason)
            == 1
        )
    count = "autopack_test_duration_seconds_count"
    assert value(samples, count, outcome="passed") - value(before, count, outcome="passed") == 1


def test_two_apps_in_one_process_each_serve_their_own_database(
    client: TestClient, make_run: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    make_run("only-here", "a")
    # Another home: the embedded default database there, created on start.
    with TestClient(create_app(Settings(home=tmp_path / "other-home"))) as other:
        assert value(scrape(other), "autopack_runs", state="RUN_CREATED") == 0
        assert value(scrape(other), "autopack_runs", state="RUN_CREATED") == 0
    assert value(scrape(client), "autopack_runs", state="RUN_CREATED") == 1
