"""The live event publisher: monotonic ids across restarts, per-run filtering, replay after
a Last-Event-ID, and the resync signal when the replay buffer lost events."""

from __future__ import annotations

import asyncio

from autopack.services.events import EventBus


def test_ids_are_monotonic_and_survive_a_restart_with_the_clock() -> None:
    clock = [1000.0]
    bus = EventBus(clock=lambda: clock[0])
    a, b = bus.publish("x"), bus.publish("x")
    assert b.id == a.id + 1  # the same clock reading still moves on
    restarted = EventBus(clock=lambda: clock[0] + 1)  # a new process, a second later
    assert restarted.publish("x").id > b.id


def test_a_subscriber_gets_its_runs_events_live_and_replays_after_its_last_id() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        bus = EventBus()
        first = bus.publish("progress", "r1", line="one")
        bus.publish("progress", "r2", line="elsewhere")
        bus.publish("progress", "r1", line="two")
        sub, replay, lost = bus.subscribe(asyncio.get_running_loop(), "r1", first.id)
        assert not lost
        bus.publish("progress", "r2", line="not mine")
        bus.publish("progress", None, line="for everyone")
        await asyncio.sleep(0)
        live = []
        while not sub.queue.empty():
            live.append(sub.queue.get_nowait().data["line"])
        bus.unsubscribe(sub)
        assert bus.subscriber_count == 0
        return [e.data["line"] for e in replay], live

    replayed, live = asyncio.run(scenario())
    assert replayed == ["two"]
    assert live == ["for everyone"]


def test_a_client_behind_the_replay_buffer_is_told_to_resync() -> None:
    async def scenario() -> tuple[bool, bool]:
        bus = EventBus(capacity=3)
        old = bus.publish("progress", "r1")
        for _ in range(5):
            bus.publish("progress", "r1")
        loop = asyncio.get_running_loop()
        _, _, behind = bus.subscribe(loop, "r1", old.id)
        _, _, current = bus.subscribe(loop, "r1", bus.last_id)
        return behind, current

    behind, current = asyncio.run(scenario())
    assert behind and not current


def test_relayed_progress_keeps_each_runs_tier_until_its_execution_ends() -> None:
    """The server relays the progress of runs executing in its pool's processes: every
    line after tier_started names that tier (a publisher per event forgot it), and a new
    execution of the run starts afresh."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from autopack.services.events import RunProgressRelay

    bus = EventBus()
    relay = RunProgressRelay(bus, sessionmaker(create_engine("sqlite://")), lambda _s, _r: None)
    relay.progress("r1", "tier_started", {"tier_id": "T1"})
    relay.progress("r2", "phase_started", {"phase_id": "other"})
    relay.progress("r1", "phase_started", {"phase_id": "p1"})
    relay.stopped("r1")
    relay.progress("r1", "run_started", {})

    lines = [e.data["line"] for e in bus.history("r1")]
    assert "tier T1 " in lines[1] and "phase_started phase_id=p1" in lines[1]
    assert "tier T1 " in lines[2] and "executor_stopped" in lines[2]
    assert "tier - " in lines[3]  # the next execution
    assert "tier - " in bus.history("r2")[0].data["line"]
