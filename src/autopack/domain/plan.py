"""The plan contract: a RunSpec of tiers and phases, each phase with its scope and budgets.

Everything but ids and names has a default, so the smallest valid plan is a run id, one
phase id and its name. Legacy shapes the original accepted are normalized on the way in:
``read_only_context`` entries as plain strings, ``deliverables`` as a bucketed dict
(``{"code": [...], "tests": [...], "docs": [...]}``), flat phase lists without tiers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from autopack.domain.slugs import SLUG_RE as SLUG_RE
from autopack.domain.slugs import check_slug as check_slug
from autopack.domain.states import Complexity, SafetyProfile
from autopack.errors import PlanError

DEFAULT_TIER_ID = "T1"
#: The largest count, cap or index a plan or a result may carry: the range of a database
#: INTEGER column (PostgreSQL's is 32-bit), so no input can overflow a stored number.
MAX_COUNT = 2**31 - 1
#: A variable name a plan may set for project commands.
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: What a run does with a baseline that cannot be collected or run (see RunSpec.baseline).
BaselinePolicy = Literal["required", "allow_failing"]


def check_tier_id(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 100:
        raise ValueError("a tier id is 1-100 characters of text, e.g. 'T1' or 'Auth & Security'")
    return value


Slug = Annotated[str, AfterValidator(check_slug)]
TierId = Annotated[str, AfterValidator(check_tier_id)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ReadOnlyContext(_Model):
    path: str
    reason: str = ""


class Scope(_Model):
    """What a phase may change and what it may read."""

    paths: list[str] = Field(
        default_factory=list, description="Allowed paths; a path ending in '/' is a directory."
    )
    read_only_context: list[ReadOnlyContext] = Field(default_factory=list)
    deliverables: list[str] = Field(
        default_factory=list,
        description="Files the phase must create or change; "
        "'path::symbol' also requires a named symbol.",
    )
    protected_paths: list[str] = Field(default_factory=list)
    acceptance_criteria: list[str] = Field(default_factory=list)
    tests: list[str] = Field(
        default_factory=list, description="Test commands; when given they replace detection."
    )

    @field_validator("read_only_context", mode="before")
    @classmethod
    def _legacy_context(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("deliverables", mode="before")
    @classmethod
    def _legacy_deliverables(cls, value: Any) -> Any:
        if isinstance(value, dict):
            flat: list[Any] = []
            for bucket in value.values():
                flat.extend(bucket if isinstance(bucket, list) else [bucket])
            return flat
        return value

    @field_validator("paths", "protected_paths", "tests", "acceptance_criteria", mode="before")
    @classmethod
    def _single_string(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class PhaseBudgets(_Model):
    max_builder_attempts: int = Field(default=5, ge=1, le=50)
    max_auditor_attempts: int = Field(
        default=2,
        ge=0,
        le=20,
        description="Auditor reviews per phase. When they are used up, an attempt that no "
        "Auditor approved waits for a person (or fails, per the run's on_auditor_budget); "
        "0 means no Auditor: a person reviews every attempt.",
    )
    incident_token_cap: int | None = Field(default=None, ge=1, le=MAX_COUNT)


class ApprovalPolicy(_Model):
    """How long a person's approval may wait, and what its expiry means."""

    expire_after_minutes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COUNT,
        description="A pending approval older than this expires (status `expired`, "
        "recorded by `policy:expiry`). Unset: the settings' default "
        "(AUTOPACK_APPROVAL_EXPIRE_AFTER_MINUTES), or no expiry.",
    )
    on_expiry: Literal["reject", "fail_phase"] | None = Field(
        default=None,
        description="`reject`: the expired approval counts as a rejection and the Builder "
        "tries again, told it expired; `fail_phase`: the phase fails, its reason saying "
        "the approval expired. Unset: AUTOPACK_APPROVAL_ON_EXPIRY (default reject).",
    )


class RunBudgets(_Model):
    token_cap: int = Field(default=5_000_000, ge=1, le=MAX_COUNT)
    max_phases: int = Field(default=25, ge=1, le=MAX_COUNT)
    max_duration_minutes: int = Field(default=120, ge=1, le=MAX_COUNT)
    ci_run_cap: int | None = Field(
        default=None, ge=1, le=MAX_COUNT, description="Test-suite runs allowed; default: no cap."
    )
    max_minor_issues_total: int | None = Field(
        default=None, ge=0, le=MAX_COUNT, description="Default: 3 per phase."
    )


class TierSpec(_Model):
    tier_id: TierId
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    tier_index: int | None = Field(default=None, ge=0, le=MAX_COUNT)


class PhaseSpec(_Model):
    phase_id: Slug
    tier_id: TierId | None = Field(default=None, description="Default: the run's only tier.")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    task_category: str = Field(default="feature", min_length=1, max_length=64)
    complexity: Complexity = Complexity.MEDIUM
    builder_mode: str | None = Field(
        default=None,
        max_length=64,
        description="A hint for the Builder's prompt and token estimate (e.g. tweak_light).",
    )
    mode: Literal["build", "verify"] = Field(
        default="build",
        description="build: the Builder changes code, and the phase completes only with "
        "reviewed edits (or when the Auditor, shown the current code, says the goal is "
        "already met). verify: the phase is a check: it runs the tests and checks the "
        "deliverables, never calls the Builder, and completes or fails on that alone.",
    )
    optional: bool = Field(
        default=False,
        description="Whether the run may succeed with this phase skipped. A required phase "
        "that is skipped (e.g. by the Doctor) ends the run DONE_FAILED_REQUIRES_HUMAN_REVIEW.",
    )
    allow_test_removal: bool = Field(
        default=False,
        description="Whether the phase may remove or skip tests that passed in the "
        "baseline. Even then a person approves such a change (approval kind test_removal); "
        "without it, a removed or skipped test is a regression.",
    )
    phase_index: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    scope: Scope = Field(default_factory=Scope)
    budgets: PhaseBudgets = Field(default_factory=PhaseBudgets)

    @model_validator(mode="before")
    @classmethod
    def _legacy_flat_scope(cls, data: Any) -> Any:
        """Accept scope fields written at the phase's top level, as the original did."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        moved = {k: data.pop(k) for k in list(data) if k in Scope.model_fields}
        if moved:
            scope = dict(data.get("scope") or {})
            for key, val in moved.items():
                scope.setdefault(key, val)
            data["scope"] = scope
        budget_keys = [k for k in list(data) if k in PhaseBudgets.model_fields]
        if budget_keys:
            budgets = dict(data.get("budgets") or {})
            for key in budget_keys:
                budgets.setdefault(key, data.pop(key))
            data["budgets"] = budgets
        if isinstance(data.get("complexity"), str):
            data["complexity"] = data["complexity"].strip().lower()
        return data


class RunSpec(_Model):
    """A plan, normalized: what `create_run` stores and the executor executes."""

    run_id: Slug
    name: str = Field(default="", max_length=200, description="Default: the run id.")
    goal: str = ""
    safety_profile: SafetyProfile = Field(
        default=SafetyProfile.NORMAL,
        description="safety_critical: every phase's approved attempt also waits for a "
        "person (approval kind human_review), and large deletions need approval sooner.",
    )
    on_auditor_budget: Literal["ask_person", "fail"] = Field(
        default="ask_person",
        description="What happens to an attempt no Auditor approved once the phase's "
        "Auditor reviews are used up: ask_person parks it for a person's approval (kind "
        "auditor_budget); fail fails the phase. It is never committed unreviewed.",
    )
    run_scope: str = Field(default="multi_tier", max_length=64)
    approvals: ApprovalPolicy = Field(
        default_factory=ApprovalPolicy,
        description="Expiry of approvals that wait too long (expire_after_minutes, "
        "on_expiry: reject | fail_phase).",
    )
    budgets: RunBudgets = Field(default_factory=RunBudgets)
    tiers: list[TierSpec] = Field(default_factory=list)
    phases: list[PhaseSpec] = Field(default_factory=list)
    verify: str | None = Field(
        default=None, description="Run-level test command; wins over detection."
    )
    protected_paths: list[str] = Field(default_factory=list)
    repo: str | None = Field(
        default=None,
        description="Target git repository: the absolute local path of a checkout or a bare "
        "repository.",
    )
    base_ref: str | None = Field(default=None, description="Default: the repository's HEAD.")
    setup: list[str] = Field(
        default_factory=list,
        description="Commands run in the run's environment, in the worktree, after the "
        "dependencies are installed and before the baseline (e.g. 'make generate'). "
        "Replace the `setup` of the repository's .autopack.yaml when given.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Variables every project command gets (setup, tests); they win over "
        "the same names in .autopack.yaml. Autopack's own settings and API keys are never "
        "passed to project commands.",
    )
    baseline: BaselinePolicy = Field(
        default="required",
        description="'required': the run stops before any model call when the tests "
        "cannot be collected or run at its start. 'allow_failing': a plan that repairs a "
        "broken suite; the baseline is recorded as it is and phases are judged on the "
        "delta.",
    )

    drift: Literal["advisory", "blocking"] = Field(
        default="advisory",
        description="What a completed phase whose summary (goal, files changed, the "
        "Auditor's notes) strays from the run's intention anchor means: 'advisory' records "
        "an intention_drift decision only; 'blocking' also fails the phase, saying why.",
    )
    drift_threshold: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Similarity below which a phase has drifted (0 never, 1 almost "
        "always): the share of the content words of what the phase did (files changed, "
        "the Auditor's notes) found in the anchor or the phase's own goal, or the cosine "
        "similarity when a semantic embedder is configured.",
    )

    @field_validator("setup", mode="before")
    @classmethod
    def _one_setup_command(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("setup")
    @classmethod
    def _no_blank_setup(cls, value: list[str]) -> list[str]:
        return [c.strip() for c in value if c.strip()]

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not ENV_NAME_RE.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a variable name: use letters, digits and '_', not "
                    "starting with a digit"
                )
            if name.startswith("AUTOPACK_"):
                raise ValueError(
                    f"{name!r}: AUTOPACK_ variables configure Autopack itself and are never "
                    "passed to project commands; choose another name"
                )
        return value

    @model_validator(mode="before")
    @classmethod
    def _legacy_budgets(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        flat = [k for k in list(data) if k in RunBudgets.model_fields]
        if flat:
            budgets = dict(data.get("budgets") or {})
            for key in flat:
                value = data.pop(key)
                if value is not None:
                    budgets.setdefault(key, value)
            data["budgets"] = budgets
        return data

    @model_validator(mode="after")
    def _normalize(self) -> RunSpec:
        if not self.name:
            self.name = self.run_id
        if not self.tiers and self.phases:
            used = [p.tier_id for p in self.phases if p.tier_id]
            if used:
                # Phases name tiers that were not declared: a plan error, named precisely.
                first = next(i for i, p in enumerate(self.phases) if p.tier_id)
                raise PlanError(
                    f"phases[{first}].tier_id names tier {self.phases[first].tier_id!r}, but the "
                    "plan declares no tiers; add it under 'tiers' or drop tier_id",
                    field=f"phases[{first}].tier_id",
                )
            self.tiers = [TierSpec(tier_id=DEFAULT_TIER_ID, name="Default tier")]
        tier_ids: set[str] = set()
        for i, tier in enumerate(self.tiers):
            if tier.tier_id in tier_ids:
                raise PlanError(
                    f"tiers[{i}].tier_id {tier.tier_id!r} appears twice",
                    field=f"tiers[{i}].tier_id",
                )
            tier_ids.add(tier.tier_id)
            if tier.tier_index is None:
                tier.tier_index = i
        seen: set[str] = set()
        for i, phase in enumerate(self.phases):
            if phase.phase_id in seen:
                raise PlanError(
                    f"phases[{i}].phase_id {phase.phase_id!r} is not unique in the run",
                    field=f"phases[{i}].phase_id",
                )
            seen.add(phase.phase_id)
            if phase.tier_id is None:
                if len(self.tiers) != 1:
                    raise PlanError(
                        f"phases[{i}].tier_id is missing and the run has {len(self.tiers)} "
                        "tiers; say which tier the phase belongs to",
                        field=f"phases[{i}].tier_id",
                    )
                phase.tier_id = self.tiers[0].tier_id
            elif phase.tier_id not in tier_ids:
                raise PlanError(
                    f"phases[{i}].tier_id {phase.tier_id!r} is not a tier of this run; known "
                    f"tiers: {', '.join(sorted(tier_ids))}",
                    field=f"phases[{i}].tier_id",
                )
            if phase.phase_index is None:
                phase.phase_index = i
        return self

    def ordered_phases(self) -> list[PhaseSpec]:
        """Phases in execution order: by tier index, then phase index."""
        tier_order = {t.tier_id: t.tier_index or 0 for t in self.tiers}
        return sorted(self.phases, key=lambda p: (tier_order[p.tier_id or ""], p.phase_index or 0))

    def effective_max_minor_issues(self) -> int:
        if self.budgets.max_minor_issues_total is not None:
            return self.budgets.max_minor_issues_total
        return 3 * len(self.phases)


def spec_from_run_start(payload: dict[str, Any]) -> RunSpec:
    """Convert the original's ``RunStartRequest`` (``{"run": {...}, "tiers": [...],
    "phases": [...]}``) into a RunSpec. ``None`` values mean "use the default".

    A value the plan contract refuses is a PlanError whose ``field`` is named as the
    request spells it (``run.token_cap``, ``phases[0].complexity``)."""
    run = {k: v for k, v in dict(payload.get("run") or {}).items() if v is not None}
    tiers = [
        {k: v for k, v in dict(t).items() if v is not None} for t in payload.get("tiers") or []
    ]
    phases = [
        {k: v for k, v in dict(p).items() if v is not None} for p in payload.get("phases") or []
    ]
    try:
        return RunSpec.model_validate({**run, "tiers": tiers, "phases": phases})
    except pydantic.ValidationError as exc:
        errors = [
            {"field": _run_start_field(tuple(err["loc"]), run), "message": err["msg"]}
            for err in exc.errors(include_url=False)
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise PlanError(
            f"invalid run: {summary}", field=errors[0]["field"], errors=errors
        ) from None


def _run_start_field(loc: tuple[Any, ...], run: dict[str, Any]) -> str:
    """A RunSpec location as the RunStartRequest spells it: run fields live under ``run``,
    and the budgets are flat there."""
    if loc and loc[0] == "budgets":
        loc = ("run", *loc[1:])
    elif loc and (loc[0] in run or loc[0] in ("run_id", "name")):
        loc = ("run", *loc)
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "run"
