"""Route modules, one per resource; each exposes ``router``."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from autopack.api.deps import RateLimiter, require_role


def register_routes(app: FastAPI) -> None:
    """Mount every router. All but /health require an API key (when keys are configured)
    and the role the access table (:mod:`autopack.api.access`) gives the route. Routes
    that carry their own authentication (``public-own-auth`` in the table) belong in
    their own router modules, included without ``protected``."""
    from autopack.api.routes import (
        apikeys,
        approvals,
        dashboard,
        decision_links,
        delivery,
        execution,
        governance,
        health,
        issues,
        llm,
        metrics,
        phases,
        reports,
        runs,
        telegram,
        trajectory,
        users,
        workers,
    )

    app.state.run_rate_limiter = RateLimiter(app.state.settings.run_create_rate_per_minute)
    app.include_router(health.router)
    # Their own authentication instead of an API key (see each module's docstring).
    app.include_router(telegram.router)
    app.include_router(decision_links.router)
    protected = [Depends(require_role)]
    modules = (
        runs,
        trajectory,
        execution,
        phases,
        approvals,
        governance,
        issues,
        reports,
        dashboard,
        llm,
        apikeys,
        delivery,
        metrics,
        workers,
        users,
    )
    for module in modules:
        app.include_router(module.router, dependencies=protected)
