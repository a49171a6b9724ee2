"""`autopack telemetry calibrate`: how well the token estimator budgets Builder calls.

Reads ``token_estimation_events`` from the configured database and prints, per task
category and complexity: samples, SMAPE, waste ratio (budget / actual) at P50 and P90,
truncation rate, and a proposed ``token_estimator.scales`` value only when enough clean
(non-truncated) samples exist. Nothing is written.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console, JustifyMethod
from rich.table import Table

from autopack.cli.main import app
from autopack.config import models_config_for
from autopack.db.database import open_database
from autopack.db.session import unit_of_work
from autopack.llm.calibration import DEFAULT_MIN_SAMPLES, CalibrationRow
from autopack.services.usage import calibration_table
from autopack.settings import get_settings

telemetry_app = typer.Typer(help="Token telemetry: estimator calibration.", no_args_is_help=True)
app.add_typer(telemetry_app, name="telemetry")


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def render_calibration(rows: list[CalibrationRow], *, min_samples: int) -> Table:
    """The calibration rows as a Rich table."""
    table = Table(title="Token estimator calibration (Builder calls)")
    columns: list[tuple[str, JustifyMethod]] = [
        ("category", "left"),
        ("complexity", "left"),
        ("samples", "right"),
        ("SMAPE %", "right"),
        ("waste P50", "right"),
        ("waste P90", "right"),
        ("truncated", "right"),
        ("proposed scale", "left"),
    ]
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for row in rows:
        if row.proposed_scale is not None:
            proposal = f"{row.scale_key}: {row.proposed_scale:g}"
        else:
            proposal = f"needs {row.needed_samples} more clean sample(s) (min {min_samples})"
        table.add_row(
            row.category,
            row.complexity,
            f"{row.samples} ({row.clean_samples} clean)",
            _num(row.smape_percent, ".1f"),
            _num(row.waste_p50, ".2f"),
            _num(row.waste_p90, ".2f"),
            f"{row.truncation_rate:.0%}",
            proposal,
        )
    return table


@telemetry_app.command("calibrate")
def calibrate_command(
    min_samples: Annotated[
        int,
        typer.Option(
            "--min-samples",
            min=1,
            help="Clean (non-truncated) samples a group needs before a proposal.",
        ),
    ] = DEFAULT_MIN_SAMPLES,
) -> None:
    """Print estimator accuracy per category and complexity, with proposed scales."""
    settings = get_settings()
    config = models_config_for(settings)
    # Created (the embedded default) or checked at the code's revision, like every command
    # that reads the database: a fresh home has no tables yet.
    db = open_database(settings)
    try:
        with unit_of_work(db.factory) as session:
            rows = calibration_table(
                session, min_samples=min_samples, estimator_config=config.token_estimator
            )
    finally:
        db.dispose()
    console = Console()
    if not rows:
        console.print(
            "No Builder budget records yet: token_estimation_events is empty. "
            "Run some phases, then calibrate."
        )
        return
    console.print(render_calibration(rows, min_samples=min_samples))
    console.print(
        "SMAPE and waste use clean samples only (a truncated answer's real size is "
        "unknown). Put proposed scales under token_estimator.scales in "
        "models.yaml.",
        highlight=False,
    )
