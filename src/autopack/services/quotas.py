"""Provider limits shared by every executor of a deployment, counted in the database.

Each request to a provider that ``provider_quotas`` names is admitted by
:meth:`QuotaGate.admit` in one transaction: lock the provider's counters, count what
the last minute used (requests and tokens) and what the day, week and month used, and,
when the call fits, record a reservation; the same transaction, so ten executors in ten
processes (or on ten machines sharing the PostgreSQL database) share one quota instead
of each assuming all of it. The lock is a transaction-scoped advisory lock on
PostgreSQL; on SQLite the reservation's INSERT comes first, taking the database's write
lock, so the count that follows sees every committed reservation and no other can land
until this one commits.

A call over a per-minute limit waits until enough of the window has passed (up to the
quota's ``max_wait_seconds``), or fails at once with ``on_limit: fail``; a call over a
day, week or month token cap fails (waiting would not help). Failures are
:class:`~autopack.errors.BudgetExhausted` (budget ``provider_quota``) naming the provider,
the limit and how to change it, so the run ends with that reason.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from autopack.config import ProviderQuota
from autopack.db.orm import LlmUsageEvent, ProviderReservation, utcnow
from autopack.db.session import unit_of_work
from autopack.errors import BudgetExhausted
from autopack.llm.base import Completion, LLMRequest

_PERIODS = (("day", 1), ("week", 7), ("month", 30))


@dataclass(frozen=True)
class Ticket:
    """An admitted call: its reservation row."""

    reservation_id: int
    provider: str


def estimate_tokens(request: LLMRequest) -> int:
    """What a request may use at most: its prompt (about 4 characters a token) plus its
    output limit. Settled to the actual total when the call ends."""
    return len(request.prompt_text()) // 4 + request.max_tokens


class QuotaGate:
    """Admits provider requests against ``quotas`` (``provider_quotas`` of models.yaml).

    ``window_seconds`` is the per-minute window (tests shorten it); ``clock`` gives the
    current time and ``sleep`` waits."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        quotas: Mapping[str, ProviderQuota],
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._factory = factory
        self._quotas = dict(quotas)
        self._window = timedelta(seconds=window_seconds)
        self._clock = clock
        self._sleep = sleep

    def admit(self, provider: str, request: LLMRequest) -> Ticket | None:
        """Reserve room for ``request`` with ``provider``; wait or raise BudgetExhausted
        when there is none. None for a provider without limits (nothing recorded)."""
        quota = self._quotas.get(provider)
        if quota is None:
            return None
        tokens = estimate_tokens(request)
        waited = 0.0
        while True:
            with unit_of_work(self._factory) as session:
                admitted, wait = self._try(session, provider, quota, tokens, request.run_id)
            if admitted is not None:
                return Ticket(reservation_id=admitted, provider=provider)
            assert wait is not None
            if quota.on_limit == "fail" or waited + wait > quota.max_wait_seconds:
                raise BudgetExhausted(
                    f"provider {provider!r} is at its shared rate limit "
                    f"({_describe(quota)}); "
                    + (
                        "on_limit is 'fail'"
                        if quota.on_limit == "fail"
                        else f"waiting {waited + wait:.0f}s would pass max_wait_seconds "
                        f"({quota.max_wait_seconds:.0f}s)"
                    )
                    + f"; raise provider_quotas.{provider} in models.yaml or run fewer at once",
                    budget="provider_quota",
                    provider=provider,
                )
            self._sleep(wait)
            waited += wait

    def settle(self, ticket: object, completion: Completion | None) -> None:
        """Replace the estimate by the actual total (none when the call failed)."""
        if not isinstance(ticket, Ticket):
            return
        used = completion.usage.total_tokens if completion is not None else 0
        with unit_of_work(self._factory) as session:
            session.execute(
                update(ProviderReservation)
                .where(ProviderReservation.id == ticket.reservation_id)
                .values(tokens=used, settled=True)
            )

    def _try(
        self,
        session: Session,
        provider: str,
        quota: ProviderQuota,
        tokens: int,
        run_id: str | None,
    ) -> tuple[int | None, float | None]:
        """Within the caller's transaction: the new reservation's id, or how long to wait."""
        now = self._clock()
        if session.get_bind().dialect.name == "postgresql":
            key = zlib.crc32(f"autopack-quota:{provider}".encode())
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        reservation = ProviderReservation(
            provider=provider, run_id=run_id, tokens=tokens, created_at=now
        )
        session.add(reservation)
        session.flush()  # on SQLite: the write lock, before anything is counted
        self._check_caps(session, provider, quota, tokens, now, reservation.id)
        since = now - self._window
        in_window = (
            ProviderReservation.provider == provider,
            ProviderReservation.created_at > since,
            ProviderReservation.id != reservation.id,
        )
        count, used, oldest = session.execute(
            select(
                func.count(ProviderReservation.id),
                func.coalesce(func.sum(ProviderReservation.tokens), 0),
                func.min(ProviderReservation.created_at),
            ).where(*in_window)
        ).one()
        if quota.tokens_per_minute is not None and tokens > quota.tokens_per_minute:
            session.execute(
                delete(ProviderReservation).where(ProviderReservation.id == reservation.id)
            )
            raise BudgetExhausted(
                f"a call to {provider!r} may use {tokens:,} tokens, more than its "
                f"tokens_per_minute ({quota.tokens_per_minute:,}); raise "
                f"provider_quotas.{provider}.tokens_per_minute",
                budget="provider_quota",
                provider=provider,
            )
        over_requests = (
            quota.requests_per_minute is not None and count + 1 > quota.requests_per_minute
        )
        over_tokens = (
            quota.tokens_per_minute is not None and used + tokens > quota.tokens_per_minute
        )
        if not (over_requests or over_tokens):
            return reservation.id, None
        session.execute(delete(ProviderReservation).where(ProviderReservation.id == reservation.id))
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=now.tzinfo)
        wait = (oldest + self._window - now).total_seconds() if oldest is not None else 0.0
        return None, max(wait, 0.05)

    def _check_caps(
        self,
        session: Session,
        provider: str,
        quota: ProviderQuota,
        tokens: int,
        now: datetime,
        reservation_id: int,
    ) -> None:
        for period, days in _PERIODS:
            cap = quota.cap_for(period)
            if cap is None:
                continue
            since = now - timedelta(days=days)
            spent = session.scalar(
                select(func.coalesce(func.sum(LlmUsageEvent.total_tokens), 0)).where(
                    LlmUsageEvent.provider == provider, LlmUsageEvent.created_at > since
                )
            )
            in_flight = session.scalar(
                select(func.coalesce(func.sum(ProviderReservation.tokens), 0)).where(
                    ProviderReservation.provider == provider,
                    ProviderReservation.settled.is_(False),
                    ProviderReservation.id != reservation_id,
                )
            )
            if int(spent or 0) + int(in_flight or 0) + tokens > cap:
                session.execute(
                    delete(ProviderReservation).where(ProviderReservation.id == reservation_id)
                )
                raise BudgetExhausted(
                    f"provider {provider!r} would pass its {period} token cap "
                    f"({cap:,}: {int(spent or 0):,} used, {int(in_flight or 0):,} in flight, "
                    f"this call up to {tokens:,}); raise provider_quotas.{provider}."
                    f"{'daily' if period == 'day' else period + 'ly'}_token_cap in models.yaml",
                    budget="provider_quota",
                    provider=provider,
                )


def _describe(quota: ProviderQuota) -> str:
    parts = []
    if quota.requests_per_minute is not None:
        parts.append(f"{quota.requests_per_minute} requests per minute")
    if quota.tokens_per_minute is not None:
        parts.append(f"{quota.tokens_per_minute:,} tokens per minute")
    return ", ".join(parts) or "no per-minute limit"
