"""Token-estimator calibration statistics (pure functions, no I/O).

For each task category and complexity, from recorded Builder budgets:

* **SMAPE** of estimate vs. actual output, over clean samples only. A truncated answer's
  actual size is unknown (it is a lower bound), so truncated samples are excluded from the
  error and counted in the truncation rate instead.
* **Waste ratio** ``budget / actual`` at P50 and P90 (clean samples): how much headroom
  the budget gave. Close to the buffer is good; far above it wastes reserved tokens.
* **Truncation rate**: the share of calls that hit the budget.
* **Proposed scale**: ``current scale x median(actual / estimate)`` for the group, only
  with at least ``min_samples`` clean samples; otherwise the row says how many more are
  needed. Proposals go into ``token_estimator.scales`` in models.yaml.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_MIN_SAMPLES = 10


@dataclass(frozen=True, slots=True)
class Sample:
    """One recorded Builder budget decision."""

    category: str
    complexity: str
    estimated: int
    budget: int
    actual: int | None
    truncated: bool


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """Statistics of one category/complexity group."""

    category: str
    complexity: str
    samples: int
    clean_samples: int
    smape_percent: float | None
    waste_p50: float | None
    waste_p90: float | None
    truncation_rate: float
    proposed_scale: float | None
    scale_key: str  # the token_estimator.scales key a proposal is for: "group/complexity"
    needed_samples: int  # clean samples still missing before a proposal (0 when proposed)


def smape(pairs: Iterable[tuple[float, float]]) -> float | None:
    """Symmetric mean absolute percentage error of (estimate, actual) pairs, in percent."""
    terms = [
        abs(est - act) / ((abs(est) + abs(act)) / 2)
        for est, act in pairs
        if abs(est) + abs(act) > 0
    ]
    return 100 * sum(terms) / len(terms) if terms else None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` percentile by linear interpolation (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def calibrate(
    samples: Iterable[Sample],
    *,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    current_scales: dict[str, float] | None = None,
    group_of: dict[str, str] | None = None,
) -> list[CalibrationRow]:
    """One row per category/complexity, sorted by category then complexity.

    ``current_scales`` (by "group/complexity") and ``group_of`` (category -> group) let the
    proposal be expressed as the new value of the configured scale.
    """
    groups: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.category, sample.complexity), []).append(sample)
    order = {"low": 0, "medium": 1, "high": 2}
    rows = []
    for (category, complexity), items in sorted(
        groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9), kv[0][1])
    ):
        clean = [s for s in items if not s.truncated and s.actual]
        waste = [s.budget / s.actual for s in clean if s.actual]
        ratios = [s.actual / s.estimated for s in clean if s.actual and s.estimated > 0]
        proposed = None
        group = (group_of or {}).get(category, category)
        if len(clean) >= min_samples and ratios:
            current = (current_scales or {}).get(f"{group}/{complexity}", 1.0)
            median = percentile(ratios, 0.5)
            assert median is not None
            proposed = round(current * median, 2)
        rows.append(
            CalibrationRow(
                category=category,
                complexity=complexity,
                samples=len(items),
                clean_samples=len(clean),
                smape_percent=smape((s.estimated, s.actual or 0) for s in clean),
                waste_p50=percentile(waste, 0.5),
                waste_p90=percentile(waste, 0.9),
                truncation_rate=sum(s.truncated for s in items) / len(items),
                proposed_scale=proposed,
                scale_key=f"{group}/{complexity}",
                needed_samples=max(0, min_samples - len(clean)),
            )
        )
    return rows
