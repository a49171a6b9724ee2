"""Path patterns as ``.gitignore`` writes them: ``*`` stays inside one directory.

- ``*`` matches any run of characters except ``/``; ``?`` one character except ``/``;
  ``[abc]``, ``[a-z]`` and ``[!abc]`` one character of (not of) a set, never ``/``.
- ``**`` as a whole path segment crosses directories: ``**/x`` is ``x`` at any depth,
  ``a/**/b`` is ``b`` anywhere below ``a`` (``a/b`` too), ``a/**`` everything below ``a``.
  Elsewhere (``a**b``) it is an ordinary ``*``, as in git.

Python's :func:`fnmatch.fnmatchcase` lets ``*`` cross ``/``, so ``src/*.py`` would also
match ``src/vendor/lib/x.py``: a scope written for one directory would open its whole
subtree. Every scope and protected-path pattern goes through :func:`glob_match` instead.
"""

from __future__ import annotations

import re
from functools import lru_cache

GLOB_CHARS = frozenset("*?[")


def has_glob(pattern: str) -> bool:
    """Whether ``pattern`` has a wildcard (``*``, ``?`` or ``[``)."""
    return any(c in GLOB_CHARS for c in pattern)


def glob_match(path: str, pattern: str, *, ignore_case: bool = False) -> bool:
    """Whether the ``/``-separated relative ``path`` matches ``pattern`` as a whole."""
    return _compile(pattern, ignore_case).match(path) is not None


def glob_match_or_parent(path: str, pattern: str, *, ignore_case: bool = False) -> bool:
    """Whether ``path`` or one of its parent directories matches ``pattern`` (a matched
    directory holds everything below it, as in ``.gitignore``)."""
    parts = path.split("/")
    regex = _compile(pattern, ignore_case)
    return any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1))


@lru_cache(maxsize=1024)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            end = i + 2
            starts_segment = i == 0 or pattern[i - 1] == "/"
            if starts_segment and end < n and pattern[end] == "/":
                out.append("(?:[^/]+/)*")  # zero or more whole directories
                i = end + 1
                continue
            if starts_segment and end == n:
                out.append(".*")
                i = end
                continue
            out.append("[^/]*")
            i = end
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            # A "]" right after "[" (or "[!") belongs to the set, as in fnmatch.
            start = i + 1 + (pattern[i + 1 : i + 2] == "!")
            close = pattern.find("]", start + 1)
            if close == -1:
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1 : close]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[^/{body}]" if negate else f"(?!/)[{body}]")
            i = close + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE if ignore_case else 0)
