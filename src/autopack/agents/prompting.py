"""Prompt templates (``agents/prompts/*.j2``) and the rendered :class:`Prompt`.

Templates are plain text rendered with Jinja2 in strict mode: a missing value is an error
at render time, never an empty hole in a prompt sent to a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from autopack.llm.base import LLMRequest, Message, Role, estimate_tokens

PROMPTS_DIR = Path(__file__).with_name("prompts")

_env = Environment(
    loader=FileSystemLoader(PROMPTS_DIR),
    autoescape=False,  # plain-text prompts, not HTML
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


def render_template(name: str, **values: Any) -> str:
    """Render ``prompts/<name>`` with ``values``; surrounding blank lines are stripped."""
    return _env.get_template(name).render(**values).strip() + "\n"


@dataclass(frozen=True, slots=True)
class Prompt:
    """A rendered system prompt and first user message."""

    system: str
    user: str

    @property
    def estimated_tokens(self) -> int:
        """Approximate size of the prompt in tokens (four characters per token)."""
        return estimate_tokens(self.system) + estimate_tokens(self.user)

    def request(
        self, role: Role, *, max_tokens: int, run_id: str | None, phase_id: str | None
    ) -> LLMRequest:
        """An :class:`LLMRequest` carrying this prompt."""
        return LLMRequest(
            role=role,
            system=self.system,
            messages=(Message("user", self.user),),
            max_tokens=max_tokens,
            run_id=run_id,
            phase_id=phase_id,
        )


def clip(text: str, limit: int, *, what: str = "text") -> str:
    """``text`` cut to ``limit`` characters with a visible note saying so."""
    if len(text) <= limit:
        return text
    omitted = len(text) - limit
    return f"{text[:limit]}\n[... {omitted} more characters of {what} omitted ...]"
