"""Wording helpers for CLI messages; imports nothing, so any command may use them."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 tier"``, ``"2 tiers"``: a count and its noun in the right number."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
