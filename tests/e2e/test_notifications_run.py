"""People in the loop, end to end: a run that needs approval tells Telegram, the button
press comes back through the webhook and the run finishes; a channel that hangs or fails
never slows a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from dashboard_support import serve
from executor_support import (
    LEGACY_300,
    auditor,
    builder,
    make_repo,
    mul_ops,
    op,
    phase,
    write_plan,
    write_script,
)
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # notification_fakes
from autopack.db.database import open_database
from autopack.db.orm import DecisionLog, Notification
from autopack.db.session import unit_of_work
from autopack.domain.access import Role
from autopack.notifications import verify_signature
from autopack.notifications.webhook import WebhookChannel, WebhookConfig
from autopack.services import notifications, users
from autopack.services.notification_sender import NotificationSender
from autopack.settings import Settings
from notification_fakes import fake_http

TG_SECRET = "tg-secret-for-the-e2e-test"


def wait_for(what: str, check: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_approval_decided_by_a_telegram_button_resumes_the_run_to_success(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path, {"legacy.py": LEGACY_300})
    script = write_script(
        tmp_path / "s.jsonl",
        [builder("mul", op("delete", "legacy.py"), *mul_ops()), auditor("mul")],
    )
    plan = yaml.safe_load(
        write_plan(
            tmp_path / "plan.yaml",
            "tg-run",
            [phase("mul", paths=["calc.py", "tests/", "legacy.py"])],
        ).read_text()
    )
    with fake_http() as (bot, bot_url):
        cfg = sqlite_settings.model_copy(
            update={
                "telegram_webhook_secret": SecretStr(TG_SECRET),
                "notify_poll_seconds": 0.2,
                "notify_channels": SecretStr(
                    json.dumps(
                        {
                            "phone": {
                                "kind": "telegram",
                                "bot_token": "42:E2E",
                                "chat_id": 7,
                                "api_base_url": bot_url,
                            }
                        }
                    )
                ),
            }
        )
        db = open_database(cfg)
        with unit_of_work(db.factory) as session:
            users.create_user(session, "ana", Role.OPERATOR, telegram_user_id=555)
        with serve(cfg, script) as base, httpx.Client(base_url=base, timeout=30) as api:
            created = api.post("/runs", json={**plan, "repo": str(repo)})
            assert created.status_code == 201, created.text
            assert api.post("/runs/tg-run/execute").status_code == 202

            asked = wait_for(
                "the approval message",
                lambda: [m for m in bot.by_method("sendMessage") if "reply_markup" in m],
            )[0]
            assert "large deletion" in asked["text"] and asked["chat_id"] == 7
            approve = asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            press = {
                "update_id": 9,
                "callback_query": {
                    "id": "e2e-1",
                    "from": {"id": 555, "is_bot": False, "first_name": "Ana"},
                    "message": {"message_id": 101, "chat": {"id": 7}, "text": asked["text"]},
                    "data": approve,
                },
            }
            answer = api.post(
                "/telegram/webhook",
                json=press,
                headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
            )
            assert answer.json()["outcome"] == "decided", answer.text

            wait_for(
                "DONE_SUCCESS",
                lambda: api.get("/runs/tg-run/status").json()["state"] == "DONE_SUCCESS",
            )
            finished = wait_for(
                "the run_finished message",
                lambda: [m for m in bot.by_method("sendMessage") if "DONE_SUCCESS" in m["text"]],
            )
            assert finished
        with db.factory() as session:
            trail = [
                (d.actor, d.decision)
                for d in session.query(DecisionLog).filter(DecisionLog.run_id == "tg-run")
                if d.decision.startswith("approval_")
            ]
            sent = {n.event: n.state for n in session.query(Notification)}
        db.dispose()
    assert trail == [("guard", "approval_requested"), ("user:ana", "approval_approved")]
    assert sent == {"approval_needed": "sent", "run_finished": "sent"}
    assert bot.by_method("answerCallbackQuery")[0]["text"] == "Approved."
    assert bot.by_method("editMessageText")[0]["text"].endswith("Approved by ana.")


def _timed_run(harness: Any, tmp_path: Path, run_id: str) -> tuple[float, str]:
    repo = make_repo(tmp_path / run_id)
    plan = write_plan(
        tmp_path / f"{run_id}.yaml", run_id, [phase("mul", paths=["calc.py", "tests/"])]
    )
    script = write_script(
        tmp_path / f"{run_id}.jsonl", [builder("mul", *mul_ops()), auditor("mul")]
    )
    harness.create(plan, repo)
    started = time.monotonic()
    outcome = harness.execute(run_id, script)
    return time.monotonic() - started, outcome.state


def test_a_channel_that_hangs_or_fails_does_not_slow_a_run(
    sqlite_settings: Settings, tmp_path: Path, harness_factory: Any
) -> None:
    """The whole run executes while the sender is stuck inside a request to a channel
    that does not answer: nothing of the run waits on it (shown by order, not by time)."""
    harness = harness_factory(sqlite_settings)
    with unit_of_work(harness.db.factory) as session:
        for i in range(3):
            notifications.enqueue(session, "run_failed", None, payload={"title": f"old {i}"})
    release = threading.Event()
    with fake_http(status=503, hold=release) as (hanging, url):
        channels = {"slow": WebhookChannel("slow", WebhookConfig(url=url, secret="x" * 16))}
        sender = NotificationSender(harness.db.factory, channels, poll_seconds=0.1).start()
        try:
            wait_for("the first delivery attempt", lambda: hanging.received, timeout=20)
            _, state = _timed_run(harness, tmp_path, "busy")
            assert state == "DONE_SUCCESS"
            assert hanging.answered == 0  # the sender was inside that request all along
            left = sender.flush(0.5)
            assert left > 0  # flush gives up at its bound instead of waiting on the channel
            release.set()
            wait_for("the channel's answer", lambda: hanging.answered >= 1, timeout=20)
        finally:
            release.set()
            sender.stop(timeout=5)
    with harness.db.factory() as session:
        errors = {n.last_error for n in session.query(Notification) if n.attempts}
    assert any("HTTP 503" in (e or "") for e in errors), errors


def test_autopack_run_sends_its_notifications_before_it_exits(tmp_path: Path) -> None:
    secret = "demo-webhook-secret-123456"
    with fake_http() as (hook, url):
        channels = {"ops": {"kind": "webhook", "url": f"{url}/hook", "secret": secret}}
        command = ["-c", "from autopack.cli.main import main; main()", "demo", "--json"]
        done = subprocess.run(
            [sys.executable, *command, "--dir", str(tmp_path / "demo")],
            env={
                **os.environ,
                "AUTOPACK_HOME": str(tmp_path / "home"),
                "AUTOPACK_NOTIFY_CHANNELS": json.dumps(channels),
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr
    finished = [r for r in hook.received if r.json()["event"] == "run_finished"]
    assert len(finished) == 1 and "DONE_SUCCESS" in finished[0].json()["title"]
    assert verify_signature(secret, finished[0].headers, finished[0].body)
    assert secret not in done.stdout + done.stderr
