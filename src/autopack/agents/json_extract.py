"""Finding the JSON object in a model's answer, and asking again once when there is none.

Models wrap JSON in code fences or surround it with prose. :func:`extract_json_object`
accepts a fenced block, the whole answer, or the first JSON object embedded in prose, and
otherwise raises :class:`~autopack.errors.OutputParseError` saying what was wrong (so the
re-ask can quote it). :func:`ask_with_reask` gives a malformed answer exactly one re-ask
carrying the parse error, then fails cleanly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from autopack.agents.prompting import render_template
from autopack.errors import OutputParseError
from autopack.llm.base import Completion, LLMRequest, Message
from autopack.llm.client import LLMClient
from autopack.llm.router import Routing

T = TypeVar("T")

_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_json_object(text: str) -> dict[str, Any]:
    """The JSON object in ``text``: a ```json fence first, then the whole text, then the
    first decodable ``{...}`` in the prose. Raises OutputParseError otherwise."""
    stripped = text.strip()
    if not stripped:
        raise OutputParseError("the answer is empty; expected one JSON object")
    first_error: str | None = None
    candidates = [
        body for lang, body in _FENCE_RE.findall(stripped) if lang.lower() in ("", "json", "jsonc")
    ]
    for candidate in [*candidates, stripped]:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError as exc:
            first_error = first_error or f"{exc.msg} at line {exc.lineno} column {exc.colno}"
            continue
        if isinstance(value, dict):
            return value
        first_error = first_error or f"found JSON {type(value).__name__}, expected an object"
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", stripped):
        try:
            value, _end = decoder.raw_decode(stripped, match.start())
        except json.JSONDecodeError as exc:
            first_error = first_error or f"{exc.msg} at character {exc.pos}"
            continue
        if isinstance(value, dict):
            return value
    if "{" not in stripped:
        raise OutputParseError(
            "the answer contains no JSON object; answer with one JSON object only"
        )
    raise OutputParseError(f"the answer's JSON is malformed: {first_error or 'unparseable'}")


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    """A parsed answer and every completion it took (one, or two after a re-ask)."""

    value: T
    completions: list[Completion] = field(default_factory=list)

    @property
    def reasked(self) -> bool:
        return len(self.completions) > 1


def ask_with_reask(
    client: LLMClient,
    request: LLMRequest,
    routing: Routing,
    parse: Callable[[str], T],
    *,
    expected: str,
) -> Parsed[T]:
    """Call, parse, and on OutputParseError re-ask exactly once with the error.

    ``expected`` describes the answer's format for the re-ask message. When the second
    answer fails too, OutputParseError names both errors and carries the last answer's
    text in ``context["answer"]``.
    """
    first = client.complete(request, routing)
    try:
        return Parsed(parse(first.text), [first])
    except OutputParseError as exc:
        first_error = exc.message
    note = render_template(
        "reask.j2", error=first_error, expected=expected, truncated=first.truncated
    )
    retry = replace(
        request,
        kind="reask",
        messages=(
            *request.messages,
            Message("assistant", first.text or "(empty answer)"),
            Message("user", note),
        ),
    )
    second = client.complete(retry, routing)
    try:
        return Parsed(parse(second.text), [first, second])
    except OutputParseError as exc:
        raise OutputParseError(
            f"the {request.role}'s answer could not be parsed, even after one re-ask: "
            f"first: {first_error}; then: {exc.message}",
            role=request.role,
            run_id=request.run_id,
            phase_id=request.phase_id,
            answer=second.text[:20_000],
        ) from exc
