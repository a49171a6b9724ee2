"""Choosing a Builder call's ``max_tokens``.

The expected output is ``(base + per_deliverable * n) * complexity + context * factor``,
with ``base``/``per_deliverable`` per category group (docs and tests answers are smaller
than code), ``factor`` per builder mode (full-file rewrites echo much of their context), and
a calibrated ``scale`` per group and complexity. The budget is the estimate times a safety
buffer, rounded up, raised to a floor only for groups that need one (code answers cut
short are worthless; a short doc answer is merely short), and capped by the model's output
limit. Every Builder call records estimate, budget, actual output and truncation, which
``autopack telemetry calibrate`` turns into proposed ``scales``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_GROUP = "default"


class CategoryBudget(BaseModel):
    """Output-size coefficients of one category group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: int = Field(ge=0, description="Tokens any answer of this group needs.")
    per_deliverable: int = Field(ge=0, description="Tokens per required deliverable.")
    floor: int | None = Field(default=None, ge=1, description="Smallest budget, if any.")


def _default_categories() -> dict[str, CategoryBudget]:
    return {
        "docs": CategoryBudget(base=600, per_deliverable=1200),
        "tests": CategoryBudget(base=600, per_deliverable=1800),
        "config": CategoryBudget(base=400, per_deliverable=800),
        DEFAULT_GROUP: CategoryBudget(base=1000, per_deliverable=2500, floor=4096),
    }


class EstimatorConfig(BaseModel):
    """``token_estimator:`` in models.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    buffer: float = Field(default=1.3, ge=1.0, description="Safety margin over the estimate.")
    round_to: int = Field(default=256, ge=1)
    minimum: int = Field(default=1024, ge=1, description="The smallest budget of any call.")
    complexity_multipliers: dict[str, float] = Field(
        default_factory=lambda: {"low": 0.7, "medium": 1.0, "high": 1.5}
    )
    categories: dict[str, CategoryBudget] = Field(default_factory=_default_categories)
    aliases: dict[str, str] = Field(
        default_factory=lambda: {
            "documentation": "docs",
            "doc_synthesis": "docs",
            "testing": "tests",
            "test": "tests",
            "configuration": "config",
        }
    )
    context_factors: dict[str, float] = Field(
        default_factory=lambda: {DEFAULT_GROUP: 0.1, "full_file": 0.35}
    )
    scales: dict[str, float] = Field(
        default_factory=dict,
        description="Calibrated multipliers by 'group/complexity' (from telemetry calibrate).",
    )

    @model_validator(mode="after")
    def _has_default(self) -> EstimatorConfig:
        if DEFAULT_GROUP not in self.categories:
            raise ValueError(f"token_estimator.categories needs a {DEFAULT_GROUP!r} entry")
        unknown = sorted(g for g in self.aliases.values() if g not in self.categories)
        if unknown:
            raise ValueError(f"token_estimator.aliases point to unknown groups: {unknown}")
        return self


@dataclass(frozen=True, slots=True)
class Estimate:
    """The estimator's decision and the inputs it was made from (recorded for calibration)."""

    estimated: int
    budget: int
    reason: str
    category: str
    group: str
    complexity: str
    deliverables_count: int
    context_tokens: int
    builder_mode: str | None


class TokenEstimator:
    """Picks ``max_tokens`` for Builder calls."""

    def __init__(self, config: EstimatorConfig | None = None) -> None:
        self.config = config or EstimatorConfig()

    def group_for(self, category: str) -> str:
        """The coefficient group of a task category (``docs``, ``tests``, ... or default)."""
        name = category.strip().lower()
        if name in self.config.categories:
            return name
        if name in self.config.aliases:
            return self.config.aliases[name]
        for prefix, group in (("doc", "docs"), ("test", "tests")):
            if name.startswith(prefix) and group in self.config.categories:
                return group
        return DEFAULT_GROUP

    def estimate(
        self,
        category: str,
        complexity: str,
        deliverables_count: int,
        context_tokens: int,
        builder_mode: str | None = None,
        *,
        max_output_tokens: int | None = None,
    ) -> Estimate:
        """The expected output size and the budget to ask for.

        ``max_output_tokens`` is the chosen model's output limit; the budget never exceeds
        it (the reason then says so, and truncation becomes likely for a large phase).
        """
        cfg = self.config
        group = self.group_for(category)
        coeffs = cfg.categories[group]
        n = max(1, deliverables_count)
        multiplier = cfg.complexity_multipliers.get(complexity, 1.0)
        factor = cfg.context_factors.get(
            builder_mode or "", cfg.context_factors.get(DEFAULT_GROUP, 0.0)
        )
        scale = cfg.scales.get(f"{group}/{complexity}", 1.0)
        raw = (
            (coeffs.base + coeffs.per_deliverable * n) * multiplier
            + max(0, context_tokens) * factor
        ) * scale
        estimated = max(1, math.ceil(raw))
        buffered = math.ceil(estimated * cfg.buffer / cfg.round_to) * cfg.round_to
        budget = max(buffered, cfg.minimum)
        parts = [
            f"{group}/{complexity}: ({coeffs.base} + {coeffs.per_deliverable}x{n} deliverables)"
            f" x{multiplier:g} + {factor:g}x{context_tokens} context"
            + (f" x{scale:g} calibrated" if scale != 1.0 else "")
            + f" = {estimated}; x{cfg.buffer:g} buffer -> {budget}"
        ]
        if coeffs.floor is not None and budget < coeffs.floor:
            budget = coeffs.floor
            parts.append(f"raised to the {group} floor {coeffs.floor}")
        if max_output_tokens is not None and budget > max_output_tokens:
            budget = max_output_tokens
            parts.append(f"capped at the model's output limit {max_output_tokens}")
        return Estimate(
            estimated=estimated,
            budget=budget,
            reason="; ".join(parts),
            category=category,
            group=group,
            complexity=complexity,
            deliverables_count=deliverables_count,
            context_tokens=context_tokens,
            builder_mode=builder_mode,
        )
