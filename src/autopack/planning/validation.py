"""Plan data -> RunSpec, with errors a plan author can act on.

Pydantic reports a failure as a location tuple such as ``("phases", 1, "complexity")``.
A person editing a plan needs the file, the line and what to change, so every failure
leaves here as one :class:`~autopack.errors.PlanError` whose message lists each problem as
``FILE:LINE: FIELD: PROBLEM`` (the line when the source format can tell it), whose
``field`` names the first problem's field, and whose context carries ``path`` and ``line``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pydantic
import yaml

from autopack.domain.plan import PhaseBudgets, PhaseSpec, RunBudgets, RunSpec, Scope
from autopack.errors import PlanError
from autopack.workspace.git_cli import is_repository

#: A location inside plan data: keys and list indexes, outermost first.
Loc = tuple[str | int, ...]
#: Maps a location in the document to its 1-based line, or None when unknown.
Locator = Callable[[Loc], int | None]

_FIELD_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Models whose fields may also be written one level up (the original's flat shapes).
_FLATTENED: dict[type[pydantic.BaseModel], tuple[type[pydantic.BaseModel], ...]] = {
    PhaseSpec: (Scope, PhaseBudgets),
    RunSpec: (RunBudgets,),
}


@dataclass(frozen=True)
class PlanSource:
    """Where plan data came from, for error messages.

    ``label`` is the file name shown to people; ``locate`` finds a location's line;
    ``to_document`` maps a RunSpec location to the location in the document's own shape
    (the original's ``RunStartRequest`` keeps run fields under ``run``).
    """

    label: str = "<plan>"
    locate: Locator | None = None
    to_document: Callable[[Loc], Loc] | None = None

    def where(self, loc: Loc) -> tuple[str, int | None]:
        """The ``FILE:LINE`` prefix of a message about ``loc``, and the line."""
        doc_loc = self.to_document(loc) if self.to_document else loc
        line = self.locate(doc_loc) if self.locate else None
        return (f"{self.label}:{line}" if line else self.label), line

    def field_name(self, loc: Loc) -> str:
        """``loc`` as the author wrote it, e.g. ``phases[1].scope.paths[0]``."""
        return format_loc(self.to_document(loc) if self.to_document else loc)


def format_loc(loc: Loc) -> str:
    """``("phases", 1, "name")`` -> ``"phases[1].name"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_loc(field: str) -> Loc:
    """The inverse of :func:`format_loc`."""
    return tuple(int(index) if index else name for name, index in _FIELD_PART.findall(field))


def spec_from_data(data: Mapping[str, Any], source: PlanSource) -> RunSpec:
    """Validate RunSpec-shaped ``data``; every failure becomes one located PlanError.

    Besides the RunSpec contract, every plan path must stay inside the repository
    (:func:`check_plan_paths`)."""
    try:
        spec = RunSpec.model_validate(dict(data))
        check_plan_paths(spec)
        return spec
    except pydantic.ValidationError as exc:
        raise _from_pydantic(exc, source) from None
    except PlanError as exc:
        # RunSpec's own cross-field checks (tier references, unique ids) name a field.
        loc = parse_loc(exc.field) if exc.field else ()
        prefix, line = source.where(loc)
        raise PlanError(
            f"{prefix}: {exc.message}", field=exc.field, path=source.label, line=line
        ) from None


def yaml_locator(text: str) -> Locator | None:
    """A locator over YAML (or JSON) text, or None when the text does not compose.

    A location the document does not spell out (a field left to its default, or a scope
    field written flat on the phase) resolves to the line of its nearest enclosing node.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if root is None:
        return None

    def locate(loc: Loc) -> int | None:
        node: yaml.Node = root
        line = node.start_mark.line + 1
        for part in loc:
            child = _child(node, part)
            if child is None:
                if part in ("scope", "budgets"):
                    continue  # legacy flat shape: the field sits on the parent itself
                break
            key_line, node = child
            line = key_line
        return line

    return locate


def _child(node: yaml.Node, part: str | int) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return key.start_mark.line + 1, value
    if (
        isinstance(node, yaml.SequenceNode)
        and isinstance(part, int)
        and 0 <= part < len(node.value)
    ):
        item: yaml.Node = node.value[part]
        return item.start_mark.line + 1, item
    return None


def _from_pydantic(exc: pydantic.ValidationError, source: PlanSource) -> PlanError:
    problems: list[str] = []
    first_field: str | None = None
    first_line: int | None = None
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        prefix, line = source.where(loc)
        field = source.field_name(loc)
        if first_field is None:
            first_field, first_line = field, line
        problems.append(f"{prefix}: {field or '(plan)'}: {_explain(err, loc)}")
    if len(problems) == 1:
        message = problems[0]
    else:
        lines = "\n".join(f"  {p}" for p in problems)
        message = f"{source.label}: {len(problems)} problems in the plan:\n{lines}"
    return PlanError(message, field=first_field, path=source.label, line=first_line)


def _explain(err: Mapping[str, Any], loc: Loc) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required field is missing; add it"
    if kind == "extra_forbidden":
        known = _known_fields(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1) if loc else []
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown field; {hint}remove it or fix its spelling"
    message = str(err["msg"]).removeprefix("Value error, ")
    value = err.get("input")
    if isinstance(value, str | int | float):
        shown = repr(value)
        message += f" (got {shown[:60] + '...' if len(shown) > 60 else shown})"
    return message


def _known_fields(loc: Loc) -> list[str]:
    """Field names accepted at ``loc`` (a location of a model inside a RunSpec)."""
    model: type[pydantic.BaseModel] = RunSpec
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        nested = _model_in(info.annotation) if info else None
        if nested is None:
            for flat in _FLATTENED.get(model, ()):
                if part in flat.model_fields:
                    nested = _model_in(flat.model_fields[part].annotation)
        if nested is None:
            return []
        model = nested
    names = list(model.model_fields)
    for flat in _FLATTENED.get(model, ()):
        names.extend(flat.model_fields)
    return names


def _model_in(annotation: Any) -> type[pydantic.BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def plan_paths(spec: RunSpec) -> Iterator[tuple[str, str]]:
    """Every repository path a plan names, with its field: scope paths, deliverables (the
    file part of ``path::symbol``), read-only context and protected paths."""
    for i, path in enumerate(spec.protected_paths):
        yield f"protected_paths[{i}]", path
    for p, phase in enumerate(spec.phases):
        scope = phase.scope
        for i, path in enumerate(scope.paths):
            yield f"phases[{p}].scope.paths[{i}]", path
        for i, deliverable in enumerate(scope.deliverables):
            yield f"phases[{p}].scope.deliverables[{i}]", deliverable.split("::", 1)[0]
        for i, context in enumerate(scope.read_only_context):
            yield f"phases[{p}].scope.read_only_context[{i}].path", context.path
        for i, path in enumerate(scope.protected_paths):
            yield f"phases[{p}].scope.protected_paths[{i}]", path


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a place inside the repository, or None when it can.

    Plan paths are relative to the repository's top: an absolute path (``/etc``, ``C:/``,
    ``\\\\server``) or one that climbs out with ``..`` would point governed apply, context
    selection or the protected list somewhere else, so both are refused, whatever the
    separator."""
    text = path.strip()
    if text.startswith(("/", "\\")) or _DRIVE.match(text):
        return f"{path!r} is absolute; give it relative to the repository's top"
    if ".." in re.split(r"[/\\]+", text):
        return f"{path!r} leaves the repository ('..'); give a path inside it"
    return None


def check_plan_paths(spec: RunSpec) -> None:
    """PlanError naming each plan path that is absolute or leaves the repository; its
    ``field`` is the first one (``phases[0].scope.paths[1]``)."""
    problems = [(field, why) for field, path in plan_paths(spec) if (why := path_problem(path))]
    if not problems:
        return
    message = "; ".join(f"{field}: {why}" for field, why in problems[:5])
    if len(problems) > 5:
        message += f"; and {len(problems) - 5} more"
    raise PlanError(message, field=problems[0][0])


def check_repository(repo: str, *, field: str = "repo") -> Path:
    """The repository a run builds in, resolved; PlanError naming ``field`` when it is not
    an absolute path to an existing git repository's top (a checkout holding ``.git``, or
    a bare repository)."""
    path = Path(repo).expanduser()
    if not path.is_absolute():
        raise PlanError(
            f"{field}: {repo!r} is relative; give the repository's absolute path (the "
            "server's working directory is not the plan's)",
            field=field,
        )
    if not path.is_dir():
        raise PlanError(
            f"{field}: {repo!r} does not exist or is not a directory; give the path of the "
            "git repository the run should change",
            field=field,
        )
    if not is_repository(path):
        raise PlanError(
            f"{field}: {repo!r} is not the top of a git repository (no .git in it, and it is "
            "not a bare repository); each run works on a branch of the repository, so run "
            "`git init` and commit there first",
            field=field,
        )
    return path.resolve()


def check_for_creation(spec: RunSpec) -> None:
    """What every entry point checks before a run is created from ``spec``: its paths stay
    inside the repository, and its ``repo``, when given, is a git repository."""
    check_plan_paths(spec)
    if spec.repo is not None:
        check_repository(spec.repo)
