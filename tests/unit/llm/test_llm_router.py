"""Routing: escalation chains, category overrides, overrides, provider fallback."""

from __future__ import annotations

from typing import Any

import pytest

from autopack.config import ModelsConfig, load_models_config, parse_models_config
from autopack.errors import (
    AuthenticationFailed,
    ConfigurationError,
    ProviderError,
    TransientProviderError,
)
from autopack.llm.router import ModelRouter, ProviderHealth, RoutingOverrides


def config(**overrides: Any) -> ModelsConfig:
    data: dict[str, Any] = {
        "providers": {
            "anthropic": {"kind": "anthropic"},
            "openai": {"kind": "openai"},
            "ollama": {
                "kind": "openai_compatible",
                "base_url": "http://x/v1",
                "api_key_env": None,
                "default_model": "local",
            },
        },
        "models": {
            "a-small": {"provider": "anthropic"},
            "a-mid": {"provider": "anthropic"},
            "a-big": {"provider": "anthropic"},
            "o-mid": {"provider": "openai"},
            "o-big": {"provider": "openai"},
            "local": {"provider": "ollama"},
        },
        "escalation_chains": {
            role: {
                "low": ["a-small", "a-mid"],
                "medium": ["a-mid", "a-big"],
                "high": ["a-big", "o-big"],
            }
            for role in ("builder", "auditor", "doctor")
        },
        "category_overrides": {"docs": {"builder": {"low": ["local"]}}},
        "complexity_escalation": {"thresholds": {"low_to_medium": 2, "medium_to_high": 3}},
        "provider_fallback": {
            "order": ["anthropic", "openai"],
            "counterparts": {"a-mid": {"openai": "o-mid"}, "a-big": {"openai": "o-big"}},
        },
    }
    data.update(overrides)
    return parse_models_config(data)


@pytest.mark.parametrize(
    ("failures", "model", "level", "climbed", "position"),
    [
        (0, "a-small", "low", 0, 0),
        (1, "a-mid", "low", 0, 1),  # next model of the low chain
        (2, "a-mid", "medium", 1, 0),  # low_to_medium: 2 -> medium chain starts
        (3, "a-big", "medium", 1, 1),
        (4, "a-big", "medium", 1, 1),  # the chain's last model repeats until the threshold
        (5, "a-big", "high", 2, 0),  # medium_to_high: 3
        (6, "o-big", "high", 2, 1),
        (40, "o-big", "high", 2, 1),
    ],
)
def test_escalation_follows_thresholds_and_chains(
    failures: int, model: str, level: str, climbed: int, position: int
) -> None:
    choice = ModelRouter(config()).select("builder", "feature", "low", failures)
    assert (choice.model, choice.complexity, choice.escalation_level, choice.chain_position) == (
        model,
        level,
        climbed,
        position,
    )
    assert choice.provider == ("openai" if model.startswith("o-") else "anthropic")


def test_escalation_can_be_disabled() -> None:
    cfg = config(complexity_escalation={"enabled": False})
    choice = ModelRouter(cfg).select("builder", "feature", "low", 9)
    assert (choice.model, choice.complexity) == ("a-mid", "low")


def test_category_override_replaces_only_its_levels() -> None:
    router = ModelRouter(config())
    assert router.select("builder", "docs", "low").model == "local"
    assert router.select("builder", "docs", "medium").model == "a-mid"
    assert router.select("auditor", "docs", "low").model == "a-small"


def test_overrides_run_beats_global_and_specific_beats_general() -> None:
    router = ModelRouter(config())
    overrides = RoutingOverrides(
        global_models={
            ("builder", "general", "medium"): "o-mid",
            ("builder", "tests", "medium"): "o-big",
        },
        run_models={("builder", "general", "low"): "a-big"},
    )
    assert router.select("builder", "feature", "medium", overrides=overrides).model == "o-mid"
    assert router.select("builder", "tests", "medium", overrides=overrides).model == "o-big"
    choice = router.select("builder", "tests", "low", overrides=overrides)
    assert choice.model == "a-big" and "(run)" in choice.reason
    # The override heads the chain; escalation continues with the configured models.
    assert router.select("builder", "feature", "medium", 1, overrides=overrides).model == "a-mid"


def test_fallback_to_counterpart_when_provider_down() -> None:
    choice = ModelRouter(config()).select(
        "builder", "feature", "medium", down={"anthropic": "3 failed calls"}
    )
    assert (choice.provider, choice.model) == ("openai", "o-mid")
    assert "anthropic down" in choice.reason


def test_fallback_walks_the_chain_without_a_counterpart() -> None:
    cfg = config(provider_fallback={"order": ["anthropic", "openai"], "counterparts": {}})
    choice = ModelRouter(cfg).select("builder", "feature", "high", down={"anthropic": "overloaded"})
    assert (choice.provider, choice.model, choice.chain_position) == ("openai", "o-big", 1)


def test_no_provider_left_raises_with_reasons() -> None:
    router = ModelRouter(config())
    with pytest.raises(AuthenticationFailed, match="anthropic: authentication"):
        router.select(
            "builder",
            "feature",
            "low",
            down={"anthropic": "authentication: no API key", "openai": "no API key: x"},
        )
    with pytest.raises(ProviderError, match="overloaded"):
        router.select(
            "builder",
            "feature",
            "medium",
            down={"anthropic": "overloaded", "openai": "5 failed calls"},
        )


def test_forced_scripted_routes_everything_to_the_script() -> None:
    router = ModelRouter(config(), forced_provider="scripted")
    choice = router.select("doctor", "feature", "medium", 3)
    assert (choice.provider, choice.model) == ("scripted", "scripted")
    assert choice.complexity == "high"  # escalation is still computed and reported


def test_forced_provider_picks_a_model_of_that_provider() -> None:
    forced = ModelRouter(config(), forced_provider="openai")
    assert forced.select("builder", "feature", "medium").model == "o-mid"  # counterpart
    assert forced.select("builder", "feature", "high", 1).model == "o-big"  # its own model
    local = ModelRouter(config(), forced_provider="ollama")
    assert local.select("builder", "feature", "low").model == "local"  # default_model
    pinned = ModelRouter(config(), forced_provider="ollama", forced_model="qwen3:8b")
    assert pinned.select("auditor").model == "qwen3:8b"
    with pytest.raises(ConfigurationError, match="AUTOPACK_LLM_MODEL"):
        ModelRouter(config(), forced_provider="openai").select("builder", "feature", "low")


def test_effective_mapping_lists_sources() -> None:
    router = ModelRouter(config())
    overrides = RoutingOverrides(global_models={("auditor", "security", "high"): "o-big"})
    entries = {
        (e.role, e.category, e.complexity): (e.model, e.scope)
        for e in router.effective_mapping(overrides)
    }
    assert entries[("builder", "general", "low")] == ("a-small", "config")
    assert entries[("builder", "docs", "low")] == ("local", "config")
    assert entries[("auditor", "security", "high")] == ("o-big", "global")
    assert len(entries) == 3 * 3 * 3  # roles x (general, docs, security) x complexities


def test_provider_health_goes_down_and_cools_off() -> None:
    now = [0.0]
    health = ProviderHealth(down_after=2, cooldown=60, clock=lambda: now[0])
    assert not health.record_failure("anthropic", TransientProviderError("500"))
    assert health.down() == {}
    assert health.record_failure("anthropic", TransientProviderError("502"))
    assert "anthropic" in health.down()
    now[0] = 61
    assert health.down() == {}
    assert health.record_failure("openai", AuthenticationFailed("bad key"))
    now[0] = 10_000
    assert "openai" in health.down()  # authentication failures do not cool off


def test_bundled_config_routes_every_role() -> None:
    router = ModelRouter(load_models_config())
    for role in ("builder", "auditor", "doctor", "planner"):
        for level in ("low", "medium", "high"):
            assert router.select(role, "feature", level).provider == "anthropic"
    choice = router.select("builder", "feature", "medium", down={"anthropic": "down"})
    assert (choice.provider, choice.model) == ("openai", "gpt-5")


def test_effective_mapping_under_a_forced_provider_shows_what_calls_use() -> None:
    entries = ModelRouter(config(), forced_provider="scripted").effective_mapping()
    assert {e.model for e in entries} == {"scripted"}
