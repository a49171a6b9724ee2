"""Cost from the price table; max_tokens from the estimator; calibration statistics."""

from __future__ import annotations

import pytest

from autopack.config import load_models_config
from autopack.llm.base import Usage
from autopack.llm.calibration import Sample, calibrate, percentile, smape
from autopack.llm.estimator import EstimatorConfig, TokenEstimator
from autopack.llm.pricing import ModelPrice, PriceTable

PRICES = PriceTable(
    {"m": ModelPrice(input=3.0, output=15.0), "local": ModelPrice(input=0.0, output=0.0)}
)


def test_cost_from_exact_splits() -> None:
    # 1M prompt tokens at $3 + 200k completion tokens at $15.
    assert PRICES.cost_usd("m", Usage.reported(1_000_000, 200_000)) == pytest.approx(6.0)
    assert PRICES.cost_usd("m", Usage.reported(1200, 85)) == pytest.approx(0.004875)


def test_total_only_cost_is_unknown_unless_prices_are_equal() -> None:
    assert PRICES.cost_usd("m", Usage.total_only(1000)) is None
    assert PRICES.cost_usd("local", Usage.total_only(1000)) == 0.0


def test_unknown_model_has_no_cost() -> None:
    assert PRICES.cost_usd("nobody-knows", Usage.reported(1, 1)) is None
    assert "m" in PRICES and PRICES.price("nobody-knows") is None


def test_bundled_prices_cover_every_chain_model() -> None:
    config = load_models_config()
    chained = {
        m
        for levels in config.escalation_chains.values()
        for chain in levels.values()
        for m in chain
    }
    assert chained <= set(config.pricing)


ESTIMATOR = TokenEstimator()


def test_docs_and_tests_get_smaller_budgets_than_code() -> None:
    docs = ESTIMATOR.estimate("docs", "low", 1, 0)
    tests = ESTIMATOR.estimate("tests", "low", 1, 0)
    code = ESTIMATOR.estimate("feature", "low", 1, 0)
    assert docs.budget < tests.budget < code.budget
    assert docs.group == "docs" and ESTIMATOR.group_for("documentation") == "docs"
    assert ESTIMATOR.group_for("doc_sot_update") == "docs"
    assert ESTIMATOR.group_for("test_generation") == "tests"


def test_floor_applies_only_to_code() -> None:
    code = ESTIMATOR.estimate("feature", "low", 0, 0)
    assert code.budget == 4096 and "floor" in code.reason
    docs = ESTIMATOR.estimate("docs", "low", 0, 0)
    assert docs.budget < 4096 and "floor" not in docs.reason


def test_budget_grows_with_deliverables_complexity_and_context() -> None:
    base = ESTIMATOR.estimate("feature", "medium", 2, 1000)
    assert ESTIMATOR.estimate("feature", "medium", 4, 1000).budget > base.budget
    assert ESTIMATOR.estimate("feature", "high", 2, 1000).budget > base.budget
    assert ESTIMATOR.estimate("feature", "medium", 2, 40_000).budget > base.budget
    full = ESTIMATOR.estimate("feature", "medium", 2, 40_000, "full_file")
    assert full.budget > ESTIMATOR.estimate("feature", "medium", 2, 40_000).budget
    assert base.budget % 256 == 0 and base.budget >= base.estimated * 1.3


def test_budget_is_capped_by_the_model_output_limit() -> None:
    big = ESTIMATOR.estimate("feature", "high", 30, 200_000, "full_file", max_output_tokens=8192)
    assert big.budget == 8192 and "output limit" in big.reason


def test_calibrated_scale_is_applied() -> None:
    scaled = TokenEstimator(EstimatorConfig(scales={"docs/low": 0.5}))
    assert scaled.estimate("docs", "low", 2, 0).estimated == pytest.approx(
        ESTIMATOR.estimate("docs", "low", 2, 0).estimated / 2, abs=1
    )


def test_smape_and_percentiles() -> None:
    assert smape([(100, 100)]) == 0
    assert smape([(100, 300)]) == pytest.approx(100.0)
    assert smape([]) is None
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([5.0], 0.9) == 5.0 and percentile([], 0.5) is None


def test_calibrate_proposes_only_with_enough_clean_samples() -> None:
    samples = [Sample("docs", "low", 1000, 1536, 800, False) for _ in range(10)]
    samples += [Sample("docs", "low", 1000, 1536, 1536, True)]
    samples += [Sample("feature", "high", 5000, 8192, 4000, False) for _ in range(3)]
    rows = {
        (r.category, r.complexity): r
        for r in calibrate(
            samples,
            min_samples=10,
            current_scales={"docs/low": 0.9},
            group_of={"docs": "docs", "feature": "default"},
        )
    }
    docs = rows[("docs", "low")]
    assert docs.samples == 11 and docs.clean_samples == 10
    assert docs.truncation_rate == pytest.approx(1 / 11)
    assert docs.waste_p50 == pytest.approx(1.92)
    assert docs.smape_percent == pytest.approx(100 * 200 / 900)
    assert docs.proposed_scale == pytest.approx(0.72)  # 0.9 x median(800/1000)
    assert docs.scale_key == "docs/low" and docs.needed_samples == 0
    feature = rows[("feature", "high")]
    assert feature.proposed_scale is None and feature.needed_samples == 7
    assert feature.scale_key == "default/high"
