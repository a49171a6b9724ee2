"""A Builder call through each adapter ends as exact usage and cost in the database."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from autopack.agents.builder import BuilderContext, run_builder
from autopack.config import load_models_config
from autopack.db.orm import LlmUsageEvent, Phase, Run, TokenEstimationEvent
from autopack.db.session import unit_of_work
from autopack.llm.factory import build_client
from autopack.llm.router import Routing
from autopack.services.usage import make_estimation_sink, make_usage_sink
from autopack.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OPS = "\n".join(
    json.dumps({"op": "create", "path": f"src/m{i}.py", "content": f"X = {i}\n"}) for i in range(2)
)
CONTEXT = BuilderContext(
    run_id="run-1",
    phase_id="p1",
    goal="G",
    phase_name="P1",
    deliverables=["src/m0.py", "src/m1.py"],
    allowed_paths=["src/"],
)


def client_for(factory, handler, tmp_path: Path, **settings: object):  # type: ignore[no-untyped-def]
    config = load_models_config()
    return build_client(
        Settings(home=tmp_path, **settings),  # type: ignore[arg-type]
        usage_sink=make_usage_sink(factory, config.price_table()),
        estimation_sink=make_estimation_sink(factory),
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        environ={"ANTHROPIC_API_KEY": "sk-ant-test", "OPENAI_API_KEY": "sk-test"},
        sleep=lambda _s: None,
    )


def events(factory) -> list[LlmUsageEvent]:  # type: ignore[no-untyped-def]
    with unit_of_work(factory) as session:
        return list(session.scalars(select(LlmUsageEvent).order_by(LlmUsageEvent.id)))


def test_anthropic_builder_call_records_exact_tokens_and_cost(
    any_engine, make_factory, seed_run, provider_bodies, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(any_engine)
    seed_run(factory)
    client = client_for(factory, lambda _r: provider_bodies.anthropic(OPS, 1800, 120), tmp_path)
    answer = run_builder(client, CONTEXT, Routing(category="feature", complexity="medium"))
    assert len(answer.edits) == 2

    (event,) = events(factory)
    assert (event.provider, event.model, event.role) == (
        "anthropic",
        "claude-sonnet-4-5",
        "builder",
    )
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (1800, 120, 1920)
    assert event.exact and event.cost_usd == pytest.approx(1800 * 3e-6 + 120 * 15e-6)
    assert (event.run_id, event.phase_id, event.stop_reason) == ("run-1", "p1", "end")
    with unit_of_work(factory) as session:
        assert session.get(Run, "run-1").tokens_used == 1920  # type: ignore[union-attr]
        phase = session.scalars(select(Phase).where(Phase.phase_id == "p1")).one()
        assert phase.tokens_used == 1920
        (budget,) = session.scalars(select(TokenEstimationEvent))
        assert budget.actual_output_tokens == 120 and budget.model == "claude-sonnet-4-5"
        assert budget.chosen_budget == answer.estimate.budget and not budget.truncated


def test_openai_builder_call_records_exact_tokens_and_cost(
    llm_engine, make_factory, seed_run, provider_bodies, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(llm_engine)
    seed_run(factory)
    usage = {"prompt_tokens": 2000, "completion_tokens": 150, "total_tokens": 2150}
    client = client_for(
        factory, lambda _r: provider_bodies.openai(OPS, usage), tmp_path, llm_provider="openai"
    )
    run_builder(client, CONTEXT, Routing(category="feature", complexity="low"))
    (event,) = events(factory)
    assert (event.provider, event.model) == ("openai", "gpt-5-mini")
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (2000, 150, 2150)
    assert event.cost_usd == pytest.approx(2000 * 0.25e-6 + 150 * 2e-6)


def test_total_only_endpoint_records_null_splits(
    llm_engine, make_factory, seed_run, provider_bodies, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(llm_engine)
    seed_run(factory)
    client = client_for(
        factory,
        lambda _r: provider_bodies.openai(OPS, {"total_tokens": 999}),
        tmp_path,
        llm_base_url="http://localhost:8080/v1",
        llm_model="llama-3.3-70b",
    )
    run_builder(client, CONTEXT, Routing())
    (event,) = events(factory)
    assert (event.provider, event.model) == ("custom", "llama-3.3-70b")
    assert event.prompt_tokens is None and event.completion_tokens is None
    assert event.total_tokens == 999 and event.exact
    assert event.cost_usd is None  # no price for an unknown model
    with unit_of_work(factory) as session:
        assert session.get(Run, "run-1").tokens_used == 999  # type: ignore[union-attr]
        (budget,) = session.scalars(select(TokenEstimationEvent))
        assert budget.actual_output_tokens is None  # never a guessed split


def test_anthropic_outage_falls_back_to_openai_and_is_accounted(
    llm_engine, make_factory, seed_run, provider_bodies, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(llm_engine)
    seed_run(factory)
    usage = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.host == "api.anthropic.com":
            return httpx2.Response(
                529,
                json={
                    "type": "error",
                    "error": {"type": "overloaded_error", "message": "Overloaded"},
                },
            )
        return provider_bodies.openai(OPS, usage)

    client = client_for(factory, handler, tmp_path)
    answer = run_builder(client, CONTEXT, Routing(category="feature", complexity="medium"))
    assert answer.completions[0].provider == "openai"
    assert [(e.provider, e.model) for e in events(factory)] == [("openai", "gpt-5")]
