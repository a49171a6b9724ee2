"""Route modules, one per resource; each exposes ``router``."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from autopack.api.deps import RateLimiter, require_api_key


def register_routes(app: FastAPI) -> None:
    """Mount every router; all but /health and the routes with their own authentication
    (``telegram``: Telegram's secret token; ``decision_links``: a signed single-use token)
    require an API key when keys are configured."""
    from autopack.api.routes import (
        apikeys,
        approvals,
        dashboard,
        decision_links,
        delivery,
        execution,
        health,
        issues,
        llm,
        metrics,
        phases,
        reports,
        runs,
        telegram,
        trajectory,
        workers,
    )

    app.state.run_rate_limiter = RateLimiter(app.state.settings.run_create_rate_per_minute)
    app.include_router(health.router)
    # Their own authentication instead of an API key (see each module's docstring).
    app.include_router(telegram.router)
    app.include_router(decision_links.router)
    protected = [Depends(require_api_key)]
    modules = (
        runs,
        trajectory,
        execution,
        phases,
        approvals,
        issues,
        reports,
        dashboard,
        llm,
        apikeys,
        delivery,
        metrics,
        workers,
    )
    for module in modules:
        app.include_router(module.router, dependencies=protected)
