"""The provider contract: what a call asks for and what it returns.

Every adapter (Anthropic, OpenAI and OpenAI-compatible servers, scripted) implements
:class:`LLMProvider`. Requests and completions are plain frozen dataclasses, so they can be
logged, compared in tests and stored without touching an SDK type.

Usage is honest: ``Usage.exact`` is True only when the provider reported the numbers.
When a provider reports only a total, the splits are ``None`` (never a guessed split);
when it reports nothing, the numbers are estimates from the text and ``exact`` is False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["builder", "auditor", "doctor", "planner"]
ROLES: tuple[Role, ...] = ("builder", "auditor", "doctor", "planner")

#: Why a model stopped. ``max_tokens`` is the only reason that means "truncated".
StopReason = Literal["end", "max_tokens", "stop_sequence", "content_filter", "tool_use", "other"]

#: Characters per token for estimates: a deliberately simple, documented heuristic.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """A rough token count for ``text`` (about four characters per token).

    Used only where no provider count exists: prompt sizes for budgeting and the scripted
    provider's usage when its script gives none. Never recorded as exact.
    """
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation turn."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One call to a model.

    ``model`` is usually left empty: the client fills it from the router's choice. Setting
    it pins the call to that model (the router is bypassed, fallback still applies).
    ``run_id``/``phase_id`` attribute the usage event and the token counters. ``kind`` says
    what the call is to its caller's step: empty for the step's own call, ``continuation``
    (an answer cut off at the token limit, continued) or ``reask`` (an unusable answer,
    asked again with the parser's error); the trajectory records it.
    """

    role: Role
    system: str
    messages: tuple[Message, ...]
    max_tokens: int
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    run_id: str | None = None
    phase_id: str | None = None
    model: str | None = None
    kind: Literal["", "continuation", "reask"] = ""

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {self.max_tokens}")
        if not self.messages:
            raise ValueError("a request needs at least one message")

    def prompt_text(self) -> str:
        """System prompt and messages as one string, for size estimates."""
        return "\n\n".join([self.system, *(m.content for m in self.messages)])


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one call.

    ``prompt_tokens``/``completion_tokens`` are ``None`` when the provider gave only a
    total. ``exact`` is False when the numbers are estimates.
    """

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int
    exact: bool = True

    @classmethod
    def reported(cls, prompt_tokens: int, completion_tokens: int) -> Usage:
        """Exact splits as the provider reported them."""
        return cls(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens, True)

    @classmethod
    def total_only(cls, total_tokens: int) -> Usage:
        """Only an exact total is known: the splits stay unknown."""
        return cls(None, None, total_tokens, True)

    @classmethod
    def estimated(cls, prompt_text: str, completion_text: str) -> Usage:
        """Estimates from the texts, marked not exact."""
        prompt, completion = estimate_tokens(prompt_text), estimate_tokens(completion_text)
        return cls(prompt, completion, prompt + completion, False)


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer with everything needed to account for it."""

    text: str
    provider: str
    model: str
    usage: Usage
    stop_reason: StopReason
    latency_ms: int = 0
    truncated: bool = field(default=False)

    def __post_init__(self) -> None:
        # One definition of truncation for every provider.
        if self.stop_reason == "max_tokens" and not self.truncated:
            object.__setattr__(self, "truncated", True)


@runtime_checkable
class LLMProvider(Protocol):
    """A model provider. Implementations translate their SDK's errors into
    :class:`autopack.errors.ProviderError` subclasses at this boundary."""

    @property
    def name(self) -> str:
        """The provider's configured name (e.g. ``anthropic``, ``ollama``, ``scripted``)."""
        ...

    def complete(self, request: LLMRequest) -> Completion:
        """Send ``request`` (its ``model`` set) and return the completion."""
        ...


def require_model(request: LLMRequest, provider: str) -> str:
    """The request's model; adapters call this because the client always sets it."""
    if not request.model:
        raise ValueError(f"{provider}: request.model is not set; route the request first")
    return request.model
