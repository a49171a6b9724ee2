"""Building providers and the :class:`~autopack.llm.client.LLMClient` from settings.

API keys are read from the environment variables that models.yaml names (for example
``ANTHROPIC_API_KEY``). That lookup happens here and nowhere else, through the ``environ``
parameter (default ``os.environ``), so tests pass a plain dict.

Settings that force a provider:

* ``AUTOPACK_LLM_PROVIDER=scripted`` + ``AUTOPACK_LLM_SCRIPT``: every call replays the script.
* ``AUTOPACK_LLM_PROVIDER=<name>``: every call goes to that configured provider
  (``AUTOPACK_LLM_MODEL`` picks the model, else counterparts or its ``default_model``).
* ``AUTOPACK_LLM_BASE_URL`` + ``AUTOPACK_LLM_MODEL``: every call goes to that
  OpenAI-compatible endpoint, registered as provider ``custom``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping

import httpx2

from autopack.config import ModelsConfig, models_config_for
from autopack.errors import ConfigurationError
from autopack.llm.anthropic import AnthropicConfig, AnthropicProvider
from autopack.llm.base import LLMProvider
from autopack.llm.client import CallGate, EstimationSink, LLMClient, UsageSink
from autopack.llm.openai import OpenAIConfig, OpenAIProvider
from autopack.llm.retry import Sleep
from autopack.llm.router import ModelRouter
from autopack.llm.scripted import SCRIPTED, ScriptedConfig, ScriptedProvider
from autopack.redaction import Redactor
from autopack.settings import Settings

CUSTOM = "custom"


def effective_config(settings: Settings, config: ModelsConfig | None = None) -> ModelsConfig:
    """The model config with the ad-hoc ``custom`` provider of AUTOPACK_LLM_BASE_URL."""
    config = config or models_config_for(settings)
    if settings.llm_base_url:
        custom = OpenAIConfig(
            kind="openai_compatible",
            base_url=settings.llm_base_url,
            api_key_env=None,
            default_model=settings.llm_model,
        )
        config = config.model_copy(update={"providers": {**config.providers, CUSTOM: custom}})
    if SCRIPTED not in config.providers:
        config = config.model_copy(
            update={"providers": {**config.providers, SCRIPTED: ScriptedConfig()}}
        )
    return config


def forced_provider(settings: Settings, config: ModelsConfig) -> str | None:
    """The provider every call must use, or None to route by config."""
    if settings.llm_provider:
        name = settings.llm_provider.strip()
        if name not in config.providers:
            raise ConfigurationError(
                f"AUTOPACK_LLM_PROVIDER={name!r} is not a configured provider; known: "
                f"{', '.join(sorted(config.providers))}"
            )
        return name
    if settings.llm_base_url:
        if not settings.llm_model:
            raise ConfigurationError(
                "AUTOPACK_LLM_BASE_URL needs AUTOPACK_LLM_MODEL (the model "
                "name the endpoint serves)"
            )
        return CUSTOM
    return None


def build_router(settings: Settings, config: ModelsConfig) -> ModelRouter:
    """The router, forced to a provider when the settings say so."""
    return ModelRouter(
        config, forced_provider=forced_provider(settings, config), forced_model=settings.llm_model
    )


def build_provider(
    name: str,
    settings: Settings,
    config: ModelsConfig,
    *,
    http_client: httpx2.Client | None = None,
    environ: Mapping[str, str] | None = None,
) -> LLMProvider:
    """The provider configured under ``name``.

    Raises AuthenticationFailed when its API key is missing (the client then falls back)
    and ConfigurationError for an unknown name or a scripted provider without a script.
    """
    env = os.environ if environ is None else environ
    provider_config = config.providers.get(name)
    if provider_config is None:
        raise ConfigurationError(
            f"no provider named {name!r} in models.yaml; known: "
            f"{', '.join(sorted(config.providers))}"
        )
    if isinstance(provider_config, AnthropicConfig):
        return AnthropicProvider.from_config(
            name,
            provider_config,
            api_key=env.get(provider_config.api_key_env),
            http_client=http_client,
        )
    if isinstance(provider_config, OpenAIConfig):
        key_env = provider_config.api_key_env
        return OpenAIProvider.from_config(
            name,
            provider_config,
            api_key=env.get(key_env) if key_env else None,
            http_client=http_client,
        )
    return ScriptedProvider.from_config(
        provider_config, script=settings.llm_script, state_dir=settings.home / "scripted"
    )


def build_client(
    settings: Settings,
    *,
    usage_sink: UsageSink,
    estimation_sink: EstimationSink | None = None,
    config: ModelsConfig | None = None,
    http_client: httpx2.Client | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
    gate: CallGate | None = None,
) -> LLMClient:
    """An :class:`LLMClient` for ``settings``. Providers are built on first use, so a
    missing key only matters for a provider that routing actually picks. ``gate`` admits
    each provider request against limits shared by all executors."""
    config = effective_config(settings, config)
    router = build_router(settings, config)

    def factory(name: str) -> LLMProvider:
        return build_provider(name, settings, config, http_client=http_client, environ=environ)

    return LLMClient(
        config,
        router=router,
        provider_factory=factory,
        usage_sink=usage_sink,
        estimation_sink=estimation_sink,
        sleep=sleep,
        rng=rng,
        clock=clock,
        redactor=build_redactor(settings, config, environ=environ),
        gate=gate,
    )


def build_redactor(
    settings: Settings,
    config: ModelsConfig | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Redactor:
    """A redactor that also knows this installation's own secrets, whatever their shape:
    the server's AUTOPACK_API_KEYS and every configured provider's API key."""
    env = os.environ if environ is None else environ
    config = effective_config(settings, config)
    known = [(key, "autopack_api_key") for key in settings.plain_api_keys()]
    for name, provider in config.providers.items():
        key_env = getattr(provider, "api_key_env", None)
        if key_env and env.get(key_env):
            known.append((env[key_env], f"{name}_api_key"))
    return Redactor.with_known(known)
