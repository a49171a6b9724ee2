"""`autopack telemetry calibrate` prints its table from recorded budget events."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli.main import _register, app
from autopack.db import migrate
from autopack.db.session import make_engine, make_session_factory, unit_of_work
from autopack.llm.client import EstimationRecord
from autopack.llm.estimator import TokenEstimator
from autopack.services.usage import record_estimation
from autopack.settings import get_settings


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'telemetry.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("AUTOPACK_DATABASE_URL", url)
    get_settings.cache_clear()
    return url


def record(
    url: str, category: str, complexity: str, actual: int, truncated: bool, count: int
) -> None:
    engine = make_engine(url)
    estimate = TokenEstimator().estimate(category, complexity, 1, 500)
    with unit_of_work(make_session_factory(engine)) as session:
        for _ in range(count):
            record_estimation(
                session,
                EstimationRecord(
                    estimate,
                    "claude-haiku-4-5",
                    None,
                    None,
                    actual_output_tokens=actual,
                    truncated=truncated,
                ),
            )
    engine.dispose()


def test_calibrate_prints_stats_and_proposals(database: str) -> None:
    record(database, "docs", "low", 1000, False, 10)
    record(database, "docs", "low", 1536, True, 2)
    record(database, "feature", "high", 9000, False, 3)
    _register()
    result = CliRunner().invoke(app, ["telemetry", "calibrate"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Token estimator calibration" in result.output
    docs_line = next(line for line in result.output.splitlines() if "docs" in line)
    assert "12 (10 clean)" in docs_line and "17%" in docs_line
    assert "docs/low:" in docs_line
    feature_line = next(line for line in result.output.splitlines() if "feature" in line)
    assert "needs 7 more clean sample(s)" in feature_line


def test_calibrate_with_no_events_says_so(database: str) -> None:
    _register()
    result = CliRunner().invoke(app, ["telemetry", "calibrate", "--min-samples", "3"])
    assert result.exit_code == 0, result.output
    assert "token_estimation_events is empty" in result.output
