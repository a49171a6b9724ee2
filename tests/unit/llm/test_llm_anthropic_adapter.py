"""The Anthropic adapter against the real SDK, its HTTP answered by documented bodies."""

from __future__ import annotations

import httpx2
import pytest

from autopack.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    InvalidRequest,
    Overloaded,
    RateLimited,
    TransientProviderError,
)
from autopack.llm.anthropic import AnthropicConfig, AnthropicProvider
from autopack.llm.base import LLMRequest, Message

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def request(**overrides: object) -> LLMRequest:
    values: dict[str, object] = {
        "role": "builder",
        "system": "You are the Builder.",
        "messages": (Message("user", "Write the code."),),
        "max_tokens": 4096,
        "model": "claude-sonnet-4-5",
        "run_id": "r1",
        "phase_id": "p1",
    }
    values.update(overrides)
    return LLMRequest(**values)  # type: ignore[arg-type]


def provider(recorder) -> AnthropicProvider:  # type: ignore[no-untyped-def]
    return AnthropicProvider.from_config(
        "anthropic", AnthropicConfig(), api_key="sk-test", http_client=recorder.client()
    )


def test_success_returns_text_and_exact_usage(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(
        bodies.sse(
            bodies.anthropic_events(
                '{"op": "delete", "path": "a"}', input_tokens=1200, output_tokens=85
            )
        )
    )
    completion = provider(rec).complete(request(stop=("END",), temperature=0.2))

    assert completion.text == '{"op": "delete", "path": "a"}'
    assert completion.provider == "anthropic"
    assert completion.model == "claude-sonnet-4-5"  # the routed name, not the dated id
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (1200, 85)
    assert completion.usage.total_tokens == 1285 and completion.usage.exact
    assert completion.stop_reason == "end" and not completion.truncated
    sent = rec.body()
    assert sent["system"] == "You are the Builder."
    assert sent["max_tokens"] == 4096 and sent["stop_sequences"] == ["END"]
    assert sent["temperature"] == 0.2 and sent["stream"] is True
    assert sent["messages"] == [{"role": "user", "content": "Write the code."}]
    assert rec.requests[0].url.path == "/v1/messages"


def test_max_tokens_stop_is_truncation(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(bodies.sse(bodies.anthropic_events("partial", stop_reason="max_tokens")))
    completion = provider(rec).complete(request())
    assert completion.truncated and completion.stop_reason == "max_tokens"


def test_rate_limit_carries_retry_after(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(
        bodies.anthropic_error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            headers={"retry-after": "7"},
        )
    )
    with pytest.raises(RateLimited) as caught:
        provider(rec).complete(request())
    assert caught.value.retry_after == 7.0
    assert caught.value.provider == "anthropic" and caught.value.status_code == 429
    assert len(rec.requests) == 1  # the SDK's own retries are off


def test_overloaded_529(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(bodies.anthropic_error(529, "overloaded_error", "Overloaded"))
    with pytest.raises(Overloaded):
        provider(rec).complete(request())
    assert len(rec.requests) == 1


def test_overloaded_error_event_mid_stream(http, bodies) -> None:  # type: ignore[no-untyped-def]
    events = [
        *bodies.anthropic_events("x")[:2],
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]
    with pytest.raises(Overloaded):
        provider(http(bodies.sse(events))).complete(request())


def test_server_error_is_transient(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(bodies.anthropic_error(500, "api_error", "Internal server error"))
    with pytest.raises(TransientProviderError) as caught:
        provider(rec).complete(request())
    assert type(caught.value) is TransientProviderError
    assert len(rec.requests) == 1


def test_connection_error_is_transient(http) -> None:  # type: ignore[no-untyped-def]
    def refuse(req: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=req)

    with pytest.raises(TransientProviderError):
        provider(http(refuse)).complete(request())


def test_context_length_exceeded(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(
        bodies.anthropic_error(
            400, "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"
        )
    )
    with pytest.raises(ContextWindowExceeded) as caught:
        provider(rec).complete(request())
    assert "prompt is too long" in caught.value.message


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "authentication_error"), (403, "permission_error")]
)
def test_auth_errors(http, bodies, status: int, kind: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthenticationFailed):
        provider(http(bodies.anthropic_error(status, kind, "invalid x-api-key"))).complete(
            request()
        )


def test_other_client_error_is_invalid_request(http, bodies) -> None:  # type: ignore[no-untyped-def]
    rec = http(
        bodies.anthropic_error(400, "invalid_request_error", "messages: roles must alternate")
    )
    with pytest.raises(InvalidRequest):
        provider(rec).complete(request())


def test_missing_key_fails_at_construction() -> None:
    with pytest.raises(AuthenticationFailed, match="ANTHROPIC_API_KEY"):
        AnthropicProvider.from_config("anthropic", AnthropicConfig(), api_key=None)
