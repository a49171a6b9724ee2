"""SEARCH/REPLACE blocks: the file path on the line before, then the two texts.

::

    src/app.py
    ```python
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE
    ```

The path may also sit in the fence's info string (```python src/app.py); a bare name
counts as a path when it has a ``.`` or a ``/`` or is a well-known file name
(``Makefile``, ``Dockerfile``...). Consecutive blocks with only fences between them share
the previous block's path; a block without a path, or without its closing markers, is
reported and never guessed. When the text itself has lines of ``=`` signs, the divider
is the only line of exactly seven; with several such lines the block is reported, never
split by guess.
"""

from __future__ import annotations

import re

from autopack.agents.parse_result import FENCE, Diagnostic, ParsedOutput
from autopack.domain.edits import SearchReplace, join_lines

SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\b")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\b")
#: Files commonly named without an extension or a directory; any other bare word above a
#: block is prose ("Changes:"), not a path.
_BARE_FILE_NAMES = frozenset(
    {
        "Makefile",
        "GNUmakefile",
        "makefile",
        "Dockerfile",
        "Containerfile",
        "Justfile",
        "justfile",
        "Procfile",
        "Gemfile",
        "Rakefile",
        "Vagrantfile",
        "Jenkinsfile",
        "Pipfile",
        "LICENSE",
        "COPYING",
        "NOTICE",
        "AUTHORS",
        "CODEOWNERS",
        "README",
        "CHANGELOG",
        "VERSION",
    }
)


def parse_search_replace(text: str) -> ParsedOutput:
    """Every complete SEARCH/REPLACE block of ``text`` with a path, as an edit."""
    out = ParsedOutput()
    lines = text.split("\n")
    previous_end = -1
    last_path: str | None = None
    i = 0
    while i < len(lines):
        if not SEARCH.match(lines[i]):
            i += 1
            continue
        path = _path_before(lines, i, previous_end) or None
        if path is None and _only_fences_between(lines, previous_end, i):
            path = last_path
        j = i + 1
        while j < len(lines) and not _DIVIDER.match(lines[j]) and not SEARCH.match(lines[j]):
            j += 1
        k = j + 1
        while k < len(lines) and not _REPLACE.match(lines[k]) and not SEARCH.match(lines[k]):
            k += 1
        if j >= len(lines) or k >= len(lines):
            out.truncated = True
            out.diagnostics.append(
                Diagnostic(
                    line=i + 1,
                    segment=lines[i][:200],
                    reason="the block is cut off (the answer looks truncated)",
                )
            )
            break
        if not _DIVIDER.match(lines[j]) or not _REPLACE.match(lines[k]):
            broken_at = j if not _DIVIDER.match(lines[j]) else k
            out.diagnostics.append(
                Diagnostic(
                    line=i + 1,
                    segment=lines[i][:200],
                    reason="the block has no ======= or no "
                    ">>>>>>> REPLACE line before the next block",
                )
            )
            i = broken_at
            continue
        # The text itself may hold lines of = signs (reStructuredText titles). The format's
        # divider is exactly seven; when more than one line could divide, the block is
        # reported: a wrong split would quote real text as "old" and replace it wrongly.
        dividers = [d for d in range(j, k) if _DIVIDER.match(lines[d])]
        if len(dividers) > 1:
            dividers = [d for d in dividers if lines[d].strip() == "======="]
        if len(dividers) != 1:
            out.diagnostics.append(
                Diagnostic(
                    line=i + 1,
                    segment=lines[i][:200],
                    reason="the block has more than one ======= line, so which one divides "
                    "the old text from the new is a guess; quote fewer lines so that the "
                    "text holds no ======= line, or use another edit format",
                )
            )
        elif path is None:
            out.diagnostics.append(
                Diagnostic(
                    line=i + 1,
                    segment=lines[i][:200],
                    reason="no file path on the line before the block",
                )
            )
        else:
            j = dividers[0]
            out.edits.append(
                SearchReplace(
                    path=path, old=join_lines(lines[i + 1 : j]), new=join_lines(lines[j + 1 : k])
                )
            )
            last_path = path
        previous_end = k
        i = k + 1
    return out


def _only_fences_between(lines: list[str], after: int, before: int) -> bool:
    return after >= 0 and all(
        not line.strip() or FENCE.match(line) for line in lines[after + 1 : before]
    )


def _path_before(lines: list[str], index: int, floor: int) -> str | None:
    """The file path written above a SEARCH line: skips blank lines and fences."""
    for line in reversed(lines[floor + 1 : index]):
        stripped = line.strip()
        if not stripped:
            continue
        if FENCE.match(line):
            info = stripped.lstrip("`~").strip().split()
            # ```python path/to/file.py
            candidate = next((w for w in info if "/" in w or "." in w), None)
            path = _path_like(candidate) if candidate else None
            if path:
                return path
            continue
        return _path_like(stripped)
    return None


def _path_like(raw: str) -> str | None:
    text = raw.strip().strip("*`#").strip()
    text = re.sub(r"^(file(name)?|path)\s*:\s*", "", text, flags=re.IGNORECASE).strip()
    text = text.strip("`*:").strip()
    if not text or len(text) > 300 or re.search(r"\s", text):
        return None
    return text if ("." in text or "/" in text or text in _BARE_FILE_NAMES) else None
