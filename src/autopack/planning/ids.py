"""Ids a plan did not state: slugs from text, made unique, and a run id derived from a file.

Every id made here satisfies :data:`autopack.domain.plan.SLUG_RE`, so it is valid in URLs
and git branch names.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Container

_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, *, max_length: int = 48) -> str:
    """Lower-case ASCII words of ``text`` joined by ``-``, cut at a word boundary.

    Returns ``""`` when ``text`` has no ASCII letters or digits; callers supply a fallback.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[:max_length]
        # Prefer ending on a whole word; a single overlong word is cut where it must be.
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug


def unique_slug(base: str, taken: Container[str]) -> str:
    """``base``, or ``base-2``, ``base-3``, ... : the first one not in ``taken``."""
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def default_run_id(label: str, content: str) -> str:
    """A run id for a plan that names none: a slug of ``label`` plus a hash of the plan text.

    The same plan text always gets the same id (so re-running an unchanged plan resumes
    its run), and an edited plan gets a new one.
    """
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:8]
    return f"{slugify(label, max_length=40) or 'plan'}-{digest}"
