"""The provider contract's value types."""

from __future__ import annotations

import pytest

from autopack.llm.base import Completion, LLMRequest, Message, Usage, estimate_tokens


def test_usage_constructors_say_what_is_known() -> None:
    assert Usage.reported(10, 5) == Usage(10, 5, 15, True)
    assert Usage.total_only(42) == Usage(None, None, 42, True)
    estimated = Usage.estimated("a" * 40, "b" * 8)
    assert (estimated.prompt_tokens, estimated.completion_tokens) == (10, 2)
    assert not estimated.exact


def test_max_tokens_stop_always_means_truncated() -> None:
    completion = Completion(
        text="x", provider="p", model="m", usage=Usage.reported(1, 1), stop_reason="max_tokens"
    )
    assert completion.truncated


def test_request_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        LLMRequest(role="builder", system="", messages=(Message("user", "u"),), max_tokens=0)
    with pytest.raises(ValueError, match="message"):
        LLMRequest(role="builder", system="", messages=(), max_tokens=10)


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
