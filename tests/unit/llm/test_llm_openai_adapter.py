"""The OpenAI adapter (and OpenAI-compatible servers) against the real SDK."""

from __future__ import annotations

import pytest

from autopack.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    InvalidRequest,
    RateLimited,
    TransientProviderError,
)
from autopack.llm.base import LLMRequest, Message
from autopack.llm.openai import OpenAIConfig, OpenAIProvider

OLLAMA = OpenAIConfig(
    kind="openai_compatible", base_url="http://localhost:11434/v1", api_key_env=None
)


def request(**overrides: object) -> LLMRequest:
    values: dict[str, object] = {
        "role": "auditor",
        "system": "You are the Auditor.",
        "messages": (Message("user", "Review."),),
        "max_tokens": 2048,
        "model": "gpt-5",
    }
    values.update(overrides)
    return LLMRequest(**values)  # type: ignore[arg-type]


def hosted(recorder, config: OpenAIConfig | None = None) -> OpenAIProvider:  # type: ignore[no-untyped-def]
    return OpenAIProvider.from_config(
        "openai",
        config or OpenAIConfig(send_temperature=False),
        api_key="sk-test",
        http_client=recorder.client(),
    )


def test_success_with_exact_usage(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(
        bodies.openai_completion(
            "{}", usage={"prompt_tokens": 900, "completion_tokens": 40, "total_tokens": 940}
        )
    )
    completion = hosted(rec).complete(request(temperature=0.3, stop=("###",)))

    assert completion.text == "{}" and completion.model == "gpt-5"
    assert completion.usage.prompt_tokens == 900 and completion.usage.completion_tokens == 40
    assert completion.usage.total_tokens == 940 and completion.usage.exact
    assert completion.stop_reason == "end" and not completion.truncated
    sent = rec.body()
    assert sent["messages"][0] == {"role": "system", "content": "You are the Auditor."}
    assert sent["max_completion_tokens"] == 2048 and "max_tokens" not in sent
    assert "temperature" not in sent  # gpt-5 rejects a temperature; the config says so
    assert sent["stop"] == ["###"]
    assert str(rec.requests[0].url) == "https://api.openai.com/v1/chat/completions"


def test_length_finish_is_truncation(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(
        bodies.openai_completion(
            "part",
            finish_reason="length",
            usage={"prompt_tokens": 10, "completion_tokens": 2048, "total_tokens": 2058},
        )
    )
    completion = hosted(rec).complete(request())
    assert completion.truncated and completion.stop_reason == "max_tokens"


def test_total_only_usage_has_null_splits(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(bodies.openai_completion("ok", usage={"total_tokens": 77}))
    completion = OpenAIProvider.from_config(
        "ollama", OLLAMA, api_key=None, http_client=rec.client()
    ).complete(request(model="qwen2.5-coder:32b", temperature=0.1))
    assert completion.usage.prompt_tokens is None
    assert completion.usage.completion_tokens is None
    assert completion.usage.total_tokens == 77 and completion.usage.exact
    sent = rec.body()
    assert sent["max_tokens"] == 2048 and "max_completion_tokens" not in sent
    assert sent["temperature"] == 0.1
    assert str(rec.requests[0].url) == "http://localhost:11434/v1/chat/completions"
    assert rec.requests[0].headers["authorization"] == "Bearer not-needed"


def test_missing_usage_is_an_unsplit_estimate(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(bodies.openai_completion("x" * 400))
    completion = OpenAIProvider.from_config(
        "ollama", OLLAMA, api_key=None, http_client=rec.client()
    ).complete(request(model="qwen2.5-coder:32b"))
    usage = completion.usage
    assert usage.prompt_tokens is None and usage.completion_tokens is None
    assert not usage.exact and usage.total_tokens >= 100


def test_rate_limit_with_retry_after(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(
        bodies.openai_error(
            429,
            "Rate limit reached for gpt-5",
            error_type="requests",
            code="rate_limit_exceeded",
            headers={"retry-after": "3"},
        )
    )
    with pytest.raises(RateLimited) as caught:
        hosted(rec).complete(request())
    assert caught.value.retry_after == 3.0
    assert len(rec.requests) == 1


def test_insufficient_quota_is_not_retried(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(
        bodies.openai_error(
            429,
            "You exceeded your current quota",
            error_type="insufficient_quota",
            code="insufficient_quota",
        )
    )
    with pytest.raises(AuthenticationFailed):
        hosted(rec).complete(request())


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(http, bodies, status: int) -> None:  # type: ignore[no-untyped-def]
    rec = http(bodies.openai_error(status, "The server had an error", error_type="server_error"))
    with pytest.raises(TransientProviderError):
        hosted(rec).complete(request())
    assert len(rec.requests) == 1


def test_context_length_exceeded(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(
        bodies.openai_error(
            400,
            "This model's maximum context length is 400000 tokens. However, your messages "
            "resulted in 412345 tokens.",
            code="context_length_exceeded",
        )
    )
    with pytest.raises(ContextWindowExceeded):
        hosted(rec).complete(request())


def test_unauthorized(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(bodies.openai_error(401, "Incorrect API key provided", code="invalid_api_key"))
    with pytest.raises(AuthenticationFailed):
        hosted(rec).complete(request())


def test_other_bad_request(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(bodies.openai_error(400, "Unsupported parameter: 'foo'", code="unsupported"))
    with pytest.raises(InvalidRequest):
        hosted(rec).complete(request())


def test_hosted_openai_without_key_fails_at_construction() -> None:
    with pytest.raises(AuthenticationFailed, match="OPENAI_API_KEY"):
        OpenAIProvider.from_config("openai", OpenAIConfig(), api_key=None)


def test_compatible_kind_needs_a_base_url() -> None:
    with pytest.raises(ValueError, match="base_url"):
        OpenAIConfig(kind="openai_compatible")
