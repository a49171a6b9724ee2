"""Anthropic adapter, through the official ``anthropic`` SDK.

Calls stream (``messages.stream``) so long Builder answers never hit the SDK's refusal of
non-streaming requests that may run past ten minutes; the final message carries the exact
usage. The SDK's own retries are off (``max_retries=0``): :mod:`autopack.llm.retry` is the
only retry layer. SDK exceptions are translated here, at the edge.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

import httpx2
from pydantic import BaseModel, ConfigDict, Field

from autopack.errors import AuthenticationFailed, ProviderError, TransientProviderError
from autopack.llm.base import Completion, LLMRequest, StopReason, Usage, require_model
from autopack.llm.errors_map import parse_retry_after, translate_status

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end",
    "max_tokens": "max_tokens",
    # The output was cut because the context window filled up: truncated all the same.
    "model_context_window_exceeded": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "refusal": "content_filter",
}


if TYPE_CHECKING:  # the SDK is imported when a provider is built: it is slow to import
    import anthropic


class AnthropicConfig(BaseModel):
    """``providers.<name>`` with ``kind: anthropic`` in models.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["anthropic"] = "anthropic"
    api_key_env: str = "ANTHROPIC_API_KEY"
    base_url: str | None = None
    timeout_seconds: float = Field(default=600.0, gt=0)
    default_model: str | None = Field(
        default=None,
        description="Model used when this provider is forced and no chain model belongs to it.",
    )


class AnthropicProvider:
    """:class:`~autopack.llm.base.LLMProvider` for the Anthropic Messages API."""

    def __init__(self, name: str, client: anthropic.Anthropic) -> None:
        self._name = name
        self._client = client

    @property
    def name(self) -> str:
        return self._name

    @classmethod
    def from_config(
        cls,
        name: str,
        config: AnthropicConfig,
        *,
        api_key: str | None,
        http_client: httpx2.Client | None = None,
    ) -> AnthropicProvider:
        """Build the provider. ``api_key`` comes from the environment variable the config
        names; a missing key fails here so the router can fall back at once."""
        import anthropic

        if not api_key:
            raise AuthenticationFailed(
                f"{name}: no API key; set {config.api_key_env} or route to another provider",
                provider=name,
            )
        client = anthropic.Anthropic(
            api_key=api_key,
            base_url=config.base_url,
            timeout=config.timeout_seconds,
            max_retries=0,
            http_client=http_client,
        )
        return cls(name, client)

    def complete(self, request: LLMRequest) -> Completion:
        """One streamed Messages call; returns the joined text and the exact usage."""
        import anthropic

        model = require_model(request, self._name)
        kwargs: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.system:
            kwargs["system"] = request.system
        if request.temperature is not None:
            # This SDK version has no temperature parameter; the API field still exists for
            # the models that accept it, so it goes in the body as such.
            kwargs["extra_body"] = {"temperature": request.temperature}
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        started = time.monotonic()
        try:
            with self._client.messages.stream(**kwargs) as stream:
                message = stream.get_final_message()
        except anthropic.APIStatusError as exc:
            raise self._translate(exc, model) from exc
        except anthropic.APIConnectionError as exc:  # includes APITimeoutError
            raise TransientProviderError(
                f"{self._name}: {exc.message}", provider=self._name, model=model
            ) from exc
        except anthropic.APIResponseValidationError as exc:
            raise TransientProviderError(
                f"{self._name}: unexpected response: {exc.message}",
                provider=self._name,
                model=model,
            ) from exc
        latency_ms = int((time.monotonic() - started) * 1000)
        text = "".join(block.text for block in message.content if block.type == "text")
        usage = message.usage
        prompt_tokens = (
            usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
        )
        stop = _STOP_REASONS.get(message.stop_reason or "", "other")
        return Completion(
            text=text,
            provider=self._name,
            model=model,  # the routed name, which prices and routing know (not a dated id)
            usage=Usage.reported(prompt_tokens, usage.output_tokens),
            stop_reason=stop,
            truncated=stop == "max_tokens",
            latency_ms=latency_ms,
        )

    def _translate(self, exc: anthropic.APIStatusError, model: str) -> ProviderError:
        status = exc.status_code if exc.status_code != 200 else None
        return translate_status(
            provider=self._name,
            model=model,
            status=status,
            error_type=exc.type,
            message=exc.api_message or exc.message,
            retry_after=parse_retry_after(exc.response.headers),
        )
