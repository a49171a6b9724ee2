"""Learned rules across runs: what a resolved failure teaches the next Builder.

When a phase's attempt failed with a classified failure and a later attempt of the same
phase succeeded, the rule that would have prevented the failure is derived without any
model call: the Doctor's hint or the deterministic mitigation's advice when there was
one (that is what fixed it), otherwise a sentence for the failure's class. The rule is
kept for the repository with its scope (the phase's paths, its task category) and its
evidence, and given to later Builder prompts whose phase touches the same paths.

Rules age: a rule's weight is the number of times it was seen and used, halved every
:data:`HALF_LIFE_DAYS` since it was last seen or used; the prompt gets the heaviest
matching ones, and ``prune`` removes those not seen or used for a given number of days.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from autopack.memory.store import content_hash
from autopack.workspace.globs import glob_match_or_parent

HALF_LIFE_DAYS = 30.0
MAX_RULE_CHARS = 400
MAX_EXCERPT_CHARS = 300
#: The most rules one Builder prompt gets.
MAX_RULES_PER_PROMPT = 5

#: What to do, per failure class, when no hint said it better.
CLASS_ADVICE: dict[str, str] = {
    "tests_failed": "run the existing tests in mind: an earlier change here broke tests",
    "collection_error": "keep every module importable: an earlier change here made the "
    "test suite fail to collect (syntax or import error)",
    "apply_no_match": "quote the file's current lines exactly in each edit's old text: an "
    "earlier edit here did not match the file",
    "apply_rejected": "edit only inside the phase's allowed paths and never protected files",
    "output_unparseable": "answer in the edit format exactly (one JSON edit per line)",
    "output_truncated": "keep each answer short: change only what the phase needs",
    "deliverables_missing": "create every deliverable the phase names, at exactly that path",
    "auditor_revise": "address the reviewer's points before finishing: an earlier attempt "
    "here was sent back",
    "environment": "do not rely on tools or packages the project's environment lacks",
    "timeout": "keep tests fast: an earlier change here made the suite time out",
}


@dataclass(frozen=True)
class ResolvedFailure:
    """One failed attempt that a later attempt of the same phase resolved."""

    run_id: str
    phase_id: str
    attempt: int
    failure_kind: str
    error: str
    hint: str
    paths: tuple[str, ...]
    category: str


@dataclass(frozen=True)
class DerivedRule:
    """A rule ready to store: ``rule_key`` identifies it within its repository."""

    rule_key: str
    text: str
    category: str
    failure_kind: str
    paths: tuple[str, ...]
    evidence: dict[str, object]


def _clean(text: str, limit: int) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def derive_rule(failure: ResolvedFailure) -> DerivedRule:
    """The rule that would have prevented ``failure`` (deterministic text)."""
    where = ", ".join(failure.paths) or "this repository"
    advice = _clean(failure.hint, MAX_RULE_CHARS) if failure.hint.strip() else ""
    if not advice:
        advice = CLASS_ADVICE.get(
            failure.failure_kind, f"avoid the earlier {failure.failure_kind or 'failure'}"
        )
    # The advice keeps its case: it may start with an identifier.
    text = f"When changing {where}: {advice}"
    if failure.failure_kind:
        text += f" (learned from a resolved {failure.failure_kind} failure)"
    key = content_hash(f"{failure.category}\n{sorted(failure.paths)}\n{advice.lower()}")[:32]
    return DerivedRule(
        rule_key=key,
        text=text,
        category=failure.category,
        failure_kind=failure.failure_kind,
        paths=tuple(sorted(set(failure.paths))),
        evidence={
            "run_id": failure.run_id,
            "phase_id": failure.phase_id,
            "attempt": failure.attempt,
            "error": _clean(failure.error, MAX_EXCERPT_CHARS),
        },
    )


def paths_overlap(rule_paths: Sequence[str], phase_paths: Sequence[str]) -> bool:
    """Whether a rule scoped to ``rule_paths`` applies to a phase touching ``phase_paths``:
    one contains the other (directory prefixes, ``.gitignore``-style globs) or they name
    the same file. A rule with no paths applies everywhere in its repository."""
    if not rule_paths:
        return True
    for rule_path in rule_paths:
        for phase_path in phase_paths:
            a, b = rule_path.strip("/"), phase_path.strip("/")
            if a == b or _contains(rule_path, b) or _contains(phase_path, a):
                return True
    return False


def _contains(pattern: str, path: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return glob_match_or_parent(path, pattern.lstrip("/"))
    prefix = pattern.strip("/")
    return bool(prefix) and (path == prefix or path.startswith(prefix + "/"))


def category_matches(rule_category: str, phase_category: str) -> bool:
    """A rule of no category (or ``general``) fits every phase; otherwise the same one."""
    return rule_category in ("", "general") or rule_category == phase_category


def weight(times_seen: int, hit_count: int, last_active: datetime, now: datetime) -> float:
    """How much a rule counts now: its evidence and use, halved every HALF_LIFE_DAYS of
    inactivity."""
    age_days = max(0.0, (now - last_active).total_seconds() / 86400)
    decay: float = 0.5 ** (age_days / HALF_LIFE_DAYS)
    return float(times_seen + hit_count) * decay
