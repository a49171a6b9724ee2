"""What parsing a model's answer produced: edits, diagnostics, truncation.

Shared by the per-format parsers (:mod:`~autopack.agents.json_edits`,
:mod:`~autopack.agents.search_replace`, :mod:`~autopack.agents.unified_diff`) and
returned by :func:`autopack.agents.output.parse_model_output`.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Literal

from pydantic import BaseModel, Field

from autopack.domain.edits import Edit
from autopack.domain.governance import AccessRequest

OutputFormat = Literal["ndjson", "files_json", "search_replace", "unified_diff", "empty"]
#: A Markdown code fence line, which every parser skips.
FENCE = re.compile(r"^\s*(```|~~~)")


class Diagnostic(BaseModel):
    """Something in the answer that did not become an edit. ``error``: an edit was lost."""

    line: int | None = None
    segment: str = ""
    reason: str
    severity: Literal["error", "ignored"] = "error"

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


class ParsedOutput(BaseModel):
    """The edits found in an answer, what was skipped, and whether it looked truncated."""

    edits: list[Edit] = Field(default_factory=list)
    #: Governance requests: protected paths the answer asks to change, and why.
    requests: list[AccessRequest] = Field(default_factory=list)
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    truncated: bool = False
    format: OutputFormat = "empty"

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics that lost an edit (not ignored prose)."""
        return [d for d in self.diagnostics if d.severity == "error"]


class LineNumbers:
    """1-based line numbers of offsets, in O(log n) each (answers can be long)."""

    def __init__(self, text: str) -> None:
        self.breaks = [m.start() for m in re.finditer("\n", text)]

    def __call__(self, offset: int) -> int:
        return bisect_left(self.breaks, offset) + 1
