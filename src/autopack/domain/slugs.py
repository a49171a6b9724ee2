"""Run and phase ids: the one rule for what is a valid id (pure, no pydantic).

Kept apart from :mod:`autopack.domain.plan` so code that only checks an id (a workspace
naming a branch, ``autopack apply``) does not build the plan's pydantic models.
"""

from __future__ import annotations

import re

#: Run and phase ids appear in URLs and git branch names.
SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_slug(value: str) -> str:
    value = value.strip()
    if not SLUG_RE.fullmatch(value) or ".." in value or value.endswith((".", ".lock")):
        raise ValueError(
            f"{value!r} is not a valid id: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '..', not ending in '.' or '.lock')"
        )
    return value
