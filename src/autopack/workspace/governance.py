"""The governance policy: how risky a change to a path is, as a table of rules.

A Builder that needs to change a protected path asks (a governance request); each path it
names is classed by the first rule that matches, in this order:

1. :data:`CRITICAL_RULES` plus the project's ``governance.critical`` patterns -> refused.
   A rule may also require the file's current text to match (a CI workflow is critical
   when it uses secrets). Nothing in a project's configuration removes a critical rule.
2. Not protected at all -> no request was needed (recorded as ``unprotected``).
3. ``governance.low_risk`` (default :data:`DEFAULT_LOW_RISK`: tests and docs) -> approved
   automatically (unless ``auto_approve_low_risk: false``: then a person decides).
4. Any other protected path -> a person decides.

Patterns follow the protected-path rules of :mod:`autopack.workspace.guards` (``name/``
a directory at any depth, a pattern without ``/`` any path component, one with ``/``
from the root). The project's tuning lives in ``.autopack.yaml``::

    governance:
      critical: [migrations/]          # added to the built-in critical list
      low_risk: [tests/, "*.md"]       # replaces the default low-risk list
      auto_approve_low_risk: true
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from autopack.domain.governance import Risk
from autopack.errors import ValidationError
from autopack.workspace.guards import PROJECT_FILE, normalize_path, protected_by


@dataclass(frozen=True)
class RiskRule:
    """Paths matching ``patterns`` (and, with ``contains``, whose current text matches
    that regular expression) are of ``risk``; ``why`` is told to the Builder."""

    risk: Risk
    patterns: tuple[str, ...]
    why: str
    contains: str | None = None


#: Never changed by a run, whoever asks. A project can add to this, never take away.
CRITICAL_RULES: tuple[RiskRule, ...] = (
    RiskRule(Risk.CRITICAL, (".git/",), "git's own data"),
    RiskRule(
        Risk.CRITICAL,
        ("/.autopack.yaml",),
        "Autopack's own configuration for this repository (it holds the guards themselves)",
    ),
    RiskRule(Risk.CRITICAL, (".env", ".env.*"), "environment files hold secrets"),
    # Named secret stores only: a module called secrets.py (Python's own stdlib has one)
    # is code, and real projects change it.
    RiskRule(
        Risk.CRITICAL,
        ("secrets.yaml", "secrets.yml", "secrets.json", "secrets.toml", ".secrets", ".secrets.*"),
        "secret files",
    ),
    RiskRule(
        Risk.CRITICAL,
        (".github/workflows/",),
        "a CI workflow that uses secrets",
        contains=r"\$\{\{\s*secrets\.",
    ),
)
#: Protected paths a run may change after asking, without waiting for a person.
DEFAULT_LOW_RISK: tuple[str, ...] = (
    "tests/",
    "test/",
    "test_*.py",
    "*_test.py",
    "conftest.py",
    "docs/",
    "*.md",
    "*.rst",
)


class GovernanceConfig(BaseModel):
    """The ``governance:`` section of ``.autopack.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    critical: tuple[str, ...] = Field(
        default=(), description="Added to the built-in critical list (e.g. migrations/)."
    )
    low_risk: tuple[str, ...] = Field(
        default=DEFAULT_LOW_RISK,
        description="Protected paths approved automatically when asked for; replaces the "
        "default list (tests and docs). Critical paths stay critical.",
    )
    auto_approve_low_risk: bool = True

    def rules(self) -> tuple[RiskRule, ...]:
        """The table, in the order it is read."""
        project = (
            (RiskRule(Risk.CRITICAL, self.critical, "the project marks it critical"),)
            if self.critical
            else ()
        )
        return (*CRITICAL_RULES, *project)

    def critical_patterns(self) -> tuple[str, ...]:
        """Critical patterns that hold whatever the file says (for the apply guard)."""
        return tuple(p for r in self.rules() if r.contains is None for p in r.patterns)


@dataclass(frozen=True)
class Classification:
    """One requested path, classed: its risk, the pattern that decided it, and why."""

    path: str
    risk: Risk
    pattern: str | None
    why: str


#: Reads a path's current text (None: no such file, or unreadable).
TextReader = Callable[[str], str | None]


def worktree_reader(root: Path) -> TextReader:
    """A :data:`TextReader` over the files of ``root`` (at most 1 MB each)."""

    def read(rel: str) -> str | None:
        path = root / rel
        try:
            if not path.is_file() or path.stat().st_size > 1_000_000:
                return None
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    return read


def _critical(rel: str, config: GovernanceConfig, read: TextReader) -> Classification | None:
    for rule in config.rules():
        pattern = protected_by(rel, rule.patterns)
        if pattern is None:
            continue
        if rule.contains is not None:
            text = read(rel)
            if text is None or not re.search(rule.contains, text):
                continue
        return Classification(rel, Risk.CRITICAL, pattern, rule.why)
    return None


def classify(
    raw: str, *, protected: Sequence[str], config: GovernanceConfig, read: TextReader
) -> Classification:
    """Class one requested path (see the module docstring for the order)."""
    rel = normalize_path(raw)
    if not isinstance(rel, str):
        return Classification(raw, Risk.CRITICAL, None, f"not a usable path: {rel.message}")
    critical = _critical(rel, config, read)
    if critical is not None:
        return critical
    guard = protected_by(rel, tuple(protected))
    if guard is None:
        return Classification(rel, Risk.UNPROTECTED, None, "not protected; no request needed")
    low = protected_by(rel, config.low_risk)
    if low is not None and config.auto_approve_low_risk:
        return Classification(rel, Risk.LOW, low, f"low risk ({low!r}: tests and docs)")
    return Classification(rel, Risk.PERSON, guard, f"protected by {guard!r}; a person decides")


def critical_among(
    paths: Iterable[str], config: GovernanceConfig, read: TextReader
) -> tuple[str, ...]:
    """The paths among ``paths`` that are critical (content rules included), as root
    anchored patterns for the apply guard: they are refused even when nobody asked."""
    hits: list[str] = []
    for raw in paths:
        rel = normalize_path(raw)
        if isinstance(rel, str) and _critical(rel, config, read) is not None:
            hits.append("/" + rel)
    return tuple(dict.fromkeys(hits))


def project_governance(root: Path) -> GovernanceConfig:
    """The ``governance:`` section of ``root``'s ``.autopack.yaml`` (none: the defaults).

    A section that cannot be read is an error, never the defaults: a typo must not
    silently change who decides.
    """
    path = root / PROJECT_FILE
    if not path.is_file():
        return GovernanceConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(
            f"{path} cannot be read ({exc}); fix it so its governance section applies",
            field="governance",
        ) from exc
    section = data.get("governance") if isinstance(data, dict) else None
    if section is None:
        return GovernanceConfig()
    try:
        return GovernanceConfig.model_validate(section)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"governance.{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors(include_url=False)[:5]
        )
        raise ValidationError(
            f"{path}: {problems} (keys: critical, low_risk: lists of path patterns; "
            "auto_approve_low_risk: true/false)",
            field="governance",
        ) from None
