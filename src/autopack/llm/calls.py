"""What one model call was, for the run's trajectory: the request as sent, the answer,
usage, timing and the caller's tags.

:class:`~autopack.llm.client.LLMClient` builds one :class:`CallRecord` per call to a
provider (a fallback to another provider is a second call, a transient error retried by
the retry policy is not) and hands it to its :data:`CallRecorder`, if one is installed.
The llm layer knows nothing of runs or files: the executor installs a recorder that
appends to ``trajectory.jsonl`` and, around each agent call, sets :class:`CallTags`
(attempt, purpose, the context decisions behind the prompt) with
:meth:`LLMClient.tagged <autopack.llm.client.LLMClient.tagged>`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from autopack.llm.base import Completion, LLMRequest


@dataclass(frozen=True, slots=True)
class CallTags:
    """What the caller knows about the calls it is about to make.

    ``attempt`` is the Builder attempt the call belongs to (the one being built, reviewed
    or diagnosed); ``purpose`` names the step (``builder``, ``auditor``, ``goal_check``,
    ``doctor``); ``context`` is the record of what the prompt's context kept and left out
    (:meth:`autopack.executor.context.ContextBundle.to_record`), without file contents.
    """

    attempt: int | None = None
    purpose: str = ""
    context: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call to a provider: the request as sent (routed and redacted), and either the
    completion or the error that ended it.

    ``retries`` counts transient errors the retry policy waited out before the outcome;
    ``latency_ms`` is wall time over all of them; ``cost_usd`` is None when the price
    table does not know the model.
    """

    request: LLMRequest
    provider: str
    model: str
    tags: CallTags
    completion: Completion | None = None
    error: str | None = None
    error_type: str | None = None
    retries: int = 0
    latency_ms: int = 0
    cost_usd: float | None = None
    retry_errors: tuple[str, ...] = field(default=())

    def to_data(self) -> dict[str, Any]:
        """The record as plain JSON-ready data (no call number or timestamp: the
        recorder that stores it adds those)."""
        req, done = self.request, self.completion
        usage = done.usage if done is not None else None
        return {
            "run_id": req.run_id,
            "phase_id": req.phase_id,
            "attempt": self.tags.attempt,
            "role": req.role,
            "purpose": self.tags.purpose or req.role,
            "kind": req.kind or "call",
            "provider": self.provider,
            "model": self.model,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "messages": [
                {"role": "system", "content": req.system},
                *({"role": m.role, "content": m.content} for m in req.messages),
            ],
            "answer": done.text if done is not None else None,
            "stop_reason": done.stop_reason if done is not None else None,
            "truncated": done.truncated if done is not None else None,
            "usage": None
            if usage is None
            else {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
                "exact": usage.exact,
                "cost_usd": self.cost_usd,
            },
            "latency_ms": self.latency_ms,
            "provider_latency_ms": done.latency_ms if done is not None else None,
            "retries": self.retries,
            "retry_errors": list(self.retry_errors),
            "error": self.error,
            "error_type": self.error_type,
            "context": dict(self.tags.context) if self.tags.context is not None else None,
        }


#: Receives every call's record. A failing recorder propagates, like a failing usage
#: sink: a call that cannot be put on record is an error, not a silent gap.
CallRecorder = Callable[[CallRecord], None]
