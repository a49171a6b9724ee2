"""Lease fencing on SQLite and PostgreSQL: tokens rise with each new owner, a stale
executor's writes are refused whole, and a takeover cannot slip into a fenced transaction."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from autopack.db.orm import DecisionLog, Run, RunLease, utcnow
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.errors import LeaseHeld, LeaseLost
from autopack.services import leases
from autopack.services import runs as run_service
from autopack.settings import Settings

SPEC = RunSpec.model_validate(
    {
        "run_id": "fence",
        "goal": "Fence it",
        "tiers": [{"tier_id": "T1", "name": "One"}],
        "phases": [{"phase_id": "a", "name": "A", "tier_id": "T1"}],
    }
)


@pytest.fixture
def factory(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    with unit_of_work(session_factory) as session:
        run_service.create_run(session, SPEC, runs_dir=settings.runs_dir)
    return session_factory


def _take(factory: sessionmaker[Session], owner: str, *, at_seconds: int = 0) -> leases.Fence:
    with unit_of_work(factory) as session:
        run = leases.acquire_lease(
            session, "fence", owner, seconds=60, now=utcnow() + timedelta(seconds=at_seconds)
        )
        return leases.Fence(run_id="fence", owner=owner, token=run.lease_token)


def _decisions(factory: sessionmaker[Session]) -> list[tuple[str, int | None]]:
    with factory() as session:
        rows = session.execute(
            select(DecisionLog.decision, DecisionLog.lease_token).order_by(DecisionLog.id)
        )
        return [(r[0], r[1]) for r in rows]


def test_the_token_rises_with_each_new_owner_and_history_names_each_holder(
    factory: sessionmaker[Session],
) -> None:
    a = _take(factory, "host-a")
    renewed = _take(factory, "host-a", at_seconds=10)
    assert renewed.token == a.token == 1  # a renewal keeps the token
    b = _take(factory, "host-b", at_seconds=500)  # A's lease expired: taken over
    assert b.token == 2
    with unit_of_work(factory) as session:
        assert leases.release_lease(session, "fence", "host-b", token=b.token)
    again = _take(factory, "host-b", at_seconds=600)  # after a release: a new acquisition
    assert again.token == 3
    with factory() as session:
        history = [
            (h.token, h.owner, h.released_at is not None)
            for h in leases.lease_history(session, "fence")
        ]
    assert history == [(1, "host-a", False), (2, "host-b", True), (3, "host-b", False)]


def test_a_stale_executor_writes_nothing_after_a_takeover(
    factory: sessionmaker[Session],
) -> None:
    old = _take(factory, "old")
    with leases.fenced(old), unit_of_work(factory) as session:
        session.add(DecisionLog(run_id="fence", decision="before", rationale=""))
    new = _take(factory, "new", at_seconds=500)

    # An ORM write (several rows in one transaction): refused whole.
    with pytest.raises(LeaseLost) as caught, leases.fenced(old), unit_of_work(factory) as s:
        run = s.get(Run, "fence")
        assert run is not None
        run.tokens_used += 1000
        s.add(DecisionLog(run_id="fence", decision="stale", rationale=""))
    assert "new holds it with token 2" in str(caught.value)
    # A bulk statement: refused too.
    with pytest.raises(LeaseLost), leases.fenced(old), unit_of_work(factory) as s:
        s.execute(update(Run).where(Run.id == "fence").values(failure_reason="stale"))
    # Renewing does not take the lease back either.
    with pytest.raises(LeaseLost), unit_of_work(factory) as s:
        leases.renew_lease(s, old, seconds=60, now=utcnow())
    # Nor does releasing it.
    with unit_of_work(factory) as s:
        assert not leases.release_lease(s, "fence", "old", token=old.token)

    with leases.fenced(new), unit_of_work(factory) as session:
        session.add(DecisionLog(run_id="fence", decision="after", rationale=""))
    with factory() as session:
        run = session.get(Run, "fence")
        assert run is not None
        assert (run.tokens_used, run.failure_reason, run.lease_owner) == (0, None, "new")
    # The write history: one writer per token, each decision stamped with its token.
    assert _decisions(factory) == [("before", 1), ("after", 2)]


def test_a_takeover_waits_for_a_fenced_transaction_that_already_checked(
    factory: sessionmaker[Session],
) -> None:
    """The check locks the run's row: a takeover racing a fenced transaction lands after
    its commit (so the stale write is whole and before it), never in the middle."""
    old = _take(factory, "old")
    order: list[str] = []
    checked = threading.Event()

    def takeover() -> None:
        checked.wait(10)
        _take(factory, "new", at_seconds=500)
        order.append("takeover")

    thread = threading.Thread(target=takeover)
    thread.start()
    with leases.fenced(old), unit_of_work(factory) as session:
        session.add(DecisionLog(run_id="fence", decision="in flight", rationale=""))
        session.flush()  # the fence is checked here, and the row stays locked
        checked.set()
        time.sleep(0.5)  # the takeover is running now and must wait
        order.append("stale commit")
    thread.join(20)
    assert order == ["stale commit", "takeover"]
    with pytest.raises(LeaseLost), leases.fenced(old), unit_of_work(factory) as session:
        session.add(DecisionLog(run_id="fence", decision="too late", rationale=""))
    assert _decisions(factory) == [("in flight", 1)]


def test_two_executors_racing_for_a_free_run_never_share_a_token(
    factory: sessionmaker[Session],
) -> None:
    got: list[int] = []
    refused: list[str] = []
    barrier = threading.Barrier(4)

    def race(owner: str) -> None:
        barrier.wait(10)
        try:
            got.append(_take(factory, owner).token)
        except LeaseHeld:
            refused.append(owner)

    threads = [threading.Thread(target=race, args=(f"ex-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert got == [1] and len(refused) == 3
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(RunLease)) == 1


def test_outside_an_executor_writes_are_not_fenced(factory: sessionmaker[Session]) -> None:
    _take(factory, "executor")
    with unit_of_work(factory) as session:  # the API cancelling, a person's note: allowed
        run_service.request_cancel(session, "fence", actor="test")
    with factory() as session:
        run = session.get(Run, "fence")
        assert run is not None and run.cancel_requested


def test_assert_lease_current_reads_without_writing(factory: sessionmaker[Session]) -> None:
    old = _take(factory, "old")
    with factory() as session:
        leases.assert_lease_current(session, old)
    _take(factory, "new", at_seconds=500)
    with pytest.raises(LeaseLost), factory() as session:
        leases.assert_lease_current(session, old)
