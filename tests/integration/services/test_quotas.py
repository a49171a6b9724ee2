"""Provider limits shared through the database, on SQLite and PostgreSQL: per-minute
limits wait or fail per the configuration, period caps fail, and two processes share one
quota instead of each assuming all of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from autopack.config import ProviderQuota
from autopack.db.orm import LlmUsageEvent, ProviderReservation
from autopack.db.session import unit_of_work
from autopack.errors import BudgetExhausted
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.services.quotas import QuotaGate, Ticket
from autopack.settings import Settings


def _request(max_tokens: int = 100) -> LLMRequest:
    return LLMRequest(
        role="builder", system="s", messages=(Message("user", "x" * 40),), max_tokens=max_tokens
    )


class FakeTime:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def test_a_call_over_the_request_rate_fails_when_so_configured(
    session_factory: sessionmaker[Session],
) -> None:
    quota = ProviderQuota(requests_per_minute=2, on_limit="fail")
    gate = QuotaGate(session_factory, {"p": quota})
    first = gate.admit("p", _request())
    assert isinstance(first, Ticket)
    gate.admit("p", _request())
    with pytest.raises(BudgetExhausted) as caught:
        gate.admit("p", _request())
    assert caught.value.budget == "provider_quota"
    assert "2 requests per minute" in caught.value.message
    assert "provider_quotas.p" in caught.value.message
    assert gate.admit("unlimited", _request()) is None  # no quota: nothing counted


def test_a_call_over_the_token_rate_waits_for_the_window(
    session_factory: sessionmaker[Session],
) -> None:
    fake = FakeTime()
    quota = ProviderQuota(tokens_per_minute=300)
    gate = QuotaGate(session_factory, {"p": quota}, clock=fake.clock, sleep=fake.sleep)
    ticket = gate.admit("p", _request(200))  # 10 prompt + 200 output tokens reserved
    gate.settle(
        ticket,
        Completion("ok", "p", "m", Usage(150, 50, 200), stop_reason="end"),
    )
    fake.now += timedelta(seconds=10)
    gate.admit("p", _request(200))  # 200 used in the window + 210 > 300: wait ~50 s
    assert len(fake.slept) == 1 and 49 <= fake.slept[0] <= 51
    with pytest.raises(BudgetExhausted, match="more than its tokens_per_minute"):
        gate.admit("p", _request(1000))


def test_waiting_longer_than_allowed_fails(session_factory: sessionmaker[Session]) -> None:
    fake = FakeTime()
    quota = ProviderQuota(requests_per_minute=1, max_wait_seconds=10)
    gate = QuotaGate(session_factory, {"p": quota}, clock=fake.clock, sleep=fake.sleep)
    gate.admit("p", _request())
    with pytest.raises(BudgetExhausted, match="would pass max_wait_seconds"):
        gate.admit("p", _request())
    assert fake.slept == []


def test_a_day_cap_counts_recorded_usage_and_calls_in_flight(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        session.add(LlmUsageEvent(provider="p", model="m", total_tokens=700))
    gate = QuotaGate(session_factory, {"p": ProviderQuota(daily_token_cap=1000)})
    gate.admit("p", _request(200))  # 700 + 210 <= 1000, in flight until settled
    with pytest.raises(BudgetExhausted, match="day token cap") as caught:
        gate.admit("p", _request(200))
    assert "daily_token_cap" in caught.value.message


CHILD = """
import json, sys, time
from autopack.config import ProviderQuota
from autopack.db.session import make_engine, make_session_factory
from autopack.errors import BudgetExhausted
from autopack.llm.base import LLMRequest, Message
from autopack.services.quotas import QuotaGate

url, mode, calls, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
engine = make_engine(url)
quota = ProviderQuota(requests_per_minute=2, on_limit=mode, max_wait_seconds=30)
gate = QuotaGate(make_session_factory(engine), {"p": quota}, window_seconds=window)
request = LLMRequest(role="builder", system="s", messages=(Message("user", "x"),), max_tokens=5)
admitted, refused = [], 0
for _ in range(calls):
    try:
        gate.admit("p", request)
        admitted.append(time.time())
    except BudgetExhausted:
        refused += 1
print(json.dumps({"admitted": admitted, "refused": refused}))
engine.dispose()
"""


def _children(settings: Settings, mode: str, calls: int, window: float) -> list[dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [settings.effective_database_url, mode, str(calls), str(window)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, *args], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    out = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        out.append(json.loads(stdout))
    return out


def test_two_processes_share_one_quota(settings: Settings, db: object, tmp_path: Path) -> None:
    results = _children(settings, "fail", 3, 60.0)
    admitted = sum(len(r["admitted"]) for r in results)  # type: ignore[arg-type]
    refused = sum(int(r["refused"]) for r in results)  # type: ignore[call-overload]
    assert (admitted, refused) == (2, 4)  # 2 requests per minute between them, not each


def test_two_waiting_processes_keep_to_the_shared_rate(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    started = time.time()
    results = _children(settings, "wait", 3, 1.0)
    assert all(len(r["admitted"]) == 3 and r["refused"] == 0 for r in results)  # type: ignore[arg-type]
    with session_factory() as session:
        times = list(
            session.scalars(
                select(ProviderReservation.created_at).order_by(ProviderReservation.created_at)
            )
        )
    # Never more than 2 admissions within any one-second window, across both processes.
    assert len(times) == 6
    assert all((times[i + 2] - times[i]).total_seconds() >= 1.0 for i in range(4))
    assert time.time() - started >= 2.0
