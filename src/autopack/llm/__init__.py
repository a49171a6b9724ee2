"""The LLM layer: providers, routing and escalation, retries, usage, pricing, budgeting.

Modules:

* :mod:`~autopack.llm.base`: ``LLMRequest``, ``Completion``, ``Usage``, the ``LLMProvider``
  protocol.
* :mod:`~autopack.llm.anthropic`, :mod:`~autopack.llm.openai`,
  :mod:`~autopack.llm.scripted`: the adapters.
* :mod:`~autopack.llm.router`: escalation chains, overrides, provider fallback.
* :mod:`~autopack.llm.retry`: backoff with jitter for transient errors.
* :mod:`~autopack.llm.pricing`, :mod:`~autopack.llm.estimator`,
  :mod:`~autopack.llm.calibration`: cost, max_tokens, and calibration statistics.
* :mod:`~autopack.llm.client` / :mod:`~autopack.llm.factory`: ``LLMClient`` and
  ``build_client(settings, usage_sink=...)``, what the executor uses.

This package's ``__init__`` imports only :mod:`~autopack.llm.base`, so importing a single
adapter never drags in the rest.
"""

from autopack.llm.base import (
    Completion,
    LLMProvider,
    LLMRequest,
    Message,
    Usage,
    estimate_tokens,
)

__all__ = ["Completion", "LLMProvider", "LLMRequest", "Message", "Usage", "estimate_tokens"]
