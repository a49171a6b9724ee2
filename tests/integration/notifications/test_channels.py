"""Each channel against a local stand-in: what it sends, and how it fails."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # notification_fakes
from autopack.errors import ConfigurationError, DeliveryError
from autopack.notifications import Action, Message, load_channels, verify_signature
from autopack.notifications.slack import SlackChannel, SlackConfig
from autopack.notifications.smtp import EmailChannel, EmailConfig
from autopack.notifications.telegram import TelegramChannel, TelegramConfig
from autopack.notifications.webhook import WebhookChannel, WebhookConfig
from notification_fakes import fake_http, smtp_server

SECRET = "whsec-test-0123456789"
BOT_TOKEN = "123456:ABCdefGhIJKlmNoPQRsTUVwxyz0123456789"


def approval_message() -> Message:
    return Message(
        event="approval_needed",
        title="Approval needed: run r1, phase p1",
        text="large deletion: 300 lines",
        run_id="r1",
        phase_id="p1",
        url="https://ap.example.com/ui/runs/r1",
        approval_id=7,
        actions=(
            Action("approve", 7, "https://ap.example.com/approvals/7/link?token=A"),
            Action("reject", 7, "https://ap.example.com/approvals/7/link?token=R"),
        ),
    )


def test_a_receiver_verifies_the_signature_and_refuses_a_replay_or_a_tampered_body() -> None:
    with fake_http() as (fake, base):
        channel = WebhookChannel("ops", WebhookConfig(url=f"{base}/hook", secret=SECRET))
        assert channel.send(approval_message()) == "HTTP 200"
    got = fake.received[0]
    assert got.json()["approval_id"] == 7
    assert got.json()["actions"][0]["url"].endswith("token=A")
    stamp = int(got.headers["x-autopack-timestamp"])
    assert abs(stamp - time.time()) < 60
    assert verify_signature(SECRET, got.headers, got.body)
    # Captured and replayed later than the receiver's tolerance: refused.
    assert not verify_signature(SECRET, got.headers, got.body, 300, now=stamp + 301)
    assert verify_signature(SECRET, got.headers, got.body, 300, now=stamp + 299)
    assert not verify_signature(SECRET, got.headers, got.body.replace(b"7", b"8"))
    assert not verify_signature("another-secret", got.headers, got.body)
    forged = {**got.headers, "x-autopack-timestamp": str(stamp + 1)}
    assert not verify_signature(SECRET, forged, got.body)


def test_slack_gets_text_for_notifications_and_blocks_with_the_links() -> None:
    with fake_http() as (fake, base):
        SlackChannel("team", SlackConfig(url=f"{base}/services/T/B/X")).send(approval_message())
    body = fake.received[0].json()
    assert "Approval needed" in body["text"] and "token=A" in body["text"]
    buttons = body["blocks"][1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Open run", "Approve", "Reject"]
    assert buttons[1]["url"].endswith("token=A")


def test_telegram_sends_approve_and_reject_buttons_and_never_leaks_its_token() -> None:
    with fake_http() as (fake, base):
        bot = TelegramChannel(
            "tg", TelegramConfig(bot_token=BOT_TOKEN, chat_id=42, api_base_url=base)
        )
        assert bot.send(approval_message()) == "message 101"
        sent = fake.by_method("sendMessage")[0]
        assert fake.received[0].path == f"/bot{BOT_TOKEN}/sendMessage"
        assert sent["chat_id"] == 42
        assert sent["reply_markup"]["inline_keyboard"] == [
            [
                {"text": "Approve", "callback_data": "approve:7"},
                {"text": "Reject", "callback_data": "reject:7"},
            ]
        ]
        fake.status = 502
        with pytest.raises(DeliveryError) as failed:
            bot.send(approval_message())
    assert BOT_TOKEN not in failed.value.message and "502" in failed.value.message
    assert not failed.value.permanent
    # Nobody listening: the error names the channel, not the URL with the token in it.
    with pytest.raises(DeliveryError) as unreachable:
        bot.send(approval_message())
    assert BOT_TOKEN not in str(unreachable.value)


def test_a_4xx_is_permanent_and_a_rate_limit_is_retried() -> None:
    with fake_http(status=404) as (fake, base):
        channel = WebhookChannel("ops", WebhookConfig(url=f"{base}/gone", secret=SECRET))
        with pytest.raises(DeliveryError) as gone:
            channel.send(approval_message())
        assert gone.value.permanent
        fake.status = 429
        with pytest.raises(DeliveryError) as limited:
            channel.send(approval_message())
        assert not limited.value.permanent


def test_email_reaches_an_smtp_server_with_the_links() -> None:
    with smtp_server() as (box, port):
        channel = EmailChannel(
            "mail",
            EmailConfig(
                host="127.0.0.1",
                port=port,
                starttls=False,
                from_addr="autopack@example.com",
                to=["ops@example.com"],
            ),
        )
        assert channel.send(approval_message()) == "sent to 1 recipient(s)"
        deadline = time.monotonic() + 5
        while not box.messages and time.monotonic() < deadline:
            time.sleep(0.02)
    recipients, mail = box.messages[0]
    assert recipients == ["ops@example.com"]
    assert mail["Subject"] == "[Autopack] Approval needed: run r1, phase p1"
    text = mail.get_payload(decode=True).decode()
    assert "Approve: https://ap.example.com/approvals/7/link?token=A" in text


def test_email_refuses_starttls_on_a_server_without_it_as_a_delivery_error() -> None:
    with smtp_server() as (_box, port):
        channel = EmailChannel(
            "mail",
            EmailConfig(
                host="127.0.0.1",
                port=port,
                username="u",
                password="smtp-password-123456",
                from_addr="a@example.com",
                to=["b@example.com"],
            ),
        )
        with pytest.raises(DeliveryError) as failed:
            channel.send(approval_message())
    assert "STARTTLS" in failed.value.message or "starttls" in failed.value.message.lower()
    assert "smtp-password-123456" not in failed.value.message


def test_a_wrong_channel_config_names_the_channel_and_the_field_but_not_the_secret() -> None:
    with pytest.raises(ConfigurationError) as bad:
        load_channels({"ops": {"kind": "webhook", "url": "ftp://x", "secret": "s3cr3t-v4lue"}})
    assert "'ops'" in bad.value.message and "url" in bad.value.message
    assert "s3cr3t-v4lue" not in bad.value.message
    with pytest.raises(ConfigurationError) as unknown:
        load_channels({"x": {"kind": "pager"}})
    assert "webhook, slack, telegram, email" in unknown.value.message
    channels = load_channels(
        {"tg": {"kind": "telegram", "bot_token": BOT_TOKEN, "chat_id": "@ops"}}
    )
    assert BOT_TOKEN not in repr(channels["tg"].config)  # type: ignore[attr-defined]
