"""A real LLMClient over a queue of canned answers, recording requests, usage and budgets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from autopack.config import load_models_config
from autopack.llm.base import Completion, LLMRequest, Usage
from autopack.llm.client import EstimationRecord, LLMClient
from autopack.llm.router import ModelRouter


@dataclass
class Canned:
    """Answers in order; an answer is text, or (text, stop_reason), or (text, stop, usage)."""

    answers: list[Any]
    requests: list[LLMRequest] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "anthropic"

    def complete(self, request: LLMRequest) -> Completion:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError("the agent asked more often than the test expects")
        item = self.answers.pop(0)
        text, stop, usage = (
            (item, "end", None) if isinstance(item, str) else (item + (None,) * (3 - len(item)))
        )
        assert request.model
        return Completion(
            text=text,
            provider="anthropic",
            model=request.model,
            usage=usage or Usage.reported(100, len(text) // 4 + 1),
            stop_reason=stop,
        )


@dataclass
class Rig:
    client: LLMClient
    provider: Canned
    usage: list[tuple[LLMRequest, Completion]]
    budgets: list[EstimationRecord]


@pytest.fixture
def rig() -> Callable[..., Rig]:
    def make(*answers: Any) -> Rig:
        config = load_models_config()
        provider = Canned(list(answers))
        usage: list[tuple[LLMRequest, Completion]] = []
        budgets: list[EstimationRecord] = []
        client = LLMClient(
            config,
            router=ModelRouter(config),
            provider_factory=lambda _name: provider,
            usage_sink=lambda r, c: usage.append((r, c)),
            estimation_sink=budgets.append,
            sleep=lambda _s: None,
        )
        return Rig(client, provider, usage, budgets)

    return make
