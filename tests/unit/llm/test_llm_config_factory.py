"""models.yaml validation and building providers and clients from settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from autopack.config import BUNDLED_MODELS_CONFIG, load_models_config, models_config_for
from autopack.errors import AuthenticationFailed, ConfigurationError
from autopack.llm.anthropic import AnthropicProvider
from autopack.llm.base import LLMRequest, Message
from autopack.llm.factory import build_client, build_provider, effective_config
from autopack.llm.openai import OpenAIProvider
from autopack.llm.router import Routing
from autopack.llm.scripted import ScriptedProvider
from autopack.settings import Settings


def bundled() -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load(BUNDLED_MODELS_CONFIG.read_text())
    return data


def test_bundled_config_is_valid_and_complete() -> None:
    config = load_models_config()
    assert {"anthropic", "openai", "ollama", "scripted"} <= set(config.providers)
    assert config.complexity_escalation.thresholds.low_to_medium == 2
    assert config.complexity_escalation.thresholds.medium_to_high == 2
    assert config.provider_quotas["anthropic"].cap_for("day") == 5_000_000
    assert config.output_limit("claude-opus-4-5") == 64000


def test_typos_fail_with_the_path_and_field(tmp_path: Path) -> None:
    data = bundled()
    data["escalation_chains"]["builder"]["low"] = ["claude-sonnet-4.5"]  # type: ignore[index]
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigurationError, match=r"models\.yaml.*unknown model 'claude-sonnet-4\.5'"
    ):
        load_models_config(path)
    data = bundled()
    data["providers"]["anthropic"]["api_key"] = "sk-inline"  # type: ignore[index]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigurationError, match="api_key"):
        load_models_config(path)


def test_settings_select_the_file_and_edits_are_reloaded(tmp_path: Path) -> None:
    data = bundled()
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(data))
    settings = Settings(home=tmp_path, models_config=path)
    assert models_config_for(settings).doctor.max_calls_per_run == 10
    data["doctor"]["max_calls_per_run"] = 3  # type: ignore[index]
    path.write_text(yaml.safe_dump(data))
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))
    assert models_config_for(settings).doctor.max_calls_per_run == 3
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_models_config(tmp_path / "nope.yaml")


def test_build_provider_per_kind(tmp_path: Path) -> None:
    script = tmp_path / "s.jsonl"
    script.write_text(json.dumps({"role": "*", "content": "hi"}) + "\n")
    settings = Settings(home=tmp_path, llm_script=script)
    config = effective_config(settings)
    env = {"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"}
    assert isinstance(build_provider("anthropic", settings, config, environ=env), AnthropicProvider)
    assert isinstance(build_provider("openai", settings, config, environ=env), OpenAIProvider)
    assert isinstance(build_provider("ollama", settings, config, environ={}), OpenAIProvider)
    assert isinstance(build_provider("scripted", settings, config), ScriptedProvider)
    with pytest.raises(AuthenticationFailed, match="ANTHROPIC_API_KEY"):
        build_provider("anthropic", settings, config, environ={})
    with pytest.raises(ConfigurationError, match="no provider named 'gemini'"):
        build_provider("gemini", settings, config, environ=env)


def test_scripted_settings_route_every_call_to_the_script(tmp_path: Path) -> None:
    script = tmp_path / "s.jsonl"
    script.write_text(json.dumps({"role": "auditor", "content": "{}"}) + "\n")
    recorded = []
    client = build_client(
        Settings(home=tmp_path, llm_provider="scripted", llm_script=script),
        usage_sink=lambda r, c: recorded.append(c),
        environ={},
    )
    request = LLMRequest(
        role="auditor", system="s", messages=(Message("user", "u"),), max_tokens=100
    )
    completion = client.complete(request)
    assert (completion.provider, completion.model, completion.text) == (
        "scripted",
        "scripted",
        "{}",
    )
    assert recorded == [completion]


def test_base_url_setting_registers_a_custom_endpoint(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, llm_base_url="http://localhost:8080/v1", llm_model="llama-3.3-70b"
    )
    client = build_client(settings, usage_sink=lambda r, c: None, environ={})
    choice = client.select("builder", Routing(complexity="high"))
    assert (choice.provider, choice.model) == ("custom", "llama-3.3-70b")
    with pytest.raises(ConfigurationError, match="AUTOPACK_LLM_MODEL"):
        build_client(
            Settings(home=tmp_path, llm_base_url="http://x/v1"), usage_sink=lambda r, c: None
        )
    with pytest.raises(ConfigurationError, match=r"unknown provider .gemini.*known providers"):
        build_client(Settings(home=tmp_path, llm_provider="gemini"), usage_sink=lambda r, c: None)
