"""Markdown plans: a plan a person can write in a text editor, read as a RunSpec.

::

    # Add reading statistics [id:textstats-stats] [verify:python -m pytest -q]

    Give textstats word frequencies and a reading-time estimate.   <- goal (first paragraph)

    ## Core [id:T1]                                                 <- a tier
    Optional text under a heading describes the tier.

    - Add word_frequencies() [complexity:low] [paths:textstats/,tests/]   <- a phase
      [deliverables:textstats/freq.py::word_frequencies,tests/test_freq.py]
      - counts are case-insensitive                                 <- acceptance criteria
      - punctuation is not part of a word
    1. Add reading_time() [id:reading-time] [tests:python -m pytest -q]

Rules:

- ``#`` is the run's name; ``[id:...]``, ``[verify:CMD]`` and ``[protected:a,b]`` on it set
  the run id, the run-level test command and protected paths. ``[setup:CMD]`` (one command
  per tag, run in order) and ``[env:NAME=VALUE]`` (one variable per tag) prepare the run's
  environment; ``[baseline:allow_failing]`` lets a plan that repairs a broken suite start
  from it. The first paragraph before the first ``##`` is the goal.
- ``##`` headings are tiers: the name is the heading text, the id its ``[id:...]`` tag or a
  slug of the text. ``###`` and deeper headings are ignored (group phases for readers).
- List items (``-``, ``*``, ``+``, ``1.``, ``1)``; a ``[ ]`` checkbox is dropped) are phases.
  Indented list items under a phase are its acceptance criteria, and indented plain lines
  continue the item above. Tags anywhere in a phase's text or criteria set its fields:
  ``[id:...]`` ``[complexity:low|medium|high]`` ``[category:...]`` ``[mode:...]``
  ``[paths:a/,b]`` ``[read_only:docs/]`` ``[deliverables:a.py,b.py::symbol]``
  ``[protected:...]`` (lists are comma-separated, repeated tags add up) and ``[tests:CMD]``
  (one command per tag). ``[mode:verify]`` makes the phase a check (``mode: verify``;
  ``[mode:build]`` is the default); any other ``[mode:...]`` value is the Builder's mode
  (``builder_mode``), as before. The flags ``[optional]`` and ``[allow_test_removal]``
  (also spelled with ``-``) set those phase fields. The phase's description is its text
  without tags; its name is that text, shortened; its id is a slug of it, unique in the run.
- Square brackets holding ``word:`` are tags, and an unknown tag is an error (a typo never
  passes silently); ``[ ]``, ``[x]`` and ``[links](...)`` are not tags.
- A plan with no ``##`` heading is one tier. Code fences and HTML comment lines are ignored.

Defaults are the RunSpec's: complexity medium, category feature.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from autopack.domain.plan import RunSpec
from autopack.errors import PlanError
from autopack.planning.ids import default_run_id, slugify, unique_slug
from autopack.planning.validation import Loc, PlanSource, spec_from_data

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,9}[.)])\s+(.*)$")
_RULE = re.compile(r"^\s*([-*_])(?:\s*\1){2,}\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_TAG = re.compile(r"\[([A-Za-z_][A-Za-z0-9_-]*):([^\[\]]*)\]")
#: Phase flags: a bare word in brackets, only these (other bracketed words stay text).
_FLAG = re.compile(r"\[(optional|allow[_-]test[_-]removal)\]", re.IGNORECASE)
_PHASE_MODES = frozenset({"build", "verify"})
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+")
_COMMENT = re.compile(r"^\s*<!--.*-->\s*$")

_LIST_TAGS = {
    "paths": "paths",
    "read_only": "read_only_context",
    "deliverables": "deliverables",
    "protected": "protected_paths",
}
_SCALAR_TAGS = {
    "id": "phase_id",
    "complexity": "complexity",
    "category": "task_category",
    "mode": "builder_mode",
}
PHASE_TAGS = frozenset({*_LIST_TAGS, *_SCALAR_TAGS, "tests"})
TITLE_TAGS = frozenset({"id", "verify", "protected", "setup", "env", "baseline"})
#: Title tags that may be repeated; each one adds an entry.
_REPEATED_TITLE_TAGS = frozenset({"protected", "setup", "env"})
TIER_TAGS = frozenset({"id"})
_NAME_LIMIT = 80


@dataclass
class _Phase:
    line: int
    indent: int
    tier: int | None
    text: list[str] = field(default_factory=list)
    criteria: list[str] = field(default_factory=list)
    fields: dict[str, str | bool] = field(default_factory=dict)
    scope: dict[str, list[str]] = field(default_factory=dict)
    last_was_criterion: bool = False


@dataclass
class _Tier:
    line: int
    name: str
    tier_id: str | None
    description: list[str] = field(default_factory=list)


@dataclass
class _Document:
    source: str
    title: str | None = None
    title_line: int = 1
    title_tags: dict[str, str] = field(default_factory=dict)
    protected: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    goal: str | None = None
    tiers: list[_Tier] = field(default_factory=list)
    phases: list[_Phase] = field(default_factory=list)

    def error(self, line: int, message: str, *, field: str | None = None) -> PlanError:
        return PlanError(
            f"{self.source}:{line}: {message}", field=field, path=self.source, line=line
        )


def parse_markdown_plan(
    text: str, *, source: str = "<markdown>", run_id: str | None = None
) -> RunSpec:
    """Read a Markdown plan (see the module docstring) as a validated RunSpec.

    ``run_id`` wins over an ``[id:...]`` tag on the title; with neither, the id is a slug
    of the title (or of ``source``) plus a hash of the text. Errors are PlanErrors whose
    message starts ``SOURCE:LINE:``.
    """
    doc = _Document(source=source)
    _read_lines(doc, text.splitlines())
    if doc.tiers:
        stray = next((p for p in doc.phases if p.tier is None), None)
        if stray is not None:
            raise doc.error(
                stray.line,
                "this list item comes before the first '##' tier "
                "heading; move it under a tier, or drop the '##' headings to "
                "make a one-tier plan",
            )
    data, lines = _to_data(doc, text, run_id)

    def locate(loc: Loc) -> int | None:
        for end in range(len(loc), -1, -1):
            if loc[:end] in lines:
                return lines[loc[:end]]
        return None

    return spec_from_data(data, PlanSource(label=source, locate=locate))


def _read_lines(doc: _Document, raw_lines: list[str]) -> None:
    current: _Phase | None = None
    paragraph: list[str] = []
    in_fence = False
    after_blank = False

    def flush_paragraph() -> None:
        if not paragraph:
            return
        prose = " ".join(paragraph)
        if doc.tiers:
            doc.tiers[-1].description.append(prose)
        elif doc.goal is None:
            doc.goal = prose
        paragraph.clear()

    for number, raw in enumerate(raw_lines, start=1):
        line = raw.expandtabs(4).rstrip()
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence or _COMMENT.match(line):
            continue
        if not line.strip():
            flush_paragraph()
            after_blank = True
            continue
        follows_blank, after_blank = after_blank, False
        heading = _HEADING.match(line)
        if heading:
            flush_paragraph()
            current = None
            _read_heading(doc, number, len(heading.group(1)), heading.group(2))
            continue
        if _RULE.match(line):
            flush_paragraph()
            current = None
            continue
        item = _ITEM.match(line)
        if item:
            flush_paragraph()
            indent, body = len(item.group(1)), _CHECKBOX.sub("", item.group(2))
            if current is not None and indent > current.indent:
                _add_text(doc, current, number, body, criterion=True)
            else:
                tier = len(doc.tiers) - 1 if doc.tiers else None
                current = _Phase(line=number, indent=indent, tier=tier)
                doc.phases.append(current)
                _add_text(doc, current, number, body, criterion=False)
            continue
        if current is not None and (line[:1].isspace() or not follows_blank):
            # Continues the item above: indented, or a lazy continuation with no blank line.
            _add_text(doc, current, number, line.strip(), criterion=None)
            continue
        current = None
        paragraph.append(line.strip())
    flush_paragraph()


def _read_heading(doc: _Document, number: int, level: int, raw: str) -> None:
    if level >= 3:
        return
    text, tags = _split_tags(
        doc,
        number,
        raw,
        TITLE_TAGS if level == 1 else TIER_TAGS,
        "the '#' title" if level == 1 else "a '##' tier heading",
    )
    if level == 1:
        if doc.title is not None or doc.tiers:
            raise doc.error(
                number,
                "a plan has one '#' title, before its '##' tiers; make "
                "this heading '##' (a tier) or '###' (ignored)",
            )
        doc.title, doc.title_line = text, number
        for key, value in tags:
            if key in _REPEATED_TITLE_TAGS:
                _add_title_entry(doc, number, key, value)
            elif key in doc.title_tags:
                raise doc.error(number, f"the {key!r} tag is given twice on the title; keep one")
            else:
                doc.title_tags[key] = value.strip()
        return
    if not text:
        raise doc.error(
            number, "a tier heading needs a name, e.g. '## Core', with an optional id tag"
        )
    ids = [value.strip() for _, value in tags]
    if len(ids) > 1:
        raise doc.error(number, "the 'id' tag is given twice on this tier heading; keep one")
    doc.tiers.append(_Tier(line=number, name=text, tier_id=ids[0] if ids else None))


def _add_title_entry(doc: _Document, number: int, key: str, value: str) -> None:
    """A repeatable title tag: a protected path list, a setup command or a variable."""
    if key == "protected":
        doc.protected.extend(_split_list(value))
    elif key == "setup":
        if not value.strip():
            raise doc.error(number, "a [setup:] tag needs a command, e.g. [setup:make generate]")
        doc.setup.append(value.strip())
    else:
        name, equals, text = value.partition("=")
        name = name.strip()
        if not equals or not name:
            raise doc.error(
                number, f"[env:{value}] needs NAME=VALUE, e.g. [env:DJANGO_SETTINGS=app.test]"
            )
        if name in doc.env:
            raise doc.error(number, f"the variable {name!r} is set twice on the title; keep one")
        doc.env[name] = text.strip()


def _add_text(
    doc: _Document, phase: _Phase, number: int, raw: str, *, criterion: bool | None
) -> None:
    """Add a phase line, a criterion, or (``criterion=None``) a continuation line."""
    for flag in _FLAG.findall(raw):
        phase.fields[flag.lower().replace("-", "_")] = True
    raw = _FLAG.sub(" ", raw)
    text, tags = _split_tags(doc, number, raw, PHASE_TAGS, "a phase")
    for key, value in tags:
        if key == "mode" and value.strip().lower() in _PHASE_MODES:
            if "mode" in phase.fields:
                raise doc.error(
                    number,
                    f"the 'mode' tag is given twice for the phase that "
                    f"starts on line {phase.line}; keep one",
                )
            phase.fields["mode"] = value.strip().lower()
        elif key in _LIST_TAGS:
            phase.scope.setdefault(_LIST_TAGS[key], []).extend(_split_list(value))
        elif key == "tests":
            if value.strip():
                phase.scope.setdefault("tests", []).append(value.strip())
        else:
            target = _SCALAR_TAGS[key]
            if target in phase.fields:
                raise doc.error(
                    number,
                    f"the {key!r} tag is given twice for the phase that "
                    f"starts on line {phase.line}; keep one",
                )
            phase.fields[target] = value.strip()
    if criterion is None:
        criterion = phase.last_was_criterion
        if text and criterion:
            phase.criteria[-1] = f"{phase.criteria[-1]} {text}"
        elif text:
            phase.text.append(text)
        return
    phase.last_was_criterion = criterion
    if text and criterion:
        phase.criteria.append(text)
    elif text:
        phase.text.append(text)
    elif criterion:
        phase.last_was_criterion = False  # a tags-only line: nothing to continue


def _split_tags(
    doc: _Document, number: int, raw: str, allowed: frozenset[str], where: str
) -> tuple[str, list[tuple[str, str]]]:
    tags: list[tuple[str, str]] = []
    for match in _TAG.finditer(raw):
        key = match.group(1).lower().replace("-", "_")
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            known = ", ".join(sorted(allowed))
            raise doc.error(
                number,
                f"unknown tag {match.group(1)!r} on {where}; {hint}tags allowed here: {known}",
            )
        tags.append((key, match.group(2)))
    text = " ".join(_TAG.sub(" ", raw).split())
    return text, tags


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _short_name(description: str) -> str:
    if len(description) <= _NAME_LIMIT:
        return description
    sentence = re.split(r"(?<=[.!?])\s", description, maxsplit=1)[0]
    if len(sentence) <= _NAME_LIMIT:
        return sentence
    return description[: _NAME_LIMIT - 3].rsplit(" ", 1)[0] + "..."


def _to_data(
    doc: _Document, text: str, run_id: str | None
) -> tuple[dict[str, Any], dict[Loc, int]]:
    lines: dict[Loc, int] = {(): doc.title_line}
    label = doc.title or PurePath(doc.source).stem
    data: dict[str, Any] = {
        "run_id": run_id or doc.title_tags.get("id") or default_run_id(label, text),
    }
    lines[("run_id",)] = doc.title_line
    if doc.title:
        data["name"] = doc.title
    if doc.goal:
        data["goal"] = doc.goal
    if "verify" in doc.title_tags:
        data["verify"] = doc.title_tags["verify"]
    if doc.protected:
        data["protected_paths"] = doc.protected
    if doc.setup:
        data["setup"] = doc.setup
    if doc.env:
        data["env"] = doc.env
    if "baseline" in doc.title_tags:
        data["baseline"] = doc.title_tags["baseline"]

    tier_ids: list[str] = []
    explicit_tiers = {t.tier_id for t in doc.tiers if t.tier_id}
    for index, tier in enumerate(doc.tiers):
        if tier.tier_id is not None and tier.tier_id in tier_ids:
            raise doc.error(
                tier.line,
                f"tier id {tier.tier_id!r} is used twice; give each tier its own id tag",
                field=f"tiers[{index}].tier_id",
            )
        tier_id = tier.tier_id or unique_slug(
            slugify(tier.name) or f"T{index + 1}", {*tier_ids, *explicit_tiers}
        )
        tier_ids.append(tier_id)
        lines[("tiers", index)] = tier.line
    data["tiers"] = [
        {"tier_id": tier_id, "name": tier.name, "description": "\n\n".join(tier.description)}
        for tier_id, tier in zip(tier_ids, doc.tiers, strict=True)
    ]

    explicit: dict[str, int] = {}
    for phase in doc.phases:
        given = phase.fields.get("phase_id")
        if isinstance(given, str):
            if given in explicit:
                raise doc.error(
                    phase.line,
                    f"phase id {given!r} is already used on line "
                    f"{explicit[given]}; phase ids are unique in a run",
                    field=f"phases[{doc.phases.index(phase)}].phase_id",
                )
            explicit[given] = phase.line
    taken: set[str] = set(explicit)
    phases: list[dict[str, Any]] = []
    for index, phase in enumerate(doc.phases):
        description = " ".join(phase.text)
        if not description:
            raise doc.error(
                phase.line,
                "this phase has tags but no text; say what the "
                "phase should do, e.g. '- Add a CLI' before the tags",
            )
        item: dict[str, Any] = {"name": _short_name(description), "description": description}
        item.update(phase.fields)
        if "phase_id" not in item:
            item["phase_id"] = unique_slug(slugify(description) or f"phase-{index + 1}", taken)
            taken.add(item["phase_id"])
        if phase.tier is not None:
            item["tier_id"] = tier_ids[phase.tier]
        scope: dict[str, Any] = dict(phase.scope)
        if phase.criteria:
            scope["acceptance_criteria"] = phase.criteria
        if scope:
            item["scope"] = scope
        phases.append(item)
        lines[("phases", index)] = phase.line
    data["phases"] = phases
    return data, lines
