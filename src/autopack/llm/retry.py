"""Retrying transient provider errors: exponential backoff with jitter, bounded tries.

Only :class:`~autopack.errors.TransientProviderError` (5xx, network, 429, 529) is retried;
everything else propagates at once. A ``retry-after`` from the provider is honoured: the
wait is never shorter than it, and a provider asking for a longer wait than
``max_retry_after`` is not waited for at all (the error propagates so the router can fall
back instead of blocking a run for minutes).

``sleep`` and ``rng`` are parameters, so tests run instantly and deterministically.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from autopack.errors import ProviderError, RateLimited, TransientProviderError

T = TypeVar("T")

Sleep = Callable[[float], None]
OnRetry = Callable[[int, ProviderError, float], None]


class RetryConfig(BaseModel):
    """Retry settings (``retry:`` in models.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=4, ge=1, le=20, description="Tries, the first included.")
    base_delay_seconds: float = Field(default=1.0, ge=0)
    max_delay_seconds: float = Field(default=30.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_retry_after_seconds: float = Field(default=120.0, ge=0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait between tries of one call."""

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    max_retry_after: float = 120.0

    @classmethod
    def from_config(cls, config: RetryConfig) -> RetryPolicy:
        """The policy described by ``config``."""
        return cls(
            max_attempts=config.max_attempts,
            base_delay=config.base_delay_seconds,
            max_delay=config.max_delay_seconds,
            multiplier=config.multiplier,
            max_retry_after=config.max_retry_after_seconds,
        )

    def delay_for(self, attempt: int, error: ProviderError, rng: random.Random) -> float | None:
        """Seconds to wait after failed try number ``attempt`` (1-based), or None to give up.

        Backoff uses "equal jitter": half the exponential delay is fixed, half is random, so
        concurrent executors do not retry in lockstep and the wait never collapses to zero.
        """
        if not error.retryable or attempt >= self.max_attempts:
            return None
        ceiling = min(self.max_delay, self.base_delay * self.multiplier ** (attempt - 1))
        delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if isinstance(error, RateLimited) and error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            # Never earlier than the provider asked; a little jitter on top spreads callers.
            delay = error.retry_after + rng.uniform(0, min(1.0, ceiling / 2))
        return delay


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleep: Sleep = time.sleep,
    rng: random.Random | None = None,
    on_retry: OnRetry | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying transient provider errors per ``policy``.

    ``on_retry(attempt, error, delay)`` is called before each wait (for logging). The last
    error propagates when the tries are used up or the error is not transient.
    """
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except TransientProviderError as exc:
            delay = policy.delay_for(attempt, exc, rng)
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
