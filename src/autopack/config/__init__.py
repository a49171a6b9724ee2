"""The model configuration (``models.yaml``): providers, models, routing, prices, quotas.

The bundled ``models.yaml`` next to this module is the default; ``AUTOPACK_MODELS_CONFIG``
(``Settings.models_config``) points to a replacement. The file is validated as a whole on
load, so a typo in a model name fails at startup with the path and the field, never in the
middle of a run.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from autopack.errors import ConfigurationError
from autopack.llm.anthropic import AnthropicConfig
from autopack.llm.estimator import EstimatorConfig
from autopack.llm.openai import OpenAIConfig
from autopack.llm.pricing import ModelPrice, PriceTable
from autopack.llm.retry import RetryConfig
from autopack.llm.scripted import ScriptedConfig
from autopack.settings import Settings

BUNDLED_MODELS_CONFIG = Path(__file__).with_name("models.yaml")
COMPLEXITIES: tuple[str, ...] = ("low", "medium", "high")
#: Roles every config must route; ``planner`` is optional.
REQUIRED_ROLES: tuple[str, ...] = ("builder", "auditor", "doctor")

ProviderConfig = Annotated[
    AnthropicConfig | OpenAIConfig | ScriptedConfig, Field(discriminator="kind")
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Section):
    """``models.<name>``: the provider serving a model and its limits in tokens."""

    provider: str
    max_output_tokens: int = Field(default=8192, ge=1)
    context_window: int = Field(default=128_000, ge=1)


class EscalationThresholds(_Section):
    """Failures at a complexity level before the phase climbs to the next."""

    low_to_medium: int = Field(default=2, ge=1)
    medium_to_high: int = Field(default=2, ge=1)


class ComplexityEscalation(_Section):
    """``complexity_escalation:``."""

    enabled: bool = True
    thresholds: EscalationThresholds = Field(default_factory=EscalationThresholds)
    max_attempts_per_phase: int = Field(default=5, ge=1)
    failure_types: list[str] = Field(default_factory=list)


class ProviderFallback(_Section):
    """``provider_fallback:``: when a provider counts as down and what replaces it."""

    order: list[str] = Field(default_factory=list)
    down_after_failures: int = Field(default=2, ge=1)
    cooldown_seconds: float = Field(default=300.0, ge=0)
    counterparts: dict[str, dict[str, str]] = Field(default_factory=dict)


class ProviderQuota(_Section):
    """``provider_quotas.<provider>``: Autopack's own limits for a provider, shared by every
    executor of the deployment (counted in the database, services/quotas.py).

    Token caps per period (a call that would pass one fails: waiting does not help), and
    per-minute request and token rates (a call that would pass one waits for the window
    to move, up to ``max_wait_seconds``, or fails at once with ``on_limit: fail``)."""

    daily_token_cap: int | None = Field(default=None, ge=0)
    weekly_token_cap: int | None = Field(default=None, ge=0)
    monthly_token_cap: int | None = Field(default=None, ge=0)
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    on_limit: Literal["wait", "fail"] = "wait"
    max_wait_seconds: float = Field(default=300.0, ge=0)

    def cap_for(self, period: str) -> int | None:
        """The cap of ``period`` (day, week or month), or None when none is set."""
        return {
            "day": self.daily_token_cap,
            "week": self.weekly_token_cap,
            "month": self.monthly_token_cap,
        }.get(period)


class ReplanSettings(_Section):
    """``replan:``: when repeated similar failures call for a new plan."""

    trigger_threshold: int = Field(default=2, ge=1)
    message_similarity_enabled: bool = True
    similarity_threshold: float = Field(default=0.8, ge=0, le=1)
    min_message_length: int = Field(default=30, ge=0)
    max_replans_per_phase: int = Field(default=1, ge=0)
    fatal_error_types: list[str] = Field(default_factory=list)


class DoctorSettings(_Section):
    """``doctor:``: Doctor call budgets and confidence escalation."""

    max_calls_per_phase: int = Field(default=2, ge=0)
    max_calls_per_run: int = Field(default=10, ge=0)
    min_confidence_for_cheap: float = Field(default=0.7, ge=0, le=1)
    health_budget_near_limit_ratio: float = Field(default=0.8, ge=0, le=1)
    high_risk_categories: list[str] = Field(default_factory=list)


Chains = dict[str, dict[str, list[str]]]


class ModelsConfig(_Section):
    """The whole of models.yaml."""

    version: int = 1
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelSpec]
    escalation_chains: Chains
    category_overrides: dict[str, Chains] = Field(default_factory=dict)
    complexity_escalation: ComplexityEscalation = Field(default_factory=ComplexityEscalation)
    provider_fallback: ProviderFallback = Field(default_factory=ProviderFallback)
    pricing: dict[str, ModelPrice] = Field(default_factory=dict)
    provider_quotas: dict[str, ProviderQuota] = Field(default_factory=dict)
    replan: ReplanSettings = Field(default_factory=ReplanSettings)
    doctor: DoctorSettings = Field(default_factory=DoctorSettings)
    token_estimator: EstimatorConfig = Field(default_factory=EstimatorConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)

    @model_validator(mode="after")
    def _consistent(self) -> ModelsConfig:
        problems: list[str] = []
        for model, spec in self.models.items():
            if spec.provider not in self.providers:
                problems.append(f"models.{model}.provider {spec.provider!r} is not a provider")
        for role in REQUIRED_ROLES:
            for level in COMPLEXITIES:
                if not self.escalation_chains.get(role, {}).get(level):
                    problems.append(f"escalation_chains.{role}.{level} is missing or empty")
        problems += self._check_chains("escalation_chains", self.escalation_chains)
        for category, chains in self.category_overrides.items():
            problems += self._check_chains(f"category_overrides.{category}", chains)
        for name, provider_config in self.providers.items():
            default = getattr(provider_config, "default_model", None)
            if default is not None and self.provider_of(default) not in (None, name):
                problems.append(
                    f"providers.{name}.default_model {default!r} belongs to "
                    f"provider {self.provider_of(default)!r}"
                )
        for provider in self.provider_fallback.order:
            if provider not in self.providers:
                problems.append(f"provider_fallback.order names unknown provider {provider!r}")
        for model, by_provider in self.provider_fallback.counterparts.items():
            for provider, other in by_provider.items():
                if self.models.get(other, None) is None or self.models[other].provider != provider:
                    problems.append(
                        f"provider_fallback.counterparts.{model}.{provider}: "
                        f"{other!r} is not a model of {provider!r}"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _check_chains(self, where: str, chains: Chains) -> list[str]:
        problems = []
        for role, levels in chains.items():
            for level, chain in levels.items():
                if level not in COMPLEXITIES:
                    problems.append(
                        f"{where}.{role}.{level}: complexity must be one of "
                        f"{', '.join(COMPLEXITIES)}"
                    )
                for model in chain:
                    if model not in self.models:
                        problems.append(
                            f"{where}.{role}.{level}: unknown model {model!r} "
                            "(declare it under models)"
                        )
        return problems

    @property
    def roles(self) -> list[str]:
        """Roles the config routes."""
        return list(self.escalation_chains)

    def price_table(self) -> PriceTable:
        """The prices as a :class:`PriceTable`."""
        return PriceTable(self.pricing)

    def output_limit(self, model: str) -> int | None:
        """The model's output-token limit, when known."""
        spec = self.models.get(model)
        return spec.max_output_tokens if spec else None

    def provider_of(self, model: str) -> str | None:
        """The provider that serves ``model``, when declared."""
        spec = self.models.get(model)
        return spec.provider if spec else None


def _describe(exc: PydanticValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
        for err in exc.errors()[:8]
    )


def parse_models_config(data: Any, *, source: str = "<data>") -> ModelsConfig:
    """Validate already-loaded YAML data; errors become ConfigurationError naming ``source``."""
    try:
        return ModelsConfig.model_validate(data)
    except PydanticValidationError as exc:
        raise ConfigurationError(
            f"{source}: invalid model configuration: {_describe(exc)}", path=source
        ) from exc


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime_ns: int) -> ModelsConfig:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the model configuration {path}: {exc.strerror or exc}", path=path
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}", path=path) from exc
    return parse_models_config(data, source=path)


def load_models_config(path: Path | None = None) -> ModelsConfig:
    """Load and validate ``path`` (default: the bundled models.yaml). Cached per file
    version, so an edited file is read again."""
    target = (path or BUNDLED_MODELS_CONFIG).expanduser()
    try:
        mtime = target.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigurationError(
            f"the model configuration {target} does not exist (AUTOPACK_MODELS_CONFIG)",
            path=str(target),
        ) from exc
    return _load_cached(str(target.resolve()), mtime)


def models_config_for(settings: Settings) -> ModelsConfig:
    """The configuration ``settings`` selects."""
    return load_models_config(settings.models_config)
