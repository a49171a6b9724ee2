"""The LLM client redacts every request before any provider (or usage sink) sees it."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from autopack.config import load_models_config
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.llm.client import LLMClient
from autopack.llm.factory import build_redactor
from autopack.llm.router import ModelRouter
from autopack.settings import Settings

TOKEN = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
APP_KEY = "letmein-autopack-0042"
PROVIDER_KEY = "plain-openai-key-7788"


class Recording:
    name = "anthropic"

    def __init__(self) -> None:
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest) -> Completion:
        self.requests.append(request)
        assert request.model
        return Completion(
            text="ok", provider=self.name, model=request.model,
            usage=Usage.reported(10, 5), stop_reason="end",
        )  # fmt: skip


def test_system_and_messages_are_redacted_and_the_lines_kept(tmp_path: Path) -> None:
    config = load_models_config()
    settings = Settings(home=tmp_path, api_keys=[SecretStr(APP_KEY)])
    redactor = build_redactor(
        settings, config, environ={"OPENAI_API_KEY": PROVIDER_KEY, "ANTHROPIC_API_KEY": ""}
    )
    provider = Recording()
    sunk: list[LLMRequest] = []
    client = LLMClient(
        config,
        router=ModelRouter(config),
        provider_factory=lambda name: provider,
        usage_sink=lambda request, completion: sunk.append(request),
        redactor=redactor,
    )
    request = LLMRequest(
        role="builder",
        system=f"Server key: {APP_KEY}",
        messages=(
            Message("user", f'API_TOKEN = "{TOKEN}"\nTIMEOUT = 30\nlog: {PROVIDER_KEY} failed'),
            Message("assistant", "ok"),
        ),
        max_tokens=100,
    )
    client.complete(request)

    sent = provider.requests[0]
    assert sent.system == "Server key: [REDACTED:autopack_api_key]"
    assert sent.messages[0].content.splitlines() == [
        'API_TOKEN = "[REDACTED:github_token]"',
        "TIMEOUT = 30",
        "log: [REDACTED:openai_api_key] failed",
    ]
    assert sent.messages[1] == Message("assistant", "ok")
    assert sunk == [sent]


def test_without_a_configured_redactor_shapes_are_still_redacted() -> None:
    config = load_models_config()
    provider = Recording()
    client = LLMClient(
        config,
        router=ModelRouter(config),
        provider_factory=lambda name: provider,
        usage_sink=lambda request, completion: None,
    )
    client.complete(
        LLMRequest(role="doctor", system="s", messages=(Message("user", TOKEN),), max_tokens=10)
    )
    assert provider.requests[0].messages[0].content == "[REDACTED:github_token]"
