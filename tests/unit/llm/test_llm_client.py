"""LLMClient: routing, retries, fallback, and exactly one usage record per completion."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from autopack.config import ModelsConfig, load_models_config
from autopack.errors import (
    AuthenticationFailed,
    ConfigurationError,
    ContextWindowExceeded,
    Overloaded,
    ProviderError,
)
from autopack.llm.base import Completion, LLMProvider, LLMRequest, Message, Usage
from autopack.llm.client import LLMClient
from autopack.llm.router import ModelRouter, Routing


@dataclass
class FakeProvider:
    """A provider that fails with the queued errors, then answers."""

    name: str
    errors: list[ProviderError] = field(default_factory=list)
    requests: list[LLMRequest] = field(default_factory=list)

    def complete(self, request: LLMRequest) -> Completion:
        self.requests.append(request)
        if self.errors:
            raise self.errors.pop(0)
        assert request.model
        return Completion(
            text=f"{self.name}:{request.model}",
            provider=self.name,
            model=request.model,
            usage=Usage.reported(10, 5),
            stop_reason="end",
        )


class Harness:
    def __init__(
        self,
        providers: dict[str, FakeProvider | Exception],
        config: ModelsConfig | None = None,
        **router_kwargs: str,
    ) -> None:
        self.providers = providers
        self.usage: list[tuple[LLMRequest, Completion]] = []
        self.sleeps: list[float] = []
        self.now = [0.0]
        cfg = config or load_models_config()
        self.client = LLMClient(
            cfg,
            router=ModelRouter(cfg, **router_kwargs),
            provider_factory=self.build,
            usage_sink=lambda req, comp: self.usage.append((req, comp)),
            sleep=self.sleeps.append,
            rng=random.Random(0),
            clock=lambda: self.now[0],
        )

    def build(self, name: str) -> LLMProvider:
        provider = self.providers[name]
        if isinstance(provider, Exception):
            raise provider
        return provider


def req(role: str = "builder", max_tokens: int = 1000, model: str | None = None) -> LLMRequest:
    return LLMRequest(
        role=role,
        system="s",
        messages=(Message("user", "u"),),  # type: ignore[arg-type]
        max_tokens=max_tokens,
        run_id="r1",
        phase_id="p1",
        model=model,
    )


def test_routes_and_records_usage_once() -> None:
    anthropic = FakeProvider("anthropic")
    h = Harness({"anthropic": anthropic})
    completion = h.client.complete(req(), Routing(category="feature", complexity="medium"))
    assert completion.text == "anthropic:claude-sonnet-4-5"
    assert len(h.usage) == 1
    recorded_request, recorded = h.usage[0]
    assert recorded is completion and recorded_request.model == "claude-sonnet-4-5"
    assert recorded_request.run_id == "r1"


def test_max_tokens_is_clamped_to_the_model_limit() -> None:
    anthropic = FakeProvider("anthropic")
    Harness({"anthropic": anthropic}).client.complete(req(max_tokens=500_000))
    assert anthropic.requests[0].max_tokens == 64000


def test_transient_errors_retry_then_succeed_without_extra_usage() -> None:
    anthropic = FakeProvider("anthropic", errors=[Overloaded("529"), Overloaded("529")])
    h = Harness({"anthropic": anthropic})
    h.client.complete(req())
    assert len(anthropic.requests) == 3 and len(h.sleeps) == 2
    assert len(h.usage) == 1


def test_provider_down_falls_back_to_counterpart() -> None:
    anthropic = FakeProvider("anthropic", errors=[Overloaded("529")] * 8)
    openai = FakeProvider("openai")
    h = Harness({"anthropic": anthropic, "openai": openai})
    # down_after_failures=1 in the bundled config: one call that used up its 4 tries.
    completion = h.client.complete(req(), Routing(complexity="medium"))
    assert completion.provider == "openai" and completion.model == "gpt-5"
    assert len(anthropic.requests) == 4
    assert [c.provider for _, c in h.usage] == ["openai"]
    # The next call goes straight to the fallback while anthropic cools down ...
    h.client.complete(req(), Routing(complexity="low"))
    assert h.usage[-1][1].model == "gpt-5-mini" and len(anthropic.requests) == 4
    # ... and back to anthropic after the cooldown.
    h.now[0] = 10_000
    anthropic.errors.clear()
    assert h.client.complete(req()).provider == "anthropic"


def test_missing_key_falls_back_immediately() -> None:
    openai = FakeProvider("openai")
    h = Harness({"anthropic": AuthenticationFailed("no key"), "openai": openai})
    assert h.client.complete(req(role="auditor")).provider == "openai"
    assert "anthropic" in h.client.health.down()


def test_everything_down_raises_the_last_provider_error() -> None:
    h = Harness(
        {
            "anthropic": FakeProvider("anthropic", errors=[Overloaded("a")] * 8),
            "openai": FakeProvider("openai", errors=[Overloaded("o")] * 8),
        }
    )
    with pytest.raises(Overloaded, match="o"):
        h.client.complete(req())
    assert h.usage == []


def test_non_transient_errors_do_not_fall_back() -> None:
    anthropic = FakeProvider("anthropic", errors=[ContextWindowExceeded("too long")])
    openai = FakeProvider("openai")
    h = Harness({"anthropic": anthropic, "openai": openai})
    with pytest.raises(ContextWindowExceeded):
        h.client.complete(req())
    assert openai.requests == [] and h.client.health.down() == {}


def test_pinned_model_bypasses_routing_but_not_accounting() -> None:
    openai = FakeProvider("openai")
    h = Harness({"openai": openai})
    assert h.client.complete(req(model="gpt-5-mini")).model == "gpt-5-mini"
    assert len(h.usage) == 1
    with pytest.raises(ConfigurationError, match="not declared"):
        h.client.complete(req(model="mystery-model"))


def test_forced_scripted_provider() -> None:
    scripted = FakeProvider("scripted")
    h = Harness({"scripted": scripted}, forced_provider="scripted")
    completion = h.client.complete(req(role="doctor"))
    assert completion.text == "scripted:scripted"


def test_failing_usage_sink_propagates() -> None:
    cfg = load_models_config()

    def broken_sink(_r: LLMRequest, _c: Completion) -> None:
        raise RuntimeError("database down")

    client = LLMClient(
        cfg,
        router=ModelRouter(cfg),
        provider_factory=lambda _n: FakeProvider("anthropic"),
        usage_sink=broken_sink,
    )
    with pytest.raises(RuntimeError, match="database down"):
        client.complete(req())


class RecordingGate:
    """A call gate that admits everything and records what it saw."""

    def __init__(self) -> None:
        self.admitted: list[tuple[str, str | None]] = []
        self.settled: list[Completion | None] = []

    def admit(self, provider: str, request: LLMRequest) -> object:
        self.admitted.append((provider, request.model))
        return len(self.admitted)

    def settle(self, ticket: object, completion: Completion | None) -> None:
        self.settled.append(completion)


def test_every_provider_request_is_admitted_and_settled_retries_included() -> None:
    anthropic = FakeProvider("anthropic", errors=[Overloaded("529")])
    h = Harness({"anthropic": anthropic})
    gate = RecordingGate()
    h.client._gate = gate
    completion = h.client.complete(req())
    assert gate.admitted == [("anthropic", "claude-sonnet-4-5")] * 2
    assert gate.settled == [None, completion]  # the failed request used nothing
