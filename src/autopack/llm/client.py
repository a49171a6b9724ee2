"""The one way Autopack calls a model: route, call with retries, fall back, record usage.

:class:`LLMClient` wraps the providers, the :class:`~autopack.llm.router.ModelRouter`, the
retry policy and provider health. Every call that returns a completion is handed to
``usage_sink(request, completion)`` exactly once, before the completion is returned;
the executor's sink (:func:`autopack.services.usage.make_usage_sink`) writes the
``llm_usage_events`` row and the token counters in its own committed transaction, so the
spend is on record even if the attempt later fails. A failing sink propagates: a call that
cannot be accounted for is an error, not a silent loss. Calls that fail produce no
completion and no usage event.

Every request is redacted (:class:`~autopack.redaction.Redactor`) before any provider or
sink sees it: whatever an agent put in a prompt (a file, a test log, an error), secrets of
a known shape and the configured keys leave the machine as ``[REDACTED:<kind>]``.

Build one with :func:`autopack.llm.factory.build_client`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol

from autopack.config import ModelsConfig
from autopack.errors import AuthenticationFailed, ConfigurationError, ProviderError
from autopack.llm.base import Completion, LLMProvider, LLMRequest, Message
from autopack.llm.estimator import Estimate, TokenEstimator
from autopack.llm.retry import RetryPolicy, Sleep, call_with_retry
from autopack.llm.router import ModelChoice, ModelRouter, ProviderHealth, Routing
from autopack.llm.scripted import SCRIPTED
from autopack.redaction import DEFAULT_REDACTOR, Redactor

log = logging.getLogger("autopack.llm")

UsageSink = Callable[[LLMRequest, Completion], None]


@dataclass(frozen=True, slots=True)
class EstimationRecord:
    """One Builder call's budget decision and its outcome, for calibration."""

    estimate: Estimate
    model: str
    run_id: str | None
    phase_id: str | None
    actual_output_tokens: int | None
    truncated: bool


EstimationSink = Callable[[EstimationRecord], None]
ProviderFactory = Callable[[str], LLMProvider]


class CallGate(Protocol):
    """Admits each request to a provider against limits shared by all executors
    (services/quotas.py). ``admit`` waits or raises when the provider's limits are
    reached; ``settle`` records what the call actually used (None: it failed)."""

    def admit(self, provider: str, request: LLMRequest) -> object: ...

    def settle(self, ticket: object, completion: Completion | None) -> None: ...


class LLMClient:
    """Routes, calls, retries, falls back and records. Thread-compatible, not thread-safe:
    give each executor thread its own client (they may share sinks and providers)."""

    def __init__(
        self,
        config: ModelsConfig,
        *,
        router: ModelRouter,
        provider_factory: ProviderFactory,
        usage_sink: UsageSink,
        estimation_sink: EstimationSink | None = None,
        retry: RetryPolicy | None = None,
        estimator: TokenEstimator | None = None,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        redactor: Redactor = DEFAULT_REDACTOR,
        gate: CallGate | None = None,
    ) -> None:
        self.config = config
        self._gate = gate
        self.redactor = redactor
        self.router = router
        self.estimator = estimator or TokenEstimator(config.token_estimator)
        self.retry = retry or RetryPolicy.from_config(config.retry)
        self._factory = provider_factory
        self._usage_sink = usage_sink
        self._estimation_sink = estimation_sink
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._providers: dict[str, LLMProvider] = {}
        fallback = config.provider_fallback
        self.health = ProviderHealth(
            down_after=fallback.down_after_failures, cooldown=fallback.cooldown_seconds, clock=clock
        )

    def select(self, role: str, routing: Routing) -> ModelChoice:
        """The model a call with this role and routing would use now."""
        return self.router.select(
            role,
            routing.category,
            routing.complexity,
            routing.failures,
            overrides=routing.overrides,
            down=self.health.down(),
        )

    def output_limit(self, model: str) -> int | None:
        """The model's output-token limit, when the config knows it."""
        return self.config.output_limit(model)

    def complete(self, request: LLMRequest, routing: Routing | None = None) -> Completion:
        """Route ``request`` (unless it pins a model), call with retries, fall back to the
        next provider when the chosen one goes down, and record usage.

        Raises the provider's error (a :class:`~autopack.errors.ProviderError`) when the call
        fails for good, ConfigurationError for an unroutable model.
        """
        routing = routing or Routing()
        tried: set[tuple[str, str]] = set()
        last_error: ProviderError | None = None
        while True:
            try:
                choice = self._choose(request, routing)
            except ProviderError as exc:
                if last_error is not None:
                    raise last_error from exc
                raise
            if (choice.provider, choice.model) in tried:
                assert last_error is not None
                raise last_error
            tried.add((choice.provider, choice.model))
            try:
                provider = self._provider(choice.provider)
            except AuthenticationFailed as exc:
                if request.model is not None or self.router.forced_provider:
                    raise
                last_error = exc
                continue
            routed = self._routed(request, choice)
            try:
                completion = call_with_retry(
                    partial(self._gated, provider, choice.provider, routed),
                    policy=self.retry,
                    sleep=self._sleep,
                    rng=self._rng,
                    on_retry=self._log_retry,
                )
            except ProviderError as exc:
                went_down = self.health.record_failure(choice.provider, exc)
                pinned = request.model is not None or self.router.forced_provider
                if went_down and not pinned:
                    log.warning(
                        "provider %s is down (%s); falling back", choice.provider, exc.message
                    )
                    last_error = exc
                    continue
                raise
            self.health.record_success(choice.provider)
            self._usage_sink(routed, completion)
            return completion

    def _gated(self, provider: LLMProvider, name: str, request: LLMRequest) -> Completion:
        """One request to the provider, admitted by the gate (each retry is a request too)."""
        if self._gate is None:
            return provider.complete(request)
        ticket = self._gate.admit(name, request)
        completion: Completion | None = None
        try:
            completion = provider.complete(request)
            return completion
        finally:
            self._gate.settle(ticket, completion)

    def record_estimation(self, record: EstimationRecord) -> None:
        """Hand a Builder budget record to the estimation sink, if one is set."""
        if self._estimation_sink is not None:
            self._estimation_sink(record)

    # -- internals ----------------------------------------------------------------------

    def _choose(self, request: LLMRequest, routing: Routing) -> ModelChoice:
        if request.model is None:
            return self.select(request.role, routing)
        forced = self.router.forced_provider
        if forced == SCRIPTED:
            return ModelChoice(SCRIPTED, SCRIPTED, routing.complexity, 0, 0, "pinned; scripted")
        provider = forced or self.config.provider_of(request.model)
        if provider is None:
            raise ConfigurationError(
                f"model {request.model!r} is not declared in models.yaml, so no provider serves it"
            )
        return ModelChoice(
            provider, request.model, routing.complexity, 0, 0, "pinned by the request"
        )

    def _provider(self, name: str) -> LLMProvider:
        provider = self._providers.get(name)
        if provider is None:
            try:
                provider = self._factory(name)
            except AuthenticationFailed as exc:
                self.health.mark_down(name, f"no API key: {exc.message}")
                raise
            self._providers[name] = provider
        return provider

    def _routed(self, request: LLMRequest, choice: ModelChoice) -> LLMRequest:
        limit = self.config.output_limit(choice.model)
        max_tokens = min(request.max_tokens, limit) if limit else request.max_tokens
        redact = self.redactor.redact
        return replace(
            request,
            model=choice.model,
            max_tokens=max_tokens,
            system=redact(request.system),
            messages=tuple(Message(m.role, redact(m.content)) for m in request.messages),
        )

    @staticmethod
    def _log_retry(attempt: int, error: ProviderError, delay: float) -> None:
        log.info("%s (try %d); retrying in %.1fs", error.message, attempt, delay)
