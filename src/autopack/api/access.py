"""Who may call which route: one table of route -> least role, enforced in one place.

Every route the app serves (API, dashboard, event stream, documentation) has a row in
:data:`ROUTE_ACCESS`, keyed by method and path template: the least :class:`Role` its
caller needs, or ``public`` (no key: health, the docs, the login page) or
``public-own-auth`` (a route that checks its own credential, e.g. a webhook's secret
token or a signed link, and is registered outside the API-key protection). A route
missing from the table is refused for everyone (fail closed), and a test fails.

:func:`authorize` is the one check: the API's :func:`autopack.api.deps.require_role`
and the dashboard's :func:`autopack.web.auth.page_principal` both call it with the
caller's :class:`Principal` after authenticating it their own way (key, or key or
session cookie). ``docs/operations.md`` ("Roles") is rendered from this table by
:func:`render_markdown`; a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts

from autopack.domain.access import Principal, Role
from autopack.errors import Forbidden

Public = Literal["public", "public-own-auth"]
PUBLIC: Final = "public"
OWN_AUTH: Final = "public-own-auth"
Access = Role | Public

VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN

#: (method, path template) -> the least role needed; ``*`` stands for a mount (any method).
ROUTE_ACCESS: dict[tuple[str, str], Access] = {
    # Open to everyone: liveness, the API's description, the way in.
    ("GET", "/health"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("*", "/docs/static"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("*", "/ui/static"): PUBLIC,
    ("GET", "/ui/login"): PUBLIC,
    ("POST", "/ui/login"): PUBLIC,
    ("POST", "/ui/logout"): PUBLIC,
    # Their own credential instead of an API key: Telegram's secret token (then the
    # pressing account's role), a signed single-use link (then its user's role).
    ("POST", "/telegram/webhook"): OWN_AUTH,
    ("GET", "/approvals/{approval_id}/link"): OWN_AUTH,
    ("POST", "/approvals/{approval_id}/link"): OWN_AUTH,
    # Who am I: any role.
    ("GET", "/me"): VIEWER,
    # Runs: reading is for viewers; creating, executing and cancelling for operators.
    ("POST", "/runs/start"): OPERATOR,
    ("POST", "/runs"): OPERATOR,
    ("GET", "/runs"): VIEWER,
    ("GET", "/runs/{run_id}"): VIEWER,
    ("GET", "/runs/{run_id}/status"): VIEWER,
    ("GET", "/runs/{run_id}/trajectory"): VIEWER,
    ("GET", "/runs/{run_id}/governance"): VIEWER,
    ("GET", "/runs/{run_id}/phases"): VIEWER,
    ("POST", "/runs/{run_id}/execute"): OPERATOR,
    ("POST", "/runs/{run_id}/cancel"): OPERATOR,
    ("GET", "/runs/{run_id}/integration_status"): VIEWER,
    # An external executor submitting a phase's results changes the run: operators.
    ("POST", "/runs/{run_id}/phases/{phase_id}/update_status"): OPERATOR,
    ("POST", "/runs/{run_id}/phases/{phase_id}/builder_result"): OPERATOR,
    ("POST", "/runs/{run_id}/phases/{phase_id}/auditor_request"): OPERATOR,
    ("POST", "/runs/{run_id}/phases/{phase_id}/auditor_result"): OPERATOR,
    ("POST", "/runs/{run_id}/phases/{phase_id}/record_issue"): OPERATOR,
    ("GET", "/approvals"): VIEWER,
    ("POST", "/approvals/{approval_id}/approve"): OPERATOR,
    ("POST", "/approvals/{approval_id}/reject"): OPERATOR,
    ("GET", "/runs/{run_id}/issues/index"): VIEWER,
    ("GET", "/project/issues/backlog"): VIEWER,
    ("GET", "/metrics/runs"): VIEWER,
    ("GET", "/metrics/tiers/{run_id}"): VIEWER,
    ("GET", "/reports/issue_backlog_summary"): VIEWER,
    ("GET", "/reports/budget_analysis"): VIEWER,
    ("GET", "/reports/run_summary/{run_id}"): VIEWER,
    ("GET", "/dashboard/runs/{run_id}/status"): VIEWER,
    ("POST", "/dashboard/human-notes"): OPERATOR,
    ("GET", "/dashboard/usage"): VIEWER,
    ("GET", "/dashboard/models"): VIEWER,
    ("POST", "/dashboard/models/override"): OPERATOR,
    ("GET", "/runs/{run_id}/diff"): VIEWER,
    ("POST", "/runs/{run_id}/merge"): OPERATOR,
    ("POST", "/runs/{run_id}/push"): OPERATOR,
    ("GET", "/metrics"): VIEWER,
    ("GET", "/workers"): VIEWER,
    # Keys and users: admins.
    ("GET", "/apikeys"): ADMIN,
    ("DELETE", "/apikeys/{key_id}"): ADMIN,
    ("GET", "/users"): ADMIN,
    ("POST", "/users"): ADMIN,
    ("POST", "/users/{name}/disable"): ADMIN,
    # The dashboard: the same rules as the API routes its pages and forms stand for.
    ("GET", "/events"): VIEWER,
    ("GET", "/ui/"): VIEWER,
    ("POST", "/ui/runs"): OPERATOR,
    ("GET", "/ui/runs/{run_id}"): VIEWER,
    ("POST", "/ui/runs/{run_id}/cancel"): OPERATOR,
    ("POST", "/ui/runs/{run_id}/resume"): OPERATOR,
    ("GET", "/ui/runs/{run_id}/phases/{phase_id}"): VIEWER,
    ("GET", "/ui/approvals"): VIEWER,
    ("POST", "/ui/approvals/{approval_id}/approve"): OPERATOR,
    ("POST", "/ui/approvals/{approval_id}/reject"): OPERATOR,
    ("GET", "/ui/models"): VIEWER,
    ("POST", "/ui/models/override"): OPERATOR,
    ("GET", "/ui/issues"): VIEWER,
    ("GET", "/ui/decisions"): VIEWER,
    ("GET", "/ui/notes"): VIEWER,
    ("POST", "/ui/notes"): OPERATOR,
    ("GET", "/ui/health"): VIEWER,
    ("GET", "/ui/runs/{run_id}/delivery"): VIEWER,
    ("POST", "/ui/runs/{run_id}/merge"): OPERATOR,
    ("POST", "/ui/runs/{run_id}/push"): OPERATOR,
    ("GET", "/ui/usage"): VIEWER,
}


def registered_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) ``app`` serves; ``*`` for a mount. HEAD, which
    Starlette adds to GET routes, is left out: it answers as its GET does."""
    found: list[tuple[str, str]] = []
    for route in iter_route_contexts(app.routes):
        path = route.path
        if path is None:
            continue
        methods = route.methods or {"*"}
        found.extend((method, path) for method in sorted(methods) if method != "HEAD")
    return found


def needed_for(method: str, path: str) -> Access | None:
    """The table's entry for a route (HEAD as GET), or None when it has none."""
    method = "GET" if method == "HEAD" else method
    return ROUTE_ACCESS.get((method, path))


def route_key(request: Request) -> tuple[str, str]:
    """The (method, path template) of the route serving ``request``."""
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    return request.method, str(path)


def authorize(principal: Principal, request: Request) -> Principal:
    """Let ``principal`` through when its role is at least what the route needs; raise
    :class:`Forbidden` (403) otherwise, and for a route the table does not know."""
    method, path = route_key(request)
    needed = needed_for(method, path)
    if needed is None:
        raise Forbidden(
            f"{method} {path} has no entry in the access table; nobody may use it",
            route=f"{method} {path}",
        )
    if isinstance(needed, Role) and not principal.may(needed):
        raise Forbidden(
            f"{principal.identity} has the {principal.role.value} role; {method} {path} "
            f"needs {needed.value} or above (an admin can give you a key of a user with "
            "that role)",
            role=principal.role.value,
            needed=needed.value,
        )
    return principal


def render_markdown(rows: Iterable[tuple[tuple[str, str], Access]] | None = None) -> str:
    """The table as Markdown, in table order, for docs/operations.md ("Roles")."""
    items = list(ROUTE_ACCESS.items() if rows is None else rows)
    lines = [
        "| Method | Route | Least role |",
        "|---|---|---|",
    ]
    for (method, path), access in items:
        shown = access.value if isinstance(access, Role) else access
        lines.append(f"| {method} | `{path}` | {shown} |")
    return "\n".join(lines) + "\n"
