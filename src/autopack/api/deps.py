"""Dependency aliases for routes (``SessionDep``, ``SettingsDep``, ``FactoryDep``,
``AuthDep``), API-key checking and run-creation rate limiting."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from autopack.api.access import authorize
from autopack.db.session import unit_of_work
from autopack.domain.access import Principal
from autopack.services import apikeys
from autopack.settings import Settings

# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in
# its thread pool, and on the polled status routes those hops were most of the per-request
# work left (8 thread-pool calls per status request, 5 now: the key check, the session's
# start and end, the route and its response; tests/integration/api/test_api_status_load.py).


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session in its own unit of work: committed after the route returns normally,
    rolled back when it raises."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with unit_of_work(factory) as session:
        yield session


async def get_factory(request: Request) -> sessionmaker[Session]:
    """The session factory, for use cases that need more than one transaction."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


SessionDep = Annotated[Session, Depends(get_session)]
FactoryDep = Annotated[sessionmaker[Session], Depends(get_factory)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def require_api_key(request: Request, factory: FactoryDep, settings: SettingsDep) -> Principal:
    """Check ``X-API-Key`` or ``Authorization: Bearer`` against configured and stored keys,
    and return the caller (see :mod:`autopack.services.apikeys`): its identity is what the
    server records as the actor of what the caller decides, its role what it may do. A
    key of a disabled user is refused like an unknown one.

    With no key configured anywhere, requests pass only on a loopback server (``autopack
    serve`` refuses to start on another address without a key), as ``local``. A server
    that listens beyond loopback never opens up: when its last key is revoked it refuses
    everyone until a new key is created.

    The check is its own short transaction, committed before the route runs: it writes
    ``last_used_at``, and on SQLite a write held open for the whole request would lock
    out the route's own transactions (a submitted result would wait, then be lost).
    """
    presented = presented_key(request)
    configured = settings.plain_api_keys()
    with unit_of_work(factory) as session:
        if not configured and settings.is_loopback and not apikeys.any_active_key(session):
            return apikeys.LOCAL_PRINCIPAL
        principal = apikeys.authenticate_key(session, presented, configured) if presented else None
    if principal is not None:
        return principal
    raise HTTPException(
        status_code=401,
        detail="missing or invalid API key: send it as X-API-Key or Authorization: Bearer "
        "(create one with `autopack apikey create`)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def presented_key(request: Request) -> str | None:
    """The key a request carries, as ``X-API-Key`` or ``Authorization: Bearer``."""
    presented = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not presented and auth.lower().startswith("bearer "):
        presented = auth[7:].strip()
    return presented or None


async def require_role(
    request: Request, principal: Annotated[Principal, Depends(require_api_key)]
) -> Principal:
    """The API's one authorization dependency: the caller, let through only when its role
    is at least what :data:`autopack.api.access.ROUTE_ACCESS` says the route needs (403
    otherwise). Every protected router has it; a route that needs the caller asks for
    :data:`AuthDep`, the same dependency (solved once per request)."""
    return authorize(principal, request)


#: The caller, authorized for the route: ``principal.identity`` (``user:<name>``,
#: ``config-key:<n>`` or ``local``) is what decisions record, ``principal.role`` its role.
AuthDep = Annotated[Principal, Depends(require_role)]


class RateLimiter:
    """A sliding one-minute window per client, in process memory."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, client: str) -> float | None:
        """Record a hit; return None if allowed, else the seconds until the next slot."""
        now = self.clock()
        with self._lock:
            hits = self._hits[client]
            while hits and now - hits[0] >= 60.0:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return 60.0 - (now - hits[0])
            hits.append(now)
            return None


async def limit_run_creation(request: Request) -> None:
    """No I/O (a short in-memory critical section), so ``async``: FastAPI would run a
    plain ``def`` dependency in its thread pool, one more hop for every run created."""
    limiter: RateLimiter = request.app.state.run_rate_limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.check(client)
    if wait is not None:
        raise HTTPException(
            status_code=429,
            detail=f"too many runs created from {client}; at most {limiter.per_minute} per "
            f"minute (AUTOPACK_RUN_CREATE_RATE_PER_MINUTE). Retry in {int(wait) + 1}s.",
            headers={"Retry-After": str(int(wait) + 1)},
        )


RunCreationLimit = Depends(limit_run_creation)


def run_continuer(request: Request) -> Callable[[str], object]:
    """How this server continues a parked run: its local pool, or a job for the workers
    (``services.execution.submit_run`` chooses by settings)."""
    from autopack.services import execution

    app = request.app

    def continue_run(run_id: str) -> object:
        pool = getattr(app.state, "executor_pool", None)
        return execution.submit_run(
            app.state.session_factory,
            app.state.settings,
            run_id,
            local=pool.continue_run if pool is not None else None,
            queue=getattr(app.state, "run_queue", None),
        )

    return continue_run
