"""Token usage and model routing for the dashboard.

``GET /dashboard/usage``, ``GET /dashboard/models``, ``POST /dashboard/models/override``:
payloads compatible with the original's, with both override scopes working.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from autopack.api.deps import AuthDep, SessionDep, SettingsDep
from autopack.config import models_config_for
from autopack.errors import ValidationError
from autopack.llm.factory import build_router, effective_config
from autopack.services import routing, usage

router = APIRouter(tags=["dashboard"])


class ProviderUsage(BaseModel):
    provider: str
    period: str
    prompt_tokens: int = Field(description="Sum of known prompt splits (NULLs skipped).")
    completion_tokens: int = Field(description="Sum of known completion splits.")
    total_tokens: int = Field(description="Exact total of every call.")
    unsplit_tokens: int = Field(description="Part of the total reported without splits.")
    calls: int
    cap_tokens: int | None = Field(description="The provider's cap for the period, if set.")
    percent_of_cap: float | None


class ModelUsage(BaseModel):
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    unsplit_tokens: int
    calls: int
    cost_usd: float | None = Field(description="Sum of known costs; null if none is known.")
    cost_complete: bool = Field(description="False when some calls had no known price.")


class UsageResponse(BaseModel):
    period: Literal["day", "week", "month"]
    since: datetime
    until: datetime
    providers: list[ProviderUsage]
    models: list[ModelUsage]


class ModelMapping(BaseModel):
    role: str
    category: str
    complexity: str
    model: str
    scope: Literal["config", "global", "run"]


class ModelOverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(examples=["builder"])
    category: str = Field(
        default="general",
        examples=["general", "docs"],
        description='"general" sets the complexity default.',
    )
    complexity: Literal["low", "medium", "high"]
    model: str = Field(min_length=1, max_length=128, examples=["claude-sonnet-4-5"])
    scope: Literal["global", "run"] = "global"
    run_id: str | None = Field(default=None, description="Required when scope is 'run'.")


class ModelOverrideResponse(BaseModel):
    message: str
    role: str
    category: str
    complexity: str
    model: str
    scope: Literal["global", "run"]
    run_id: str | None = None
    note: str


@router.get("/dashboard/usage", response_model=UsageResponse)
def dashboard_usage(
    session: SessionDep,
    settings: SettingsDep,
    period: Literal["day", "week", "month"] = Query(default="week"),
) -> UsageResponse:
    """Token usage by provider and by model over the last day, week (7 days) or month
    (30 days), with each provider's cap from ``provider_quotas``."""
    config = models_config_for(settings)
    summary = usage.usage_summary(session, period, datetime.now(UTC), config.provider_quotas)
    return UsageResponse.model_validate(summary)


@router.get(
    "/dashboard/models",
    response_model=list[ModelMapping],
    responses={404: {"description": "Unknown run"}},
)
def dashboard_models(
    session: SessionDep,
    settings: SettingsDep,
    run_id: str | None = Query(default=None, description="Include this run's overrides."),
) -> list[ModelMapping]:
    """The effective model for every role, category and complexity, and where it comes
    from: ``config`` (models.yaml), ``global`` (an override) or ``run``."""
    config = effective_config(settings)
    entries = routing.effective_mapping(session, build_router(settings, config), run_id)
    return [
        ModelMapping(
            role=e.role, category=e.category, complexity=e.complexity, model=e.model, scope=e.scope
        )
        for e in entries
    ]


@router.post(
    "/dashboard/models/override",
    response_model=ModelOverrideResponse,
    responses={
        404: {"description": "Unknown run"},
        422: {"description": "Unknown role, model or missing run_id"},
    },
)
def override_model(
    body: ModelOverrideRequest, session: SessionDep, settings: SettingsDep, principal: AuthDep
) -> ModelOverrideResponse:
    """Set the model for role/category/complexity: ``global`` for every run's next calls,
    ``run`` for that run's next calls only. The decision log records who set it."""
    config = models_config_for(settings)
    if body.scope == "run":
        if not body.run_id:
            raise ValidationError("run_id is required when scope is 'run'", field="run_id")
        result = routing.set_run_override(
            session,
            config,
            body.run_id,
            body.role,
            body.category,
            body.complexity,
            body.model,
            actor=principal.identity,
        )
        note = f"Applies to the next calls of run {body.run_id}; other runs are unchanged."
        message = "Run model mapping updated"
    else:
        result = routing.set_global_override(
            session,
            config,
            body.role,
            body.category,
            body.complexity,
            body.model,
            actor=principal.identity,
        )
        note = (
            "Applies to the next calls of every run, unless a run overrides it. "
            "models.yaml is unchanged."
        )
        message = "Global model mapping updated"
    return ModelOverrideResponse(
        message=message,
        role=result.role,
        category=result.category,
        complexity=result.complexity,
        model=result.model,
        scope=body.scope,
        run_id=result.run_id,
        note=note,
    )
