"""Plan files -> RunSpec: YAML, JSON (a RunSpec or the original's RunStartRequest) or Markdown.

The format follows the file's suffix: ``.yaml``/``.yml``, ``.json``, ``.md``/``.markdown``.
Structured plans come in two shapes:

- a RunSpec: ``{"run_id": ..., "tiers": [...], "phases": [...], ...}``;
- the original's ``POST /runs/start`` body, a RunStartRequest:
  ``{"run": {"run_id", "safety_profile", "run_scope", "token_cap", ...}, "tiers": [...],
  "phases": [...]}``, where ``null`` means "use the default".

A plan that names no run id gets one from :func:`~autopack.planning.ids.default_run_id`.
Every failure is a :class:`~autopack.errors.PlanError` that names the file and, where the
format tells, the line, plus the field and how to fix it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from autopack.domain.plan import RunSpec
from autopack.errors import PlanError
from autopack.planning.ids import default_run_id
from autopack.planning.markdown import parse_markdown_plan
from autopack.planning.validation import Loc, Locator, PlanSource, spec_from_data, yaml_locator

#: File suffix -> plan format.
PLAN_FORMATS: dict[str, str] = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".md": "markdown",
    ".markdown": "markdown",
}


def load_plan(path: Path, *, run_id: str | None = None) -> RunSpec:
    """Read the plan file at ``path`` as a validated RunSpec.

    ``run_id`` replaces the plan's own id (``--run-id``). Raises PlanError for a missing or
    unreadable file, an unknown suffix, a syntax error (with its line) and any field that
    breaks the plan contract.
    """
    label = str(path)
    fmt = PLAN_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(PLAN_FORMATS)
        raise PlanError(
            f"{label}: cannot tell the plan format from the suffix "
            f"{path.suffix or '(none)'!r}; rename the file to end in one of {known}",
            path=label,
        )
    text = _read_text(path)
    if fmt == "markdown":
        return parse_markdown_plan(text, source=label, run_id=run_id)
    data = _parse_json(text, label) if fmt == "json" else _parse_yaml(text, label)
    return plan_from_data(
        data, source=label, run_id=run_id, locate=yaml_locator(text), id_seed=(path.stem, text)
    )


def plan_from_data(
    data: Any,
    *,
    source: str = "<plan>",
    run_id: str | None = None,
    locate: Locator | None = None,
    id_seed: tuple[str, str] | None = None,
) -> RunSpec:
    """Validate already-parsed plan data in either structured shape.

    ``source`` labels error messages, ``locate`` maps a location in ``data`` to a line,
    ``run_id`` overrides the plan's id, and ``id_seed`` (a label and the plan text) derives
    an id when the plan has none; without a seed, a plan without an id is an error.
    """
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise PlanError(
            f"{source}: the plan is {kind}; it must be a mapping with 'run_id', "
            "'tiers' and 'phases' (or the original's 'run', 'tiers', 'phases')",
            path=source,
        )
    to_document: Callable[[Loc], Loc] | None
    if _is_run_start_request(data):
        spec_data = _from_run_start_request(data)
        run_keys = frozenset(data["run"])
        to_document = lambda loc: _request_location(loc, run_keys)  # noqa: E731
    else:
        spec_data = dict(data)
        to_document = None
    if run_id is not None:
        spec_data["run_id"] = run_id
    elif spec_data.get("run_id") is None and id_seed is not None:
        name = spec_data.get("name")
        label = name if isinstance(name, str) and name.strip() else id_seed[0]
        spec_data["run_id"] = default_run_id(label, id_seed[1])
    return spec_from_data(
        spec_data, PlanSource(label=source, locate=locate, to_document=to_document)
    )


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PlanError(f"{path}: no such plan file; check the path", path=str(path)) from None
    except IsADirectoryError:
        raise PlanError(
            f"{path} is a directory; give the plan file inside it", path=str(path)
        ) from None
    except OSError as exc:
        raise PlanError(
            f"{path}: cannot read the plan file: {exc.strerror}", path=str(path)
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PlanError(
            f"{path}:{line}: the plan is not valid UTF-8 (byte {exc.start}); save it as UTF-8",
            path=str(path),
            line=line,
        ) from None


def _parse_yaml(text: str, label: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        where = f"{label}:{line}" if line else label
        problem = exc.problem or exc.context or "invalid YAML"
        raise PlanError(
            f"{where}: YAML syntax error: {problem}"
            f"{f' (column {mark.column + 1})' if mark else ''}; fix the YAML "
            "there (check indentation and quoting)",
            path=label,
            line=line,
        ) from None
    except yaml.YAMLError as exc:
        raise PlanError(f"{label}: YAML error: {exc}", path=label) from None


def _parse_json(text: str, label: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"{label}:{exc.lineno}: JSON syntax error: {exc.msg} (column "
            f"{exc.colno}); fix the JSON there",
            path=label,
            line=exc.lineno,
        ) from None


def _is_run_start_request(data: Mapping[str, Any]) -> bool:
    return isinstance(data.get("run"), Mapping) and "run_id" not in data


def _from_run_start_request(data: Mapping[str, Any]) -> dict[str, Any]:
    """The original's request body as RunSpec data; ``null`` fields take the defaults."""
    spec: dict[str, Any] = {k: v for k, v in data["run"].items() if v is not None}
    for key, value in data.items():
        if key == "run":
            continue
        if key in ("tiers", "phases") and isinstance(value, list):
            value = [_drop_nulls(item) for item in value]
        spec[key] = value
    return spec


def _drop_nulls(item: Any) -> Any:
    return {k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item


def _request_location(loc: Loc, run_keys: frozenset[str]) -> Loc:
    """A RunSpec location in a RunStartRequest: the run's fields live under ``run``, flat."""
    if loc and loc[0] == "budgets":
        return ("run", *loc[1:])
    if loc and (loc[0] in run_keys or loc[0] == "run_id"):
        return ("run", *loc)
    return loc
