"""Model overrides and the effective model mapping.

Global overrides live in the ``model_overrides`` table and apply to every run's next calls;
a run's overrides live in ``Run.model_overrides`` as ``{"role:category:complexity":
model}`` and win over global ones for that run. Category ``general`` means "every
category without a more specific override". The executor reads :func:`overrides_for`
before each call, so a change takes effect on the next call, not the next run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.config import COMPLEXITIES, ModelsConfig
from autopack.db.orm import ModelOverride, Run
from autopack.errors import NotFoundError, ValidationError
from autopack.llm.router import GENERAL, MappingEntry, ModelRouter, OverrideKey, RoutingOverrides
from autopack.services.decisions import record_decision

_CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class OverrideResult:
    """What an override call stored."""

    role: str
    category: str
    complexity: str
    model: str
    scope: str
    run_id: str | None = None


def _run_key(role: str, category: str, complexity: str) -> str:
    return f"{role}:{category}:{complexity}"


def _check(config: ModelsConfig, role: str, category: str, complexity: str, model: str) -> str:
    """Validate an override; returns the normalized category."""
    if role not in config.roles:
        raise ValidationError(
            f"unknown role {role!r}; use one of {', '.join(config.roles)}", field="role"
        )
    if complexity not in COMPLEXITIES:
        raise ValidationError(
            f"unknown complexity {complexity!r}; use one of {', '.join(COMPLEXITIES)}",
            field="complexity",
        )
    category = category.strip().lower()
    if not _CATEGORY_RE.fullmatch(category):
        raise ValidationError(
            f"category {category!r} must be 1-64 lowercase letters, digits, "
            "'_', '.' or '-' ('general' for the complexity default)",
            field="category",
        )
    if model not in config.models:
        raise ValidationError(
            f"unknown model {model!r}; declare it under models in "
            f"models.yaml (known: {', '.join(sorted(config.models))})",
            field="model",
        )
    return category


def global_overrides(session: Session) -> dict[OverrideKey, str]:
    """Every global override."""
    rows = session.scalars(select(ModelOverride))
    return {(r.role, r.category, r.complexity): r.model for r in rows if r.model}


def run_overrides(session: Session, run_id: str) -> dict[OverrideKey, str]:
    """The run's overrides. Raises NotFoundError for an unknown run."""
    # One column: the run's row carries its whole plan, read on every routed call.
    found = session.execute(select(Run.model_overrides).where(Run.id == run_id)).first()
    if found is None:
        raise NotFoundError(f"run {run_id!r} not found", run_id=run_id)
    result: dict[OverrideKey, str] = {}
    for key, model in (found[0] or {}).items():
        parts = str(key).split(":")
        if len(parts) == 3 and isinstance(model, str) and model:
            result[(parts[0], parts[1], parts[2])] = model
    return result


def overrides_for(session: Session, run_id: str | None) -> RoutingOverrides:
    """The overrides in force for a call of ``run_id`` (global only when None)."""
    return RoutingOverrides(
        global_models=global_overrides(session),
        run_models=run_overrides(session, run_id) if run_id else {},
    )


def set_global_override(
    session: Session,
    config: ModelsConfig,
    role: str,
    category: str,
    complexity: str,
    model: str,
    *,
    actor: str,
) -> OverrideResult:
    """Create or replace the global override for role/category/complexity; the decision
    log records ``actor`` as who set it."""
    category = _check(config, role, category, complexity, model)
    row = session.scalars(
        select(ModelOverride).where(
            ModelOverride.role == role,
            ModelOverride.category == category,
            ModelOverride.complexity == complexity,
        )
    ).first()
    if row is None:
        row = ModelOverride(role=role, category=category, complexity=complexity, model=model)
        session.add(row)
    else:
        row.model = model
    session.flush()
    _record_override(session, actor, role, category, complexity, model, run_id=None)
    return OverrideResult(role, category, complexity, model, "global")


def set_run_override(
    session: Session,
    config: ModelsConfig,
    run_id: str,
    role: str,
    category: str,
    complexity: str,
    model: str,
    *,
    actor: str,
) -> OverrideResult:
    """Create or replace one of the run's overrides; it applies to the run's next calls
    and the decision log records ``actor`` as who set it. Raises NotFoundError for an
    unknown run, ValidationError for a bad role/complexity."""
    category = _check(config, role, category, complexity, model)
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} not found", run_id=run_id)
    # A new dict, so the JSON column is seen as changed.
    run.model_overrides = {
        **(run.model_overrides or {}),
        _run_key(role, category, complexity): model,
    }
    session.flush()
    _record_override(session, actor, role, category, complexity, model, run_id=run_id)
    return OverrideResult(role, category, complexity, model, "run", run_id)


def _record_override(
    session: Session,
    actor: str,
    role: str,
    category: str,
    complexity: str,
    model: str,
    *,
    run_id: str | None,
) -> None:
    scope = f"run {run_id}" if run_id else "every run"
    record_decision(
        session,
        actor=actor,
        decision="model_override",
        rationale=f"{role}/{category}/{complexity} -> {model} for {scope}",
        run_id=run_id,
        role=role,
        category=category,
        complexity=complexity,
        model=model,
        scope="run" if run_id else "global",
    )


def effective_mapping(
    session: Session, router: ModelRouter, run_id: str | None = None
) -> list[MappingEntry]:
    """The first model of every role/category/complexity, with its source ("config",
    "global" or "run"), for new runs or, given ``run_id``, for that run."""
    return router.effective_mapping(overrides_for(session, run_id), categories=[GENERAL])
