"""GET /dashboard/usage, GET /dashboard/models, POST /dashboard/models/override."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from autopack.api.app import create_app
from autopack.api.routes import llm
from autopack.config import load_models_config
from autopack.db.orm import ModelOverride, Run
from autopack.db.session import unit_of_work
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.services.routing import overrides_for, run_overrides, set_run_override
from autopack.services.usage import record_usage
from autopack.settings import Settings


@pytest.fixture
def app(tmp_path: Path, seed_run) -> Iterator[FastAPI]:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'api.db'}")
    application = create_app(settings)
    if not any(getattr(r, "path", "") == "/dashboard/usage" for r in application.routes):
        application.include_router(llm.router)
    seed_run(application.state.session_factory)
    yield application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def add_usage(app: FastAPI, usage: Usage, provider: str, model: str) -> None:
    request = LLMRequest(
        role="builder",
        system="s",
        messages=(Message("user", "u"),),
        max_tokens=10,
        run_id="run-1",
        phase_id="p1",
    )
    completion = Completion(
        text="x", provider=provider, model=model, usage=usage, stop_reason="end"
    )
    with unit_of_work(app.state.session_factory) as session:
        record_usage(session, completion=completion, request=request)


def test_usage_by_provider_and_model(app: FastAPI, client: TestClient) -> None:
    assert client.get("/dashboard/usage").json()["providers"] == []
    add_usage(app, Usage.reported(1000, 100), "anthropic", "claude-sonnet-4-5")
    add_usage(app, Usage.total_only(400), "anthropic", "claude-sonnet-4-5")
    body = client.get("/dashboard/usage", params={"period": "day"}).json()
    (provider,) = body["providers"]
    assert provider["provider"] == "anthropic" and provider["period"] == "day"
    assert (provider["prompt_tokens"], provider["completion_tokens"], provider["total_tokens"]) == (
        1000,
        100,
        1500,
    )
    assert provider["cap_tokens"] == 5_000_000
    assert provider["percent_of_cap"] == pytest.approx(0.03)
    (model,) = body["models"]
    assert model["model"] == "claude-sonnet-4-5"
    assert model["cost_usd"] == pytest.approx(0.0045) and model["cost_complete"] is False


def test_bad_period_is_a_422(client: TestClient) -> None:
    response = client.get("/dashboard/usage", params={"period": "year"})
    assert response.status_code == 422


def test_models_lists_the_effective_mapping(client: TestClient) -> None:
    entries = client.get("/dashboard/models").json()
    index = {(e["role"], e["category"], e["complexity"]): e for e in entries}
    assert index[("builder", "general", "medium")] == {
        "role": "builder",
        "category": "general",
        "complexity": "medium",
        "model": "claude-sonnet-4-5",
        "scope": "config",
    }
    assert index[("builder", "docs", "low")]["model"] == "claude-haiku-4-5"


def test_global_override_applies_to_new_calls(app: FastAPI, client: TestClient) -> None:
    response = client.post(
        "/dashboard/models/override",
        json={
            "role": "builder",
            "category": "general",
            "complexity": "medium",
            "model": "gpt-5",
            "scope": "global",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "global" and "coming soon" not in response.text
    entry = next(
        e
        for e in client.get("/dashboard/models").json()
        if (e["role"], e["category"], e["complexity"]) == ("builder", "general", "medium")
    )
    assert entry["model"] == "gpt-5" and entry["scope"] == "global"
    # Setting it again replaces the row instead of failing on the unique key.
    client.post(
        "/dashboard/models/override",
        json={"role": "builder", "complexity": "medium", "model": "claude-opus-4-5"},
    )
    with unit_of_work(app.state.session_factory) as session:
        rows = session.scalars(select(ModelOverride)).all()
        assert [(r.model, r.category) for r in rows] == [("claude-opus-4-5", "general")]


def test_run_override_applies_to_that_run_only(app: FastAPI, client: TestClient) -> None:
    response = client.post(
        "/dashboard/models/override",
        json={
            "role": "auditor",
            "category": "docs",
            "complexity": "low",
            "model": "claude-opus-4-5",
            "scope": "run",
            "run_id": "run-1",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["run_id"] == "run-1"
    with unit_of_work(app.state.session_factory) as session:
        run = session.get(Run, "run-1")
        assert run is not None
        assert run.model_overrides == {"auditor:docs:low": "claude-opus-4-5"}
        assert overrides_for(session, "run-1").run_models == {
            ("auditor", "docs", "low"): "claude-opus-4-5"
        }
        assert overrides_for(session, None).run_models == {}
    scoped = client.get("/dashboard/models", params={"run_id": "run-1"}).json()
    entry = next(
        e
        for e in scoped
        if (e["role"], e["category"], e["complexity"]) == ("auditor", "docs", "low")
    )
    assert entry == {
        "role": "auditor",
        "category": "docs",
        "complexity": "low",
        "model": "claude-opus-4-5",
        "scope": "run",
    }


def test_run_scope_without_run_id_is_a_clear_422(client: TestClient) -> None:
    response = client.post(
        "/dashboard/models/override",
        json={"role": "builder", "complexity": "low", "model": "gpt-5", "scope": "run"},
    )
    assert response.status_code == 422
    assert "run_id is required" in response.json()["detail"]


def test_unknown_run_is_a_404(client: TestClient) -> None:
    response = client.post(
        "/dashboard/models/override",
        json={
            "role": "builder",
            "complexity": "low",
            "model": "gpt-5",
            "scope": "run",
            "run_id": "no-such-run",
        },
    )
    assert response.status_code == 404
    assert client.get("/dashboard/models", params={"run_id": "nope"}).status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"role": "janitor", "complexity": "low", "model": "gpt-5"}, "role"),
        ({"role": "builder", "complexity": "low", "model": "gpt-9"}, "model"),
        ({"role": "builder", "complexity": "extreme", "model": "gpt-5"}, "complexity"),
        ({"role": "builder", "category": "a:b", "complexity": "low", "model": "gpt-5"}, "category"),
    ],
)
def test_invalid_overrides_are_422(client: TestClient, payload: dict[str, str], field: str) -> None:
    response = client.post("/dashboard/models/override", json=payload)
    assert response.status_code == 422
    assert field in response.text


def test_run_overrides_ignore_malformed_keys(app: FastAPI) -> None:
    with unit_of_work(app.state.session_factory) as session:
        set_run_override(
            session,
            load_models_config(),
            "run-1",
            "builder",
            "General",
            "high",
            "gpt-5",
            actor="test",
        )
        run = session.get(Run, "run-1")
        assert run is not None
        run.model_overrides = {**run.model_overrides, "junk": "x", "a:b:c:d": "y"}
    with unit_of_work(app.state.session_factory) as session:
        assert run_overrides(session, "run-1") == {("builder", "general", "high"): "gpt-5"}
