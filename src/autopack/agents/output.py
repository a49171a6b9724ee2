"""Parsing a model's answer into edit operations: tolerant, and honest about what it skipped.

The Builder answers in **NDJSON**: one JSON object per line, each one edit operation, so a
truncated answer still yields every complete line. Code fences and prose around the lines
are tolerated; a line that is not valid JSON is reported, and a broken last line is
reported as truncation. The operations (``path`` is relative to the repository root, text
uses ``\\n``, JSON strings escape newlines as ``\\n``):

- ``{"op": "create", "path": P, "content": TEXT}``: a new file (refused if it exists and differs)
- ``{"op": "replace_file", "path": P, "content": TEXT}``: the whole file becomes TEXT
- ``{"op": "delete", "path": P}``
- ``{"op": "search_replace", "path": P, "old": TEXT, "new": TEXT}``: ``old`` must occur
  exactly once; quote whole lines with enough context to make it unique
- ``{"op": "insert_before" | "insert_after", "path": P, "anchor": TEXT, "content": TEXT}``
- ``{"op": "replace_lines", "path": P, "start": N, "end": M, "content": TEXT, "old": TEXT}``
  (1-based, inclusive; ``old``, the lines' current text, is optional but catches stale numbers)
- ``{"op": "delete_lines", "path": P, "start": N, "end": M, "old": TEXT}``
- ``{"op": "append" | "prepend", "path": P, "content": TEXT}``
- ``{"op": "diff", "path": P, "diff": UNIFIED_DIFF}``

Aliases are accepted: ``type``/``action``/``kind`` for ``op``; ``file``/``filename``/
``file_path`` for ``path``; ``search``/``old_text``/``old_string``/``find`` for ``old``;
``replace``/``new_text``/``new_string`` for ``new``; ``text``/``code``/``new_content``
for ``content``; ``after``/``before`` for ``anchor``; ``start_line``/``end_line``.

Also accepted: a ``{"files": [{"path", "mode", "new_content"}]}`` object (complete file
objects are salvaged from a truncated one), SEARCH/REPLACE blocks (the file path on the
line before ``<<<<<<< SEARCH``, then ``=======`` and ``>>>>>>> REPLACE``), and unified
diffs. Whichever format starts first in the answer is the one parsed.

In every format, governance requests (asking to change a protected path) are lines
``{"op": "request_access", "paths": [...], "reason": ...}``, taken out before the edits are
parsed (:mod:`autopack.agents.access_requests`); they land in ``ParsedOutput.requests``.
"""

from __future__ import annotations

import re

from autopack.agents.access_requests import REQUEST_FORMAT_SPEC, extract_requests
from autopack.agents.json_edits import FILES_START, NDJSON_START, parse_files_json, parse_ndjson
from autopack.agents.parse_result import Diagnostic, OutputFormat, ParsedOutput
from autopack.agents.search_replace import SEARCH, parse_search_replace
from autopack.agents.unified_diff import parse_unified_diff

__all__ = [
    "MAX_OUTPUT_CHARS",
    "NDJSON_FORMAT_SPEC",
    "REQUEST_FORMAT_SPEC",
    "Diagnostic",
    "OutputFormat",
    "ParsedOutput",
    "parse_model_output",
]

NDJSON_FORMAT_SPEC = """\
Answer with edit operations in NDJSON: one JSON object per line, nothing else on the line.
Paths are relative to the repository root; escape newlines in strings as \\n. Quote whole
lines in "old" and "anchor", with enough surrounding lines that the text occurs exactly once.
One example line per operation:
{"op": "create", "path": "app/util.py", "content": "def add(a, b):\\n    return a + b\\n"}
{"op": "replace_file", "path": "README.md", "content": "# App\\n\\nUsage: app run\\n"}
{"op": "delete", "path": "app/old.py"}
{"op": "search_replace", "path": "app/main.py", "old": "    x = 1\\n", "new": "    x = 2\\n"}
{"op": "insert_after", "path": "app/main.py", "anchor": "import os\\n", "content": "import re\\n"}
{"op": "insert_before", "path": "app/main.py", "anchor": "def main():\\n", "content": "N = 3\\n"}
{"op": "replace_lines", "path": "app/a.py", "start": 3, "end": 4, "old": "a = 1\\nb = 2\\n",
 "content": "a = b = 3\\n"}
{"op": "delete_lines", "path": "app/a.py", "start": 9, "end": 9, "old": "print(a)\\n"}
{"op": "append", "path": "CHANGELOG.md", "content": "- Added add()\\n"}
{"op": "prepend", "path": "app/main.py", "content": "# SPDX-License-Identifier: MIT\\n"}
(The replace_lines example is wrapped here for width; write each operation on one line.)
"old" on replace_lines/delete_lines is optional but catches stale line numbers.
Prefer search_replace for changes to existing files; use replace_file only for small files.
"""

MAX_OUTPUT_CHARS = 10_000_000
_DIFF_START = re.compile(r"^(diff --git |--- \S.*\n\+\+\+ \S|@@ -\d)", re.MULTILINE)
#: Where each format starts; the earliest wins, ties go to the first listed.
_DETECT: tuple[tuple[OutputFormat, re.Pattern[str]], ...] = (
    ("files_json", FILES_START),
    ("ndjson", NDJSON_START),
    ("search_replace", re.compile(SEARCH.pattern, re.MULTILINE)),
    ("unified_diff", _DIFF_START),
)


def parse_model_output(text: str, *, stopped_early: bool | None = None) -> ParsedOutput:
    """Parse an answer in any supported format (see the module docstring).

    ``stopped_early`` is the provider's stop reason when known (it hit max_tokens); the
    parser also detects truncation on its own from broken last lines and open fences.
    """
    if len(text) > MAX_OUTPUT_CHARS:
        return ParsedOutput(
            diagnostics=[
                Diagnostic(
                    reason=f"the answer has {len(text)} characters, over the {MAX_OUTPUT_CHARS} "
                    "cap; nothing was parsed"
                )
            ]
        )
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    requests, text, request_problems = extract_requests(text)
    result = _parse_edits(text, stopped_early)
    result.requests = [*requests, *result.requests]
    result.diagnostics = [*request_problems, *result.diagnostics]
    return result


def _parse_edits(text: str, stopped_early: bool | None) -> ParsedOutput:
    starts = [
        (found.start(), priority, name)
        for priority, (name, pattern) in enumerate(_DETECT)
        if (found := pattern.search(text))
    ]
    if not starts:
        reason = "no edits found (expected NDJSON operations, a files object, SEARCH/REPLACE "
        return ParsedOutput(
            diagnostics=[
                Diagnostic(reason=reason + "blocks or a unified diff)", segment=text.strip()[:200])
            ]
        )
    fmt = min(starts)[2]
    if fmt == "ndjson":
        result = parse_ndjson(text, stopped_early)
    elif fmt == "files_json":
        result = parse_files_json(text, stopped_early)
    elif fmt == "search_replace":
        result = parse_search_replace(text)
    else:
        edits, problems, cut = parse_unified_diff(text, stopped_early=stopped_early)
        result = ParsedOutput(
            edits=list(edits),
            truncated=cut,
            diagnostics=[
                Diagnostic(
                    line=p.line,
                    segment=p.segment,
                    reason=p.reason,
                    severity="error" if p.lost else "ignored",
                )
                for p in problems
            ],
        )
    if stopped_early:
        result.truncated = True
    result.format = fmt
    return result
