"""What recording an LLM call costs and guarantees, on SQLite and PostgreSQL: a fixed
number of statements and no read (the counters' UPDATEs return what they need), an
unknown run or phase refused with nothing written, the token cap's warning decided by
the increment that crosses it, and the day's summary upserted per UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from autopack.config import load_models_config
from autopack.db.orm import LlmUsageDaily, LlmUsageEvent, Notification, Phase, Run, Tier
from autopack.db.session import unit_of_work
from autopack.errors import NotFoundError
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.services import phases as phase_service
from autopack.services.usage import RecordedCall, record_usage
from sql_statements import recorded_statements

PRICES = load_models_config().price_table()


def _request(phase_id: str | None = "p1", run_id: str | None = "run-1") -> LLMRequest:
    return LLMRequest(
        role="builder",
        system="s",
        messages=(Message("user", "u"),),
        max_tokens=100,
        run_id=run_id,
        phase_id=phase_id,
    )


def _completion(usage: Usage) -> Completion:
    return Completion(
        text="x", provider="anthropic", model="claude-sonnet-4-5", usage=usage, stop_reason="end"
    )


def _record(
    session: Session,
    tokens: int,
    phase_id: str | None = "p1",
    run_id: str | None = "run-1",
    at: datetime | None = None,
) -> RecordedCall:
    return record_usage(
        session,
        completion=_completion(Usage.total_only(tokens)),
        request=_request(phase_id, run_id),
        pricing=PRICES,
        at=at,
    )


def _counters(factory: sessionmaker[Session]) -> tuple[int, dict[str, int], dict[str, int]]:
    with factory() as session:
        run = session.scalar(select(Run.tokens_used).where(Run.id == "run-1"))
        phases = session.execute(select(Phase.phase_id, Phase.tokens_used)).all()
        tiers = session.execute(select(Tier.tier_id, Tier.tokens_used)).all()
    return int(run or 0), {p: int(n) for p, n in phases}, {t: int(n) for t, n in tiers}


def _kinds(statements: list[str]) -> list[str]:
    """Each statement as its verb and table, e.g. ``UPDATE runs``."""
    out = []
    for s in statements:
        words = s.split()
        verb = words[0].upper()
        table = words[2] if verb in ("INSERT", "DELETE") else words[1]
        out.append(f"{verb} {table}")
    return out


def test_a_call_is_five_writes_and_no_read_whatever_the_calls_before_it(
    any_engine: Engine, make_factory, seed_run
) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(any_engine)
    seed_run(factory)
    per_call = [
        "UPDATE runs",
        "UPDATE phases",
        "UPDATE tiers",
        "INSERT llm_usage_events",
        "INSERT llm_usage_daily",
    ]
    for calls in (1, 4):
        with recorded_statements(any_engine) as seen, unit_of_work(factory) as session:
            for _ in range(calls):
                _record(session, 10)
        assert _kinds(seen) == per_call * calls, seen
    # A call of the run alone skips the phase and its tier; a call of no run, the run too.
    with recorded_statements(any_engine) as seen, unit_of_work(factory) as session:
        _record(session, 10, phase_id=None)
        _record(session, 10, phase_id=None, run_id=None)
    assert _kinds(seen) == [
        "UPDATE runs",
        "INSERT llm_usage_events",
        "INSERT llm_usage_daily",
        "INSERT llm_usage_events",
        "INSERT llm_usage_daily",
    ]
    assert _counters(factory) == (60, {"p1": 50, "p2": 0, "p3": 0}, {"T1": 50, "T2": 0})


def test_the_recorded_call_is_the_stored_row(any_engine: Engine, make_factory, seed_run) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(any_engine)
    seed_run(factory)
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with unit_of_work(factory) as session:
        call = record_usage(
            session,
            completion=_completion(Usage.reported(1200, 300)),
            request=_request("p3"),
            pricing=PRICES,
            at=at,
        )
    with factory() as session:
        stored = session.get(LlmUsageEvent, call.id)
        assert stored is not None
        assert (
            stored.created_at,
            stored.run_id,
            stored.phase_id,
            stored.prompt_tokens,
            stored.completion_tokens,
            stored.total_tokens,
            stored.cost_usd,
        ) == (at, "run-1", "p3", 1200, 300, 1500, call.cost_usd)
    assert call.cost_usd == pytest.approx(1200 * 3e-6 + 300 * 15e-6)
    assert _counters(factory) == (1500, {"p1": 0, "p2": 0, "p3": 1500}, {"T1": 0, "T2": 1500})


@pytest.mark.parametrize(
    ("run_id", "phase_id", "message"),
    [
        ("ghost", "p1", "usage for unknown run 'ghost'"),
        ("ghost", None, "usage for unknown run 'ghost'"),
        ("run-1", "p9", "usage for unknown phase 'p9' of run 'run-1'"),
    ],
    ids=["unknown-run", "unknown-run-no-phase", "unknown-phase"],
)
def test_an_unknown_run_or_phase_is_refused_having_written_nothing(
    any_engine: Engine, make_factory, seed_run, run_id: str, phase_id: str | None, message: str
) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(any_engine)
    seed_run(factory)
    with unit_of_work(factory) as session:
        _record(session, 7)
        # A caller that goes on after the refusal commits nothing of the refused call.
        with pytest.raises(NotFoundError) as refused:
            _record(session, 1000, phase_id=phase_id, run_id=run_id)
        assert str(refused.value) == message
        assert refused.value.context["run_id"] == run_id
    assert _counters(factory) == (7, {"p1": 7, "p2": 0, "p3": 0}, {"T1": 7, "T2": 0})
    with factory() as session:
        assert session.scalars(select(LlmUsageEvent.total_tokens)).all() == [7]
        assert session.scalars(select(LlmUsageDaily.calls)).all() == [1]


def test_a_call_past_the_cap_is_counted_whole_and_warns_once(
    any_engine: Engine, make_factory, seed_run
) -> None:  # type: ignore[no-untyped-def]
    """The cap is the executor's to enforce (at its next checkpoint): a call that takes
    the run past it is recorded and counted whole; ``budget_80`` is queued by the one
    increment that crossed 80%, even when that increment also passed the cap."""
    factory = make_factory(any_engine)
    seed_run(factory)
    with unit_of_work(factory) as session:
        session.execute(update(Run).where(Run.id == "run-1").values(token_cap=1000))
    with unit_of_work(factory) as session:
        _record(session, 700)
        loaded = session.get(Run, "run-1")
        assert loaded is not None and loaded.tokens_used == 700
        _record(session, 450)  # 1150: past 80% and past the cap in one call
        assert loaded.tokens_used == 1150  # the loaded row sees the new total
        _record(session, 100)
    with factory() as session:
        warnings = session.scalars(
            select(Notification).where(Notification.event == "budget_80")
        ).all()
        assert [w.payload["text"] for w in warnings] == ["1150 of 1000 tokens used"]
        assert session.scalar(select(Run.tokens_used)) == 1250
        assert len(session.scalars(select(LlmUsageEvent.id)).all()) == 3


def test_a_submitted_result_counts_in_three_updates_and_a_cap_set_before_counts(
    any_engine: Engine, make_factory, seed_run
) -> None:  # type: ignore[no-untyped-def]
    """``phases.add_tokens`` (the other path to the counter) reads nothing either, and a
    cap changed earlier in the same transaction decides its warning."""
    factory = make_factory(any_engine)
    seed_run(factory)
    with unit_of_work(factory) as session:
        phase = phase_service.get_phase(session, "run-1", "p2")
        phase.run.token_cap = 100  # pending: flushed before the counter reads the cap
        session.flush()
        with recorded_statements(any_engine) as seen:
            phase_service.add_tokens(phase, 90)
        assert _kinds(seen)[:3] == ["UPDATE runs", "UPDATE phases", "UPDATE tiers"]
        assert not any(s.lstrip().upper().startswith("SELECT") for s in seen), seen
    with factory() as session:
        assert session.scalar(select(Run.tokens_used)) == 90
        warnings = session.scalars(select(Notification.event)).all()
        assert warnings == ["budget_80"]


def test_the_day_summary_is_upserted_per_utc_day(
    any_engine: Engine, make_factory, seed_run
) -> None:  # type: ignore[no-untyped-def]
    factory = make_factory(any_engine)
    seed_run(factory)
    late = datetime(2030, 3, 1, 23, 59, 59, tzinfo=UTC)
    with unit_of_work(factory) as session:
        _record(session, 5, at=late - timedelta(hours=3))
        _record(session, 7, at=late)
        _record(session, 11, at=late + timedelta(seconds=2))  # the next UTC day
    with unit_of_work(factory) as session:
        _record(session, 13, at=late + timedelta(hours=5))  # another transaction, same day
    with factory() as session:
        days = {
            r.day: (r.calls, r.total_tokens, r.unsplit_tokens)
            for r in session.scalars(select(LlmUsageDaily))
        }
    assert days == {date(2030, 3, 1): (2, 12, 12), date(2030, 3, 2): (2, 24, 24)}
