"""Shared rules for translating provider HTTP failures into Autopack's exception tree.

Both SDK adapters call :func:`translate_status` with what they know about a failed
response (status, the provider's error type or code, its message, the retry-after header);
the rules below decide the Autopack class once, so the adapters cannot disagree.
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from typing import Any

from autopack.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    InvalidRequest,
    Overloaded,
    ProviderError,
    RateLimited,
    TransientProviderError,
)

#: Phrases providers use when the prompt does not fit (Anthropic, OpenAI, vLLM, Ollama...).
_CONTEXT_PATTERNS = re.compile(
    r"prompt is too long|context (?:length|limit|window)|maximum context|"
    r"context_length_exceeded|too many tokens|exceeds? the (?:model'?s? )?(?:maximum|max)",
    re.IGNORECASE,
)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    date_header = headers.get("date")
    try:
        now = parsedate_to_datetime(date_header) if date_header else None
    except (TypeError, ValueError):
        now = None
    if now is None:
        return None  # An absolute date without the server's clock cannot be trusted.
    return max(0.0, (when - now).total_seconds())


def is_context_message(message: str) -> bool:
    """Whether a provider's error message says the prompt does not fit the model."""
    return bool(_CONTEXT_PATTERNS.search(message))


def translate_status(
    *,
    provider: str,
    model: str | None,
    status: int | None,
    error_type: str | None,
    message: str,
    retry_after: float | None = None,
) -> ProviderError:
    """The Autopack error for a failed provider response.

    ``error_type`` is the provider's own classification (Anthropic ``error.type``, OpenAI
    ``error.code``/``error.type``) and wins over the status code, because streamed errors
    arrive with HTTP 200.
    """
    kind = (error_type or "").lower()
    text = f"{provider}: {message}".strip()
    ctx: dict[str, Any] = {"provider": provider, "model": model, "status_code": status}
    if kind == "overloaded_error" or status == 529:
        return Overloaded(f"{text} (provider overloaded)", **ctx)
    if kind in {"insufficient_quota", "billing_error"}:
        # The account cannot pay: retrying is pointless, falling back is not.
        return AuthenticationFailed(f"{text} (quota or billing exhausted)", **ctx)
    if kind in {"rate_limit_error", "rate_limit_exceeded"} or status == 429:
        return RateLimited(text, retry_after=retry_after, **ctx)
    if kind in {"authentication_error", "permission_error", "invalid_api_key"} or status in {
        401,
        403,
    }:
        return AuthenticationFailed(text, **ctx)
    if kind in {"api_error", "server_error", "timeout_error"} or (status or 0) >= 500:
        return TransientProviderError(text, **ctx)
    if kind == "request_too_large" or status == 413 or is_context_message(message):
        return ContextWindowExceeded(text, **ctx)
    if status == 408:
        return TransientProviderError(text, **ctx)
    return InvalidRequest(text, **ctx)
