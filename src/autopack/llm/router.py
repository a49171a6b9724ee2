"""Model routing: role x task category x complexity -> a model on a provider that is up.

How a model is chosen, in order:

1. **Chain.** ``category_overrides[category][role][level]`` if configured, else
   ``escalation_chains[role][level]``.
2. **Overrides.** A model set for (role, category, level), or for (role, "general", level),
   goes first in the chain; run overrides win over global ones.
3. **Escalation.** ``failures`` is the number of failed attempts so far (this phase and
   role). The phase climbs a complexity level after ``complexity_escalation.thresholds``
   failures at a level (low -> medium -> high); within a level each failure moves one
   model along the chain (the last one repeats).
4. **Fallback.** If the chosen model's provider is down, its counterpart on the first
   provider in ``provider_fallback.order`` that is up is used; failing that, the nearest
   model of the chain whose provider is up.

With ``AUTOPACK_LLM_PROVIDER`` set, every call goes to that provider (``scripted`` routes
everything to the script, model ``scripted``). Selection is a pure function of its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from autopack.config import COMPLEXITIES, ModelsConfig
from autopack.errors import AuthenticationFailed, ConfigurationError, ProviderError
from autopack.llm.scripted import SCRIPTED

GENERAL = "general"

#: (role, category, complexity) -> model
OverrideKey = tuple[str, str, str]
#: Where a mapping comes from.
Scope = Literal["config", "global", "run"]


@dataclass(frozen=True, slots=True)
class RoutingOverrides:
    """Model overrides in force for a call: global ones (table ``model_overrides``) and
    the run's (``Run.model_overrides``)."""

    global_models: Mapping[OverrideKey, str] = field(default_factory=dict)
    run_models: Mapping[OverrideKey, str] = field(default_factory=dict)

    def lookup(self, role: str, category: str, complexity: str) -> tuple[str, Scope] | None:
        """The overriding model and its scope ("run" or "global"), most specific first."""
        tables: tuple[tuple[Scope, Mapping[OverrideKey, str]], ...] = (
            ("run", self.run_models),
            ("global", self.global_models),
        )
        for scope, table in tables:
            for cat in dict.fromkeys((category, GENERAL)):
                model = table.get((role, cat, complexity))
                if model:
                    return model, scope
        return None


@dataclass(frozen=True, slots=True)
class Routing:
    """What the caller knows about a call, for the router."""

    category: str = GENERAL
    complexity: str = "medium"
    failures: int = 0
    overrides: RoutingOverrides = field(default_factory=RoutingOverrides)


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """The router's decision. ``escalation_level`` counts complexity levels climbed;
    ``chain_position`` is the index in that level's chain."""

    provider: str
    model: str
    complexity: str
    escalation_level: int
    chain_position: int
    reason: str


@dataclass(frozen=True, slots=True)
class MappingEntry:
    """One line of the effective mapping: the first model for role/category/complexity."""

    role: str
    category: str
    complexity: str
    model: str
    scope: Scope


class ModelRouter:
    """Selects models from a :class:`~autopack.config.ModelsConfig`."""

    def __init__(
        self,
        config: ModelsConfig,
        *,
        forced_provider: str | None = None,
        forced_model: str | None = None,
    ) -> None:
        self.config = config
        self.forced_provider = forced_provider
        self.forced_model = forced_model

    # -- chains -------------------------------------------------------------------------

    def base_chain(self, role: str, category: str, complexity: str) -> list[str]:
        """The configured chain, before overrides."""
        if complexity not in COMPLEXITIES:
            raise ConfigurationError(
                f"unknown complexity {complexity!r}; use one of {', '.join(COMPLEXITIES)}"
            )
        special = self.config.category_overrides.get(category, {}).get(role, {}).get(complexity)
        if special:
            return list(special)
        chain = self.config.escalation_chains.get(role, {}).get(complexity)
        if not chain:
            raise ConfigurationError(
                f"models.yaml has no escalation chain for role {role!r} "
                f"at complexity {complexity!r}"
            )
        return list(chain)

    def chain(
        self, role: str, category: str, complexity: str, overrides: RoutingOverrides | None = None
    ) -> tuple[list[str], Scope]:
        """The effective chain and where its first model comes from."""
        chain = self.base_chain(role, category, complexity)
        found = (overrides or RoutingOverrides()).lookup(role, category, complexity)
        if found is None:
            return chain, "config"
        model, scope = found
        return [model, *(m for m in chain if m != model)], scope

    def level_for(self, complexity: str, failures: int) -> tuple[str, int, int]:
        """(effective complexity, levels climbed, failures at that level)."""
        start = COMPLEXITIES.index(complexity)
        level, remaining = start, max(0, failures)
        escalation = self.config.complexity_escalation
        if escalation.enabled:
            thresholds = (escalation.thresholds.low_to_medium, escalation.thresholds.medium_to_high)
            while level < len(COMPLEXITIES) - 1 and remaining >= thresholds[level]:
                remaining -= thresholds[level]
                level += 1
        return COMPLEXITIES[level], level - start, remaining

    # -- selection ----------------------------------------------------------------------

    def select(
        self,
        role: str,
        category: str = GENERAL,
        complexity: str = "medium",
        failures: int = 0,
        *,
        overrides: RoutingOverrides | None = None,
        down: Mapping[str, str] | None = None,
    ) -> ModelChoice:
        """The model for this call. ``down`` maps unavailable providers to the reason.

        Raises ProviderError (AuthenticationFailed when every candidate provider lacks a
        key) when no provider of the chain or its counterparts is up.
        """
        if complexity not in COMPLEXITIES:
            raise ConfigurationError(f"unknown complexity {complexity!r}")
        level, climbed, at_level = self.level_for(complexity, failures)
        chain, source = self.chain(role, category, level, overrides)
        position = min(at_level, len(chain) - 1)
        why = (
            f"{role}/{category}/{complexity}: {failures} failure(s) -> {level} "
            f"chain[{position}] ({source})"
        )
        if self.forced_provider:
            return self._forced(chain[position], level, climbed, position, why)
        return self._available(chain, position, level, climbed, why, down or {})

    def _forced(
        self, wanted: str, level: str, climbed: int, position: int, why: str
    ) -> ModelChoice:
        provider = str(self.forced_provider)
        if provider == SCRIPTED:
            return ModelChoice(
                SCRIPTED,
                SCRIPTED,
                level,
                climbed,
                position,
                f"{why}; AUTOPACK_LLM_PROVIDER=scripted replays the script",
            )
        model = self.forced_model
        if model is None and self.config.provider_of(wanted) == provider:
            model = wanted
        if model is None:
            model = self.config.provider_fallback.counterparts.get(wanted, {}).get(provider)
        if model is None:
            model = getattr(self.config.providers.get(provider), "default_model", None)
        if model is None:
            raise ConfigurationError(
                f"AUTOPACK_LLM_PROVIDER={provider} but no model of {provider!r} stands in for "
                f"{wanted!r}; set AUTOPACK_LLM_MODEL or the provider's default_model"
            )
        return ModelChoice(
            provider,
            model,
            level,
            climbed,
            position,
            f"{why}; forced to {provider} by AUTOPACK_LLM_PROVIDER",
        )

    def _available(
        self,
        chain: list[str],
        position: int,
        level: str,
        climbed: int,
        why: str,
        down: Mapping[str, str],
    ) -> ModelChoice:
        wanted = chain[position]
        provider = self._provider(wanted)
        if provider not in down:
            return ModelChoice(provider, wanted, level, climbed, position, why)
        fallback = self.config.provider_fallback
        for other in fallback.order:
            counterpart = fallback.counterparts.get(wanted, {}).get(other)
            if other != provider and other not in down and counterpart:
                return ModelChoice(
                    other,
                    counterpart,
                    level,
                    climbed,
                    position,
                    f"{why}; {provider} down ({down[provider]}) -> "
                    f"counterpart {counterpart} on {other}",
                )
        for index in _nearest(position, len(chain)):
            candidate = chain[index]
            candidate_provider = self._provider(candidate)
            if candidate_provider not in down:
                return ModelChoice(
                    candidate_provider,
                    candidate,
                    level,
                    climbed,
                    index,
                    f"{why}; {provider} down ({down[provider]}) -> chain[{index}] {candidate}",
                )
        reasons = "; ".join(f"{p}: {r}" for p, r in sorted(down.items()))
        message = (
            f"no provider is available for {wanted!r} or its fallbacks ({reasons}); "
            "set the providers' API keys or AUTOPACK_LLM_PROVIDER"
        )
        if all("key" in r.lower() or "auth" in r.lower() for r in down.values()):
            raise AuthenticationFailed(message, provider=provider, model=wanted)
        raise ProviderError(message, provider=provider, model=wanted)

    def _provider(self, model: str) -> str:
        provider = self.config.provider_of(model)
        if provider is None:
            raise ConfigurationError(
                f"model {model!r} is not declared under models in "
                "models.yaml, so no provider serves it"
            )
        return provider

    # -- listing ------------------------------------------------------------------------

    def effective_mapping(
        self, overrides: RoutingOverrides | None = None, categories: Iterable[str] = ()
    ) -> list[MappingEntry]:
        """The first model of every role/category/complexity, with where it comes from.

        Categories listed: "general", every configured category override, every category
        named by an override, and ``categories``. With a forced provider the models shown
        are the ones calls really use (``scripted`` under AUTOPACK_LLM_PROVIDER=scripted).
        """
        overrides = overrides or RoutingOverrides()
        names = [GENERAL, *self.config.category_overrides, *categories]
        for table in (overrides.global_models, overrides.run_models):
            names += [cat for (_, cat, _) in table]
        entries: list[MappingEntry] = []
        for role in self.config.roles:
            for category in dict.fromkeys(names):
                for level in COMPLEXITIES:
                    chain, scope = self.chain(role, category, level, overrides)
                    model = chain[0]
                    if self.forced_provider:  # what calls really use under AUTOPACK_LLM_*
                        model = self._forced(model, level, 0, 0, "").model
                    entries.append(MappingEntry(role, category, level, model, scope))
        return entries


def _nearest(position: int, length: int) -> list[int]:
    """Chain indexes other than ``position``: stronger models first, then weaker."""
    return [*range(position + 1, length), *range(position - 1, -1, -1)]


class ProviderHealth:
    """Which providers are down, from the outcomes of calls.

    A provider is down after ``down_after`` consecutive calls that failed with a transient
    error (retries exhausted), until ``cooldown`` seconds pass; an authentication failure
    (missing or rejected key, exhausted quota) takes it down for the client's lifetime.
    """

    def __init__(self, *, down_after: int, cooldown: float, clock: Callable[[], float]) -> None:
        self._down_after = down_after
        self._cooldown = cooldown
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._until: dict[str, float | None] = {}
        self._reasons: dict[str, str] = {}

    def record_success(self, provider: str) -> None:
        """A call succeeded: the provider is healthy again."""
        self._failures.pop(provider, None)
        self._until.pop(provider, None)
        self._reasons.pop(provider, None)

    def record_failure(self, provider: str, error: ProviderError) -> bool:
        """A call failed for good; returns True if the provider is now down."""
        if isinstance(error, AuthenticationFailed):
            self._until[provider] = None
            self._reasons[provider] = f"authentication: {error.message}"
            return True
        if not error.retryable:
            return False
        count = self._failures.get(provider, 0) + 1
        self._failures[provider] = count
        if count >= self._down_after:
            self._until[provider] = self._clock() + self._cooldown
            self._reasons[provider] = f"{count} failed calls, last: {error.message}"
            return True
        return False

    def mark_down(self, provider: str, reason: str) -> None:
        """Take a provider out for good (e.g. it could not be built)."""
        self._until[provider] = None
        self._reasons[provider] = reason

    def down(self) -> dict[str, str]:
        """Providers down now, with the reason."""
        now = self._clock()
        for provider, until in list(self._until.items()):
            if until is not None and now >= until:
                self.record_success(provider)  # cooled down: try it again
        return {p: self._reasons[p] for p in self._until}
