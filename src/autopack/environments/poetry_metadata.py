"""Poetry's dependency tables as PEP 508 requirements, for when poetry itself is absent.

A poetry project keeps its test dependencies in ``[tool.poetry.group.<name>.dependencies]``
(or the older ``[tool.poetry.dev-dependencies]``), and an older one its runtime ones in
``[tool.poetry.dependencies]`` instead of PEP 621's ``[project]``. Without poetry on the
machine, uv installs from the metadata, which would leave all of those out: python-poetry/
cleo's pytest-mock is in its ``dev`` group, so 15 of its tests errored in every baseline
and were never judged. :func:`poetry_requirements` turns those tables into requirement
lines uv installs with the rest.

Poetry's constraint syntax is translated by its documented rules (``^``, ``~``, ``*``,
bare versions, wildcards, comma-separated ranges). What has no PEP 508 spelling (``||``
alternatives, path/git/url sources) is reported, not guessed.
"""

from __future__ import annotations

import re
from typing import Any

_OPERATOR = re.compile(r"^(?:===|==|!=|<=|>=|~=|<|>)")


def poetry_requirements(
    pyproject: dict[str, Any], groups: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """(requirement lines, notes) for the poetry tables uv would otherwise miss: the
    runtime dependencies when ``[project]`` declares none, the old dev-dependencies, and
    the named ``groups``."""
    poetry = pyproject.get("tool", {}).get("poetry", {})
    if not isinstance(poetry, dict):
        return [], []
    tables: list[tuple[str, Any]] = []
    if not pyproject.get("project", {}).get("dependencies"):
        tables.append(("dependencies", poetry.get("dependencies", {})))
    tables.append(("dev-dependencies", poetry.get("dev-dependencies", {})))
    declared = poetry.get("group", {})
    for group in groups:
        if isinstance(declared, dict) and group in declared:
            tables.append((f"group {group}", declared[group].get("dependencies", {})))
    lines: list[str] = []
    notes: list[str] = []
    for where, table in tables:
        if not isinstance(table, dict):
            continue
        for name, spec in table.items():
            if name.lower() == "python":
                continue
            line, problem = _requirement(name, spec)
            if problem:
                notes.append(f"poetry {where}: {name} left out ({problem})")
            elif line:
                lines.append(line)
    return lines, notes


def _requirement(name: str, spec: Any) -> tuple[str, str]:
    """One requirement line for a poetry dependency, or ("", why not)."""
    if isinstance(spec, list):
        spec = spec[0] if spec else "*"  # several constraints by marker: take the first
    extras = ""
    marker = ""
    if isinstance(spec, dict):
        for source in ("path", "git", "url"):
            if source in spec:
                return "", f"a {source} dependency"
        if spec.get("optional"):
            return "", ""  # an extra's dependency: not installed unless the extra is
        if spec.get("extras"):
            extras = "[" + ",".join(str(e) for e in spec["extras"]) + "]"
        if spec.get("markers"):
            marker = f"; {spec['markers']}"
        spec = spec.get("version", "*")
    try:
        constraint = poetry_constraint(str(spec))
    except ValueError as exc:
        return "", str(exc)
    return f"{name}{extras}{constraint}{marker}", ""


def poetry_constraint(text: str) -> str:
    """A poetry version constraint in PEP 440: ``^1.2`` -> ``>=1.2,<2.0``."""
    text = text.strip()
    if "||" in text or "|" in text:
        raise ValueError(f"the constraint {text!r} has alternatives")
    parts = [p.strip() for p in re.split(r",|\s+(?=[<>=!~^])", text) if p.strip()]
    out: list[str] = []
    for part in parts:
        if part in ("*", ""):
            continue
        if part.startswith("^"):
            out += _caret(part[1:].strip())
        elif part.startswith("~") and not part.startswith("~="):
            out += _tilde(part[1:].strip())
        elif _OPERATOR.match(part):
            out.append(part.replace(" ", ""))
        elif re.match(r"^\d", part):
            out.append(f"=={part}")
        else:
            raise ValueError(f"the constraint {part!r} is not poetry's syntax")
    return ",".join(out)


def _numbers(version: str) -> list[int]:
    match = re.match(r"^(\d+(?:\.\d+)*)", version)
    if not match:
        raise ValueError(f"the version {version!r} does not start with a number")
    return [int(n) for n in match.group(1).split(".")]


def _caret(version: str) -> list[str]:
    """``^1.2.3`` -> <2.0.0, ``^0.2.3`` -> <0.3.0, ``^0.0.3`` -> <0.0.4, ``^0`` -> <1."""
    numbers = _numbers(version)
    first = next((i for i, n in enumerate(numbers) if n != 0), len(numbers) - 1)
    upper = [*numbers[:first], numbers[first] + 1] + [0] * (len(numbers) - first - 1)
    return [f">={version}", "<" + ".".join(str(n) for n in upper)]


def _tilde(version: str) -> list[str]:
    """``~1.2.3`` -> <1.3.0, ``~1.2`` -> <1.3, ``~1`` -> <2."""
    numbers = _numbers(version)
    at = 1 if len(numbers) > 1 else 0
    upper = [*numbers[:at], numbers[at] + 1] + [0] * (len(numbers) - at - 1)
    return [f">={version}", "<" + ".".join(str(n) for n in upper)]
