"""Counting words, characters and lines."""

from __future__ import annotations

import re

# A word is a run of letters or digits, with inner apostrophes ("don't", "o'clock").
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, in order."""
    return [match.group(0).lower() for match in _WORD.finditer(text)]


def word_count(text: str) -> int:
    """How many words ``text`` has."""
    return len(words(text))


def char_count(text: str, *, spaces: bool = True) -> int:
    """How many characters ``text`` has; with ``spaces=False``, whitespace is not counted."""
    if spaces:
        return len(text)
    return sum(1 for ch in text if not ch.isspace())


def line_count(text: str) -> int:
    """How many lines ``text`` has; a final newline does not start a new line."""
    return len(text.splitlines())
