"""Metrics and reports: run and tier metrics, backlog summary, budget analysis, summaries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from autopack.api.deps import SessionDep
from autopack.domain.states import RunState
from autopack.services import reports

router = APIRouter(tags=["metrics and reports"])
_404: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown run"}}


@router.get("/metrics/runs")
def run_metrics(session: SessionDep, status: RunState | None = None) -> dict[str, Any]:
    """Token utilization, issue counts and sizes of every run; filter by ``status``."""
    return reports.run_metrics(session, status)


@router.get("/metrics/tiers/{run_id}", responses=_404)
def tier_metrics(run_id: str, session: SessionDep) -> dict[str, Any]:
    return reports.tier_metrics(session, run_id)


@router.get("/reports/issue_backlog_summary")
def issue_backlog_summary(session: SessionDep) -> dict[str, Any]:
    return reports.issue_backlog_summary(session)


@router.get("/reports/budget_analysis")
def budget_analysis(session: SessionDep) -> dict[str, Any]:
    """Runs that ended on a budget (token cap, phase limit, budget exhausted)."""
    return reports.budget_analysis(session)


@router.get("/reports/run_summary/{run_id}", responses=_404)
def run_summary(run_id: str, session: SessionDep) -> dict[str, Any]:
    """Everything about one run: budgets, issues, tiers, and phases with their attempts."""
    return reports.run_summary(session, run_id)
