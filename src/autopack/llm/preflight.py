"""Provider checks before anything is spent: configuration, keys and reachability.

:func:`check_providers` reports on every provider of the effective model config (for
``autopack check`` / ``init``); :func:`require_usable_providers` is the gate a run passes
before it creates a branch, a worktree or a baseline (CLI ``run``/``demo`` and the API's
run execution call it). A problem is said once, with the URL and the error, and the fix.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping

from pydantic import BaseModel

from autopack.config import ModelsConfig
from autopack.errors import ConfigurationError
from autopack.llm.anthropic import AnthropicConfig
from autopack.llm.factory import CUSTOM, effective_config, forced_provider
from autopack.llm.openai import OpenAIConfig
from autopack.llm.scripted import SCRIPTED
from autopack.settings import Settings

DEFAULT_URLS = {"anthropic": "https://api.anthropic.com", "openai": "https://api.openai.com/v1"}

#: Probe(url) -> None when something answers (any HTTP status), else the error text.
Probe = Callable[[str], str | None]


class ProviderCheck(BaseModel):
    """What one provider needs and whether it has it. ``used`` says whether runs with the
    current settings would call it; ``problem`` and ``fix`` are None when it is usable."""

    name: str
    kind: str
    used: bool
    url: str | None = None
    key_env: str | None = None
    problem: str | None = None
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class ReachableCache:
    """URLs that answered recently, per process: a server starting run after run asks a
    provider once per ``ttl`` seconds, not before each run. Failures are not remembered,
    so a provider that comes back is seen at the next run."""

    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def fresh(self, url: str) -> bool:
        with self._lock:
            seen = self._seen.get(url)
            return seen is not None and self.clock() - seen < self.ttl

    def remember(self, url: str) -> None:
        with self._lock:
            self._seen[url] = self.clock()


REACHABLE = ReachableCache()


def http_probe(
    url: str, *, timeout: float = 5.0, cache: ReachableCache | None = REACHABLE
) -> str | None:
    """None when ``url`` answers at all (401 and 404 still prove it is reachable); a URL
    that answered within the cache's TTL is not asked again."""
    if cache is not None and cache.fresh(url):
        return None
    import httpx

    try:
        httpx.get(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        return str(exc) or type(exc).__name__
    if cache is not None:
        cache.remember(url)
    return None


def _used(settings: Settings, config: ModelsConfig) -> set[str]:
    forced = forced_provider(settings, config)
    if forced:
        return {forced}
    chains = [config.escalation_chains, *config.category_overrides.values()]
    models = {m for c in chains for levels in c.values() for ms in levels.values() for m in ms}
    return {config.models[m].provider for m in models if m in config.models}


def check_providers(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    probe: Probe | None = http_probe,
) -> list[ProviderCheck]:
    """One check per configured provider. Raises ConfigurationError for settings that name
    an unknown provider (listing the known ones). ``probe=None`` skips reachability."""
    env = os.environ if environ is None else environ
    config = effective_config(settings)
    used = _used(settings, config)
    checks = []
    for name, provider in sorted(config.providers.items()):
        check = ProviderCheck(name=name, kind=provider.kind, used=name in used)
        if isinstance(provider, (AnthropicConfig, OpenAIConfig)):
            check.url = provider.base_url or DEFAULT_URLS.get(provider.kind)
            needs_key = isinstance(provider, AnthropicConfig) or provider.needs_api_key
            check.key_env = provider.api_key_env if needs_key else None
            if check.key_env and not env.get(check.key_env):
                check.problem = f"no API key: {check.key_env} is not set"
                check.fix = f"export {check.key_env}=... (the key from the provider's console)"
            elif probe is not None and check.used and check.url:
                error = probe(check.url)
                if error:
                    where = "AUTOPACK_LLM_BASE_URL" if name == CUSTOM else "base_url in models.yaml"
                    check.problem = f"cannot reach {check.url}: {error}"
                    check.fix = f"start the server, or fix {where}, or choose --provider"
        elif name == SCRIPTED:
            script = settings.llm_script
            if script is None or not script.is_file():
                check.problem = (
                    "no script: AUTOPACK_LLM_SCRIPT is not set"
                    if script is None
                    else f"the script {script} does not exist"
                )
                check.fix = "set AUTOPACK_LLM_SCRIPT to a JSONL script of model answers"
        checks.append(check)
    return checks


def blocking_checks(settings: Settings, checks: list[ProviderCheck]) -> list[ProviderCheck]:
    """The failed checks that stop a run: the forced provider's, or, when routing picks
    (and falls back between providers), all of them when no used provider is usable."""
    used = [c for c in checks if c.used]
    if settings.llm_provider or settings.llm_base_url:
        return [c for c in used if not c.ok]
    return [] if any(c.ok for c in used) else used


def require_usable_providers(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    probe: Probe | None = http_probe,
) -> list[ProviderCheck]:
    """The gate before a run starts. Raises ConfigurationError (CLI exit 2, HTTP 422-class)
    when a provider the run would use is unknown, has no key or does not answer; routing
    needs at least one usable provider among those its chains name."""
    checks = check_providers(settings, environ=environ, probe=probe)
    blocking = blocking_checks(settings, checks)
    if blocking:
        lines = [f"provider {c.name}: {c.problem}; fix: {c.fix}" for c in blocking]
        if not (settings.llm_provider or settings.llm_base_url):
            lines[-1] += (
                ", or use another provider: --provider NAME (see `autopack check`), or "
                "AUTOPACK_LLM_BASE_URL + AUTOPACK_LLM_MODEL for an OpenAI-compatible server"
            )
        raise ConfigurationError(
            "no usable LLM provider, so nothing was started: " + " | ".join(lines)
            if len(lines) > 1
            else f"{lines[0]} (nothing was started)"
        )
    return checks
