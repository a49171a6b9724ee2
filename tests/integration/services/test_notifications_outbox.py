"""The notifications outbox: queued with what it tells about, sent, retried, given up."""

from __future__ import annotations

import random
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # notification_fakes
from autopack.db.orm import Approval, Notification, utcnow
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.domain.states import PhaseState
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.notifications import Channel
from autopack.notifications.webhook import WebhookChannel, WebhookConfig
from autopack.services import approvals, notifications, usage
from autopack.services import phases as phase_service
from autopack.services import runs as run_service
from autopack.services.decision_links import read_token
from autopack.services.notification_sender import decision_links
from autopack.settings import Settings
from autopack.signing_key import load_secret
from notification_fakes import fake_http

SPEC = RunSpec.model_validate(
    {"run_id": "nt", "goal": "Tell people", "phases": [{"phase_id": "p1", "name": "P"}]}
)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=utcnow().tzinfo)


def make_run(factory: sessionmaker[Session], settings: Settings, repo: Path | None = None) -> None:
    with unit_of_work(factory) as session:
        run_service.create_run(
            session, SPEC, runs_dir=settings.runs_dir, repo_path=str(repo) if repo else None
        )


def request(factory: sessionmaker[Session]) -> int:
    with unit_of_work(factory) as session:
        phase = phase_service.get_phase(session, "nt", "p1")
        phase_service.set_phase_state(session, phase, PhaseState.EXECUTING)
        approval = approvals.request_approval(
            session, phase, kind="large_deletion", reason="300 lines", details={}
        )
        return approval.id


def rows(factory: sessionmaker[Session]) -> list[Notification]:
    with factory() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def webhook(base: str, name: str = "ops") -> Channel:
    return WebhookChannel(name, WebhookConfig(url=f"{base}/hook", secret="s" * 20))


def test_an_approval_and_its_notification_commit_together_or_not_at_all(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    make_run(session_factory, settings)
    with pytest.raises(RuntimeError), unit_of_work(session_factory) as session:
        phase = phase_service.get_phase(session, "nt", "p1")
        phase_service.set_phase_state(session, phase, PhaseState.EXECUTING)
        approvals.request_approval(session, phase, kind="large_deletion", reason="r", details={})
        raise RuntimeError("the step failed after asking")
    assert rows(session_factory) == []

    approval_id = request(session_factory)

    (row,) = rows(session_factory)
    assert (row.event, row.channel, row.run_id, row.phase_id, row.state) == (
        "approval_needed",
        "*",
        "nt",
        "p1",
        "pending",
    )
    assert row.payload["approval_id"] == approval_id
    assert "300 lines" in row.payload["text"]


def test_run_end_phase_failure_and_80_percent_of_the_budget_are_queued_once(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    make_run(session_factory, settings)
    with unit_of_work(session_factory) as session:
        phase = phase_service.get_phase(session, "nt", "p1")
        phase.run.token_cap = 1000
        phase_service.add_tokens(phase, 700)
        phase_service.add_tokens(phase, 150)  # 850: crosses 800
        phase_service.add_tokens(phase, 100)
        phase_service.set_phase_state(session, phase, PhaseState.FAILED, reason="tests fail")
    with unit_of_work(session_factory) as session:
        run_service.request_cancel(session, "nt", actor="user:ana")

    events = [(r.event, r.phase_id) for r in rows(session_factory)]
    assert events == [("budget_80", None), ("phase_failed", "p1"), ("run_finished", None)]
    assert rows(session_factory)[1].payload["text"] == "tests fail"
    assert "DONE_CANCELLED" in rows(session_factory)[2].payload["title"]


def _llm_call(factory: sessionmaker[Session], tokens: int) -> None:
    with unit_of_work(factory) as session:
        usage.record_usage(
            session,
            completion=Completion(
                text="x",
                provider="anthropic",
                model="claude-sonnet-4-5",
                usage=Usage.total_only(tokens),
                stop_reason="end",
            ),
            request=LLMRequest(
                role="builder",
                system="s",
                messages=(Message("user", "u"),),
                max_tokens=10,
                run_id="nt",
                phase_id="p1",
            ),
        )


def _budget_rows(factory: sessionmaker[Session]) -> int:
    return sum(r.event == "budget_80" for r in rows(factory))


@pytest.mark.parametrize(
    ("call", "result"),
    [(300, 300), (250, 100)],
    ids=["the-llm-call-crosses", "the-result-crosses"],
)
def test_crossing_80_percent_once_queues_one_budget_80_whatever_path_counted(
    session_factory: sessionmaker[Session], settings: Settings, call: int, result: int
) -> None:
    """Tokens come from recorded LLM calls and from submitted results (``add_tokens``),
    from transactions that overlap: the crossing of 800 of 1000 is one row, made by
    whichever increment crossed, and no path loses the other's tokens."""
    make_run(session_factory, settings)
    with unit_of_work(session_factory) as session:
        phase_service.get_phase(session, "nt", "p1").run.token_cap = 1000
    _llm_call(session_factory, 500)
    # A result's transaction loads the phase (and the run's total, 500), an LLM call
    # commits elsewhere meanwhile, then the result counts its own tokens.
    with unit_of_work(session_factory) as session:
        phase = phase_service.get_phase(session, "nt", "p1")
        assert phase.run.tokens_used == 500
        _llm_call(session_factory, call)
        phase_service.add_tokens(phase, result)
    _llm_call(session_factory, 100)
    with unit_of_work(session_factory) as session:
        phase_service.add_tokens(phase_service.get_phase(session, "nt", "p1"), 10)
    assert _budget_rows(session_factory) == 1
    total = 500 + call + result + 100 + 10
    with session_factory() as session:
        phase = phase_service.get_phase(session, "nt", "p1")
        assert (phase.run.tokens_used, phase.tier.tokens_used, phase.tokens_used) == (total,) * 3


def test_the_projects_routes_choose_channels_per_event(
    session_factory: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".autopack.yaml").write_text(
        "notifications:\n  - channel: tg\n    events: [approval_needed]\n  - channel: mail\n"
    )
    make_run(session_factory, settings, repo)
    request(session_factory)
    with unit_of_work(session_factory) as session:
        run_service.request_cancel(session, "nt", actor="user:ana")

    assert [(r.event, r.channel) for r in rows(session_factory)] == [
        ("approval_needed", "tg"),
        ("approval_needed", "mail"),
        ("run_finished", "mail"),
    ]


def test_a_failing_channel_is_retried_with_backoff_then_given_up(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    make_run(session_factory, settings)
    request(session_factory)
    rng = random.Random(7)
    with fake_http(status=503) as (fake, base):
        channels = {"ops": webhook(base)}

        def deliver(at: datetime) -> notifications.DeliveryReport:
            return notifications.deliver_due(
                session_factory, channels, at, max_attempts=3, retry_seconds=30, rng=rng
            )

        assert deliver(T0 + timedelta(days=400)).retrying == 1
        (row,) = rows(session_factory)
        first_wait = (row.next_attempt_at - (T0 + timedelta(days=400))).total_seconds()
        assert 15 <= first_wait <= 30 and row.attempts == 1
        assert "HTTP 503" in (row.last_error or "")
        assert deliver(row.next_attempt_at - timedelta(seconds=1)).handled == 0  # not yet due

        assert deliver(row.next_attempt_at).retrying == 1
        (second,) = rows(session_factory)
        second_wait = (second.next_attempt_at - row.next_attempt_at).total_seconds()
        assert 30 <= second_wait <= 60 and second.attempts == 2

        assert deliver(second.next_attempt_at).dead == 1
        (dead,) = rows(session_factory)
        assert (dead.state, dead.attempts, dead.sent_at) == ("dead", 3, None)
        assert len(fake.received) == 3


def test_a_sent_row_is_recorded_and_a_permanent_failure_is_not_retried(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    make_run(session_factory, settings)
    request(session_factory)
    with fake_http() as (fake, base):
        report = notifications.deliver_due(session_factory, {"ops": webhook(base)})
    assert report.sent == 1
    (sent,) = rows(session_factory)
    assert (sent.state, sent.attempts, sent.last_error) == ("sent", 1, None)
    assert sent.sent_at is not None
    assert fake.received[0].json()["event"] == "approval_needed"

    with unit_of_work(session_factory) as session:
        notifications.enqueue(session, "run_failed", "nt", payload={"title": "t"})
    with fake_http(status=410) as (_fake, base):
        assert notifications.deliver_due(session_factory, {"ops": webhook(base)}).failed == 1
    assert rows(session_factory)[-1].state == "failed"


def test_a_row_for_every_channel_fans_out_and_without_channels_is_dead(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    make_run(session_factory, settings)
    request(session_factory)
    with fake_http() as (fake, base):
        report = notifications.deliver_due(
            session_factory, {"a": webhook(base, "a"), "b": webhook(base, "b")}
        )
    assert report.sent == 2 and len(fake.received) == 2
    assert sorted(r.channel for r in rows(session_factory)) == ["a", "b"]

    with unit_of_work(session_factory) as session:
        notifications.enqueue(session, "run_failed", "nt", payload={"title": "t"})
    notifications.deliver_due(session_factory, {})
    last = rows(session_factory)[-1]
    assert last.state == "dead" and "AUTOPACK_NOTIFY_CHANNELS" in (last.last_error or "")


def test_an_unknown_channel_named_by_the_project_fails_with_the_configured_names(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    make_run(session_factory, settings)
    with unit_of_work(session_factory) as session:
        (row,) = notifications.enqueue(session, "run_failed", "nt", payload={"title": "t"})
        row.channel = "pager"
    with fake_http() as (_fake, base):
        notifications.deliver_due(session_factory, {"ops": webhook(base)})
    (failed,) = rows(session_factory)
    assert failed.state == "failed"
    assert "'pager' is not configured" in (failed.last_error or "")
    assert "configured: ops" in (failed.last_error or "")


def test_two_senders_never_send_one_row_twice(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    make_run(session_factory, settings)
    with unit_of_work(session_factory) as session:
        for i in range(6):  # rows for every channel: each sender may try to fan them out
            notifications.enqueue(session, "run_failed", "nt", payload={"title": f"t{i}"})
    reports: list[Any] = []
    with fake_http(delay=0.05) as (fake, base):
        channels = {"ops": webhook(base, "ops"), "audit": webhook(base, "audit")}
        senders = [
            threading.Thread(
                target=lambda: reports.append(notifications.deliver_due(session_factory, channels))
            )
            for _ in range(2)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(30)
        # What one pass left (rows fanned out by the other sender meanwhile) goes next.
        reports.append(notifications.deliver_due(session_factory, channels))
    assert sum(r.sent for r in reports) == 12
    titles = sorted(r.json()["title"] for r in fake.received)
    assert titles == sorted([f"t{i}" for i in range(6)] * 2)
    assert sorted((r.channel, r.state) for r in rows(session_factory)) == sorted(
        [("ops", "sent"), ("audit", "sent")] * 6
    )


def test_the_approval_row_survives_in_the_outbox_listing(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    make_run(session_factory, settings)
    request(session_factory)
    with session_factory() as session:
        (view,) = [
            notifications.notification_view(n)
            for n in notifications.list_notifications(session, run_id="nt")
        ]
        assert session.scalar(select(Approval.id)) is not None
    assert view["event"] == "approval_needed" and view["state"] == "pending"


def test_an_approval_message_carries_signed_links_for_the_channels_user(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    make_run(session_factory, settings)
    approval_id = request(session_factory)
    cfg = settings.model_copy(update={"public_url": "https://ap.example.com/"})
    with fake_http() as (fake, base):
        channel = WebhookChannel(
            "ops", WebhookConfig(url=f"{base}/hook", secret="s" * 20, user="ana")
        )
        notifications.deliver_due(
            session_factory,
            {"ops": channel},
            public_url=cfg.public_url,
            links=decision_links(cfg),
        )
    body = fake.received[0].json()
    assert body["url"] == "https://ap.example.com/ui/runs/nt"
    approve, reject = body["actions"]
    assert approve["url"].startswith(f"https://ap.example.com/approvals/{approval_id}/link?token=")
    token = unquote(approve["url"].split("token=", 1)[1])
    claim = read_token(load_secret(settings.home), token, approval_id)
    assert (claim.user, claim.decision) == ("ana", "approve")
    assert reject["decision"] == "reject" and reject["url"] != approve["url"]
