"""The report of a batch of runs executed at once: one Markdown and one JSON file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from autopack.services.progress import RunProgress


class BatchRun(BaseModel):
    """One run of the batch: its progress at the end, its timing, and an error that kept
    it from executing (another executor held it, the run did not exist ...)."""

    progress: RunProgress | None
    run_id: str
    started_at: float | None
    ended_at: float | None
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch is not None else None


def report_data(
    runs: list[BatchRun], *, max_concurrent: int, wall_seconds: float
) -> dict[str, Any]:
    """The report as JSON-ready data."""
    rows: list[dict[str, Any]] = []
    for r in runs:
        p = r.progress
        rows.append(
            {
                "run_id": r.run_id,
                "state": p.state if p else None,
                "failure_reason": (p.failure_reason if p else None) or r.error,
                "error": r.error,
                "started_at": _iso(r.started_at),
                "ended_at": _iso(r.ended_at),
                "seconds": round(r.seconds, 2) if r.seconds is not None else None,
                "tokens_used": p.tokens_used if p else 0,
                "cost_usd": p.cost_usd if p else None,
                "cost_complete": p.cost_complete if p else True,
                "phases_done": p.phases_done if p else 0,
                "phases_total": p.phases_total if p else 0,
                "branch": p.branch if p else None,
            }
        )
    costs = [row["cost_usd"] for row in rows if row["cost_usd"] is not None]
    return {
        "max_concurrent": max_concurrent,
        "wall_seconds": round(wall_seconds, 2),
        "runs": rows,
        "succeeded": sum(1 for row in rows if row["state"] == "DONE_SUCCESS"),
        "total_tokens": sum(int(row["tokens_used"]) for row in rows),
        "total_cost_usd": round(sum(costs), 6) if costs else None,
        "cost_complete": all(row["cost_complete"] for row in rows),
    }


def render_markdown(data: dict[str, Any]) -> str:
    """The report as a Markdown page."""
    cost = data["total_cost_usd"]
    lines = [
        "# Autopack batch report",
        "",
        f"{len(data['runs'])} runs, at most {data['max_concurrent']} at once: "
        f"{data['succeeded']} succeeded, wall time {data['wall_seconds']:.1f}s, "
        f"{data['total_tokens']:,} tokens, cost "
        + (f"${cost:.4f}" if cost is not None else "unknown")
        + ("" if data["cost_complete"] else " (some calls had no price)"),
        "",
        "| run | state | seconds | tokens | cost (USD) | phases | reason |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in data["runs"]:
        seconds = f"{row['seconds']:.1f}" if row["seconds"] is not None else "-"
        cost_cell = f"{row['cost_usd']:.4f}" if row["cost_usd"] is not None else "-"
        reason = (row["failure_reason"] or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {row['run_id']} | {row['state'] or '-'} | {seconds} | {row['tokens_used']:,} "
            f"| {cost_cell} | {row['phases_done']}/{row['phases_total']} | {reason} |"
        )
    return "\n".join(lines) + "\n"


def write_report(data: dict[str, Any], directory: Path, *, now: datetime) -> tuple[Path, Path]:
    """Write ``batch-<time>.md`` and ``.json`` under ``directory``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"batch-{now.strftime('%Y%m%dT%H%M%S')}-{now.microsecond:06d}"
    markdown = directory / f"{stem}.md"
    as_json = directory / f"{stem}.json"
    markdown.write_text(render_markdown(data), encoding="utf-8")
    as_json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return markdown, as_json
