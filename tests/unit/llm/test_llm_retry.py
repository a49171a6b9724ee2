"""Retries: transient errors only, exponential backoff with jitter, retry-after honoured."""

from __future__ import annotations

import random

import pytest

from autopack.errors import (
    ContextWindowExceeded,
    Overloaded,
    ProviderError,
    RateLimited,
    TransientProviderError,
)
from autopack.llm.retry import RetryConfig, RetryPolicy, call_with_retry


class Flaky:
    def __init__(self, *errors: ProviderError) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_transient_errors_are_retried_with_growing_delays() -> None:
    sleeps: list[float] = []
    fn = Flaky(TransientProviderError("500"), Overloaded("529"), TransientProviderError("502"))
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, multiplier=2.0, max_delay=30.0)
    assert call_with_retry(fn, policy=policy, sleep=sleeps.append, rng=random.Random(7)) == "ok"
    assert fn.calls == 4
    # Equal jitter: each wait lies in [ceiling/2, ceiling] for ceilings 1, 2, 4.
    for delay, ceiling in zip(sleeps, (1.0, 2.0, 4.0), strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_jitter_is_deterministic_with_a_seeded_rng() -> None:
    def waits(seed: int) -> list[float]:
        sleeps: list[float] = []
        call_with_retry(
            Flaky(TransientProviderError("x"), TransientProviderError("x")),
            policy=RetryPolicy(),
            sleep=sleeps.append,
            rng=random.Random(seed),
        )
        return sleeps

    assert waits(1) == waits(1)
    assert waits(1) != waits(2)


def test_tries_are_bounded() -> None:
    sleeps: list[float] = []
    fn = Flaky(*(TransientProviderError(str(i)) for i in range(10)))
    with pytest.raises(TransientProviderError, match="2"):
        call_with_retry(
            fn, policy=RetryPolicy(max_attempts=3), sleep=sleeps.append, rng=random.Random(0)
        )
    assert fn.calls == 3 and len(sleeps) == 2


def test_non_transient_errors_are_not_retried() -> None:
    sleeps: list[float] = []
    fn = Flaky(ContextWindowExceeded("too long"))
    with pytest.raises(ContextWindowExceeded):
        call_with_retry(fn, policy=RetryPolicy(), sleep=sleeps.append)
    assert fn.calls == 1 and sleeps == []


def test_retry_after_is_never_undercut() -> None:
    sleeps: list[float] = []
    fn = Flaky(RateLimited("429", retry_after=12.0))
    call_with_retry(
        fn, policy=RetryPolicy(base_delay=0.5), sleep=sleeps.append, rng=random.Random(3)
    )
    assert 12.0 <= sleeps[0] <= 13.0


def test_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    sleeps: list[float] = []
    fn = Flaky(RateLimited("429", retry_after=3600.0))
    with pytest.raises(RateLimited):
        call_with_retry(fn, policy=RetryPolicy(max_retry_after=120.0), sleep=sleeps.append)
    assert fn.calls == 1 and sleeps == []


def test_delays_are_capped_and_reported() -> None:
    seen: list[tuple[int, float]] = []
    fn = Flaky(*(TransientProviderError("x") for _ in range(5)))
    policy = RetryPolicy.from_config(
        RetryConfig(max_attempts=6, base_delay_seconds=10, max_delay_seconds=15)
    )
    call_with_retry(
        fn,
        policy=policy,
        sleep=lambda _s: None,
        rng=random.Random(0),
        on_retry=lambda attempt, _err, delay: seen.append((attempt, delay)),
    )
    assert [a for a, _ in seen] == [1, 2, 3, 4, 5]
    assert all(d <= 15 for _, d in seen)
