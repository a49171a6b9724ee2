"""OpenAI adapter, through the official ``openai`` SDK (Chat Completions).

The same adapter serves any OpenAI-compatible server through ``base_url``: Ollama, vLLM,
llama.cpp server, LM Studio, OpenRouter, Gemini's and GLM's compatibility endpoints. Those
are configured by name in models.yaml with ``kind: openai_compatible``.

Usage honesty: exact splits when the server reports them; ``NULL`` splits with the exact
total when it reports only ``total_tokens``; ``NULL`` splits with an estimated total
(marked not exact) when it reports no usage at all. ``finish_reason == "length"`` is a
truncation. The SDK's retries are off; :mod:`autopack.llm.retry` is the only retry layer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

import httpx2
from pydantic import BaseModel, ConfigDict, Field, model_validator

from autopack.errors import AuthenticationFailed, ProviderError, TransientProviderError
from autopack.llm.base import (
    Completion,
    LLMRequest,
    StopReason,
    Usage,
    estimate_tokens,
    require_model,
)
from autopack.llm.errors_map import parse_retry_after, translate_status

_FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end",
    "length": "max_tokens",
    "content_filter": "content_filter",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}

#: Local servers ignore the key, but the SDK refuses to start without one.
_NO_KEY_PLACEHOLDER = "not-needed"


if TYPE_CHECKING:  # the SDK is imported when a provider is built: it is slow to import
    import openai


class OpenAIConfig(BaseModel):
    """``providers.<name>`` with ``kind: openai`` or ``kind: openai_compatible``.

    ``max_tokens_param`` names the request field for the output limit: OpenAI's current
    models take ``max_completion_tokens``; many compatible servers only know ``max_tokens``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["openai", "openai_compatible"] = "openai"
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    max_tokens_param: Literal["max_completion_tokens", "max_tokens"] | None = None
    send_temperature: bool = Field(
        default=True, description="False for models that reject a temperature (gpt-5 family)."
    )
    timeout_seconds: float = Field(default=600.0, gt=0)
    default_model: str | None = None

    @model_validator(mode="after")
    def _defaults_by_kind(self) -> OpenAIConfig:
        if self.max_tokens_param is None:
            param = "max_completion_tokens" if self.kind == "openai" else "max_tokens"
            object.__setattr__(self, "max_tokens_param", param)
        if self.kind == "openai_compatible" and not self.base_url:
            raise ValueError("an openai_compatible provider needs a base_url")
        return self

    @property
    def needs_api_key(self) -> bool:
        """Hosted OpenAI needs a key; a compatible server needs one only if it names one."""
        return self.kind == "openai" or self.api_key_env is not None


class OpenAIProvider:
    """:class:`~autopack.llm.base.LLMProvider` for OpenAI and compatible servers."""

    def __init__(self, name: str, client: openai.OpenAI, config: OpenAIConfig) -> None:
        self._name = name
        self._client = client
        self._config = config

    @property
    def name(self) -> str:
        return self._name

    @classmethod
    def from_config(
        cls,
        name: str,
        config: OpenAIConfig,
        *,
        api_key: str | None,
        http_client: httpx2.Client | None = None,
    ) -> OpenAIProvider:
        """Build the provider; a hosted provider without its key fails here (fallback)."""
        import openai

        if not api_key and config.needs_api_key:
            raise AuthenticationFailed(
                f"{name}: no API key; set {config.api_key_env} or route to another provider",
                provider=name,
            )
        client = openai.OpenAI(
            api_key=api_key or _NO_KEY_PLACEHOLDER,
            base_url=config.base_url,
            timeout=config.timeout_seconds,
            max_retries=0,
            http_client=http_client,
        )
        return cls(name, client, config)

    def complete(self, request: LLMRequest) -> Completion:
        """One Chat Completions call."""
        import openai

        model = require_model(request, self._name)
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages,
            str(self._config.max_tokens_param): request.max_tokens,
        }
        if request.temperature is not None and self._config.send_temperature:
            kwargs["temperature"] = request.temperature
        if request.stop:
            kwargs["stop"] = list(request.stop)
        started = time.monotonic()
        try:
            response = self._client.chat.completions.create(**kwargs)
        except openai.APIStatusError as exc:
            raise self._translate(exc, model) from exc
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            raise TransientProviderError(
                f"{self._name}: {exc.message}", provider=self._name, model=model
            ) from exc
        except openai.APIResponseValidationError as exc:
            raise TransientProviderError(
                f"{self._name}: unexpected response: {exc.message}",
                provider=self._name,
                model=model,
            ) from exc
        latency_ms = int((time.monotonic() - started) * 1000)
        if not response.choices:
            raise TransientProviderError(
                f"{self._name}: the response has no choices", provider=self._name, model=model
            )
        choice = response.choices[0]
        text = choice.message.content or ""
        stop = _FINISH_REASONS.get(choice.finish_reason or "", "other")
        return Completion(
            text=text,
            provider=self._name,
            model=model,  # the routed name, which prices and routing know (not a dated id)
            usage=_usage(response.usage, request, text),
            stop_reason=stop,
            truncated=stop == "max_tokens",
            latency_ms=latency_ms,
        )

    def _translate(self, exc: openai.APIStatusError, model: str) -> ProviderError:
        body = exc.body if isinstance(exc.body, dict) else {}
        message = str(body.get("message") or exc.message)
        return translate_status(
            provider=self._name,
            model=model,
            status=exc.status_code,
            error_type=exc.code or exc.type,
            message=message,
            retry_after=parse_retry_after(exc.response.headers),
        )


def _usage(usage: Any, request: LLMRequest, text: str) -> Usage:
    """Exact splits, total only, or (nothing reported) an estimated total without splits."""
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    total = getattr(usage, "total_tokens", None)
    if prompt is not None and completion is not None:
        return Usage.reported(prompt, completion)
    if total is not None:
        return Usage.total_only(total)
    estimate = estimate_tokens(request.prompt_text()) + estimate_tokens(text)
    return Usage(None, None, estimate, exact=False)
