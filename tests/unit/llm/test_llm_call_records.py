"""LLMClient puts every call to a provider on record: answered, failed, retried, fallen
back, tagged by the caller, with the request exactly as sent (routed and redacted)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from autopack.config import load_models_config
from autopack.errors import ContextWindowExceeded, Overloaded, ProviderError
from autopack.llm.base import Completion, LLMProvider, LLMRequest, Message, Usage
from autopack.llm.calls import CallRecord
from autopack.llm.client import LLMClient
from autopack.llm.router import ModelRouter, Routing
from autopack.redaction import Redactor

GITHUB = "ghp_PLANTEDgithubTOKEN0123456789abcdefghij"


@dataclass
class Provider:
    name: str
    errors: list[ProviderError] = field(default_factory=list)
    answer: str = "ok"

    def complete(self, request: LLMRequest) -> Completion:
        if self.errors:
            raise self.errors.pop(0)
        assert request.model
        return Completion(self.answer, self.name, request.model, Usage.reported(10, 5), "end")


def client(
    providers: dict[str, Provider], records: list[CallRecord]
) -> tuple[LLMClient, list[float]]:
    cfg = load_models_config()
    now = [0.0]

    def clock() -> float:
        now[0] += 0.25  # each reading a quarter second later: latency is measurable
        return now[0]

    def build(name: str) -> LLMProvider:
        return providers[name]

    made = LLMClient(
        cfg,
        router=ModelRouter(cfg),
        provider_factory=build,
        usage_sink=lambda req, comp: None,
        sleep=lambda s: None,
        rng=random.Random(0),
        clock=clock,
        redactor=Redactor.with_known([]),
        recorder=records.append,
    )
    return made, now


def request(text: str = "u", kind: str = "") -> LLMRequest:
    return LLMRequest(
        role="builder",
        system=f"system {GITHUB}",
        messages=(Message("user", text),),
        max_tokens=1000,
        run_id="r1",
        phase_id="p1",
        kind=kind,  # type: ignore[arg-type]
    )


def test_an_answered_call_is_recorded_with_tags_usage_cost_and_redacted_messages() -> None:
    records: list[CallRecord] = []
    llm, _ = client({"anthropic": Provider("anthropic", answer="the answer")}, records)
    with llm.tagged(attempt=2, purpose="builder", context={"token_budget": 10, "files": []}):
        llm.complete(request(f"fix it; token {GITHUB}"), Routing(complexity="medium"))
    llm.complete(request("outside"))
    assert len(records) == 2
    data = records[0].to_data()
    assert data["attempt"] == 2 and data["purpose"] == "builder" and data["kind"] == "call"
    assert data["context"] == {"token_budget": 10, "files": []}
    assert data["model"] == "claude-sonnet-4-5" and data["provider"] == "anthropic"
    assert data["answer"] == "the answer" and data["stop_reason"] == "end"
    assert data["usage"]["total_tokens"] == 15 and data["usage"]["cost_usd"] > 0
    assert data["latency_ms"] == 250 and data["error"] is None
    assert [m["role"] for m in data["messages"]] == ["system", "user"]
    assert GITHUB not in str(data) and "[REDACTED:" in data["messages"][1]["content"]
    # The tags end with the block.
    assert records[1].to_data()["attempt"] is None and records[1].to_data()["context"] is None


def test_a_failed_call_is_recorded_with_its_error_then_raised() -> None:
    records: list[CallRecord] = []
    bad = ContextWindowExceeded(f"prompt too long (key {GITHUB})")
    llm, _ = client({"anthropic": Provider("anthropic", errors=[bad])}, records)
    with pytest.raises(ContextWindowExceeded), llm.tagged(attempt=1, purpose="auditor"):
        llm.complete(request())
    (record,) = records
    data = record.to_data()
    assert data["error_type"] == "ContextWindowExceeded" and "prompt too long" in data["error"]
    assert GITHUB not in data["error"]
    assert data["answer"] is None and data["usage"] is None and data["purpose"] == "auditor"


def test_retries_are_counted_on_the_one_record_and_a_fallback_is_a_second_call() -> None:
    records: list[CallRecord] = []
    flaky = Provider("anthropic", errors=[Overloaded("529 once")])
    llm, _ = client({"anthropic": flaky}, records)
    llm.complete(request(kind="reask"))
    (record,) = records
    assert record.retries == 1 and record.to_data()["retry_errors"] == ["529 once"]
    assert record.to_data()["kind"] == "reask"

    records.clear()
    down = Provider("anthropic", errors=[Overloaded("down")] * 8)
    llm, _ = client({"anthropic": down, "openai": Provider("openai")}, records)
    llm.complete(request(), Routing(complexity="medium"))
    assert [(r.provider, r.error is None) for r in records] == [
        ("anthropic", False),
        ("openai", True),
    ]
    assert records[0].retries == 3


def test_tags_come_back_after_an_error_inside_the_block() -> None:
    records: list[CallRecord] = []
    llm, _ = client({"anthropic": Provider("anthropic")}, records)
    with llm.tagged(attempt=1, purpose="doctor"):
        with pytest.raises(RuntimeError), llm.tagged(attempt=5, purpose="builder"):
            raise RuntimeError("boom")
        llm.complete(request())
    assert records[0].tags.attempt == 1 and records[0].tags.purpose == "doctor"
