"""Deciding from outside the API: Telegram's button callbacks and signed links.

Both routes carry their own authentication (Telegram's secret token; a signed token), so
they answer without an API key; neither can be forged, replayed or used by a viewer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # notification_fakes
from autopack.api.app import create_app
from autopack.db.orm import DecisionLog, utcnow
from autopack.db.session import unit_of_work
from autopack.domain.access import Role
from autopack.services import users
from autopack.services.decision_links import link_maker, make_token
from autopack.settings import Settings
from autopack.signing_key import load_secret
from notification_fakes import FakeHttp, fake_http

TG_SECRET = "tg-webhook-secret-0123456789"
DELETION = '{"op": "delete", "path": "legacy.py"}'


@pytest.fixture
def fake_bot() -> Iterator[tuple[FakeHttp, str]]:
    with fake_http() as served:
        yield served


@pytest.fixture
def app_client(
    settings: Settings, target_repo: Path, fake_bot: tuple[FakeHttp, str]
) -> Iterator[TestClient]:
    """Run "ga" parked on a large deletion; a Telegram channel at the fake Bot API; users
    op (operator, Telegram 1001) and viewer (viewer, Telegram 1002). API keys are
    configured, so every other route needs one."""
    _fake, base = fake_bot
    cfg = settings.model_copy(
        update={
            "api_keys": [],
            "telegram_webhook_secret": TG_SECRET,
            "public_url": "https://ap.example.com",
            "notify_channels": json.dumps(
                {
                    "tg": {
                        "kind": "telegram",
                        "bot_token": "1:TOKEN",
                        "chat_id": 5,
                        "api_base_url": base,
                    }
                }
            ),
        }
    )
    cfg = Settings.model_validate({**cfg.model_dump(), "api_keys": "k" * 24})
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = "k" * 24
        spec = {
            "run_id": "ga",
            "repo": str(target_repo),
            "phases": [{"phase_id": "P1", "name": "mul", "scope": {"paths": ["legacy.py"]}}],
        }
        assert client.post("/runs", json=spec).status_code == 201
        body = {"run_id": "ga", "phase_id": "P1", "status": "success", "patch_content": DELETION}
        parked = client.post("/runs/ga/phases/P1/builder_result", json=body)
        assert parked.json()["phase_state"] == "AWAITING_APPROVAL", parked.text
        with unit_of_work(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
            users.create_user(session, "op", Role.OPERATOR, telegram_user_id=1001)
            users.create_user(session, "viewer", Role.VIEWER, telegram_user_id=1002)
        del client.headers["X-API-Key"]
        yield client


def approval_id(client: TestClient) -> int:
    rows = client.get("/approvals", headers={"X-API-Key": "k" * 24}).json()["approvals"]
    return int(rows[0]["id"])


def approval(client: TestClient) -> dict[str, Any]:
    rows = client.get("/approvals", headers={"X-API-Key": "k" * 24}).json()["approvals"]
    return dict(rows[0])


def press(
    client: TestClient,
    data: str,
    *,
    user: int = 1001,
    query_id: str = "cb-1",
    secret: str = TG_SECRET,
) -> Any:
    update = {
        "update_id": 1,
        "callback_query": {
            "id": query_id,
            "from": {"id": user, "is_bot": False, "first_name": "A"},
            "message": {"message_id": 77, "chat": {"id": 5}, "text": "Approval needed"},
            "data": data,
        },
    }
    return client.post(
        "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
    )


def test_an_operators_button_press_decides_answers_and_edits_the_message(
    app_client: TestClient, fake_bot: tuple[FakeHttp, str]
) -> None:
    fake, _ = fake_bot
    target = approval_id(app_client)

    response = press(app_client, f"reject:{target}")

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "decided"
    decided = approval(app_client)
    assert (decided["status"], decided["decided_by"]) == ("rejected", "user:op")
    assert fake.by_method("answerCallbackQuery")[-1] == {
        "callback_query_id": "cb-1",
        "text": "Rejected.",
    }
    edited = fake.by_method("editMessageText")[-1]
    assert (edited["chat_id"], edited["message_id"]) == (5, 77)
    assert edited["text"].endswith("Rejected by op.")
    with unit_of_work(app_client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        actors = [
            d.actor for d in session.query(DecisionLog).filter_by(decision="approval_rejected")
        ]
    assert actors == ["user:op"]


def test_a_forged_or_missing_secret_is_refused_and_decides_nothing(
    app_client: TestClient, problem: Any
) -> None:
    target = approval_id(app_client)
    problem(press(app_client, f"approve:{target}", secret="guess"), 403, "forbidden")
    missing = app_client.post("/telegram/webhook", json={"update_id": 1})
    problem(missing, 403, "forbidden")
    # Refused before the body is read: a stranger learns nothing about its shape.
    garbage = app_client.post(
        "/telegram/webhook", content=b"{", headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
    )
    problem(garbage, 403, "forbidden")
    assert approval(app_client)["status"] == "pending"


def test_an_unknown_or_viewer_telegram_user_is_refused_and_told_so(
    app_client: TestClient, fake_bot: tuple[FakeHttp, str]
) -> None:
    fake, _ = fake_bot
    target = approval_id(app_client)
    stranger = press(app_client, f"approve:{target}", user=999)
    viewer = press(app_client, f"approve:{target}", user=1002, query_id="cb-2")

    assert stranger.json()["outcome"] == viewer.json()["outcome"] == "refused"
    answers = [a["text"] for a in fake.by_method("answerCallbackQuery")]
    assert "not linked to an Autopack user" in answers[0]
    assert "viewer" in answers[1] and "operator" in answers[1]
    assert approval(app_client)["status"] == "pending"


def test_a_replayed_callback_or_a_second_press_changes_nothing(
    app_client: TestClient, fake_bot: tuple[FakeHttp, str]
) -> None:
    fake, _ = fake_bot
    target = approval_id(app_client)
    assert press(app_client, f"approve:{target}").json()["outcome"] == "decided"
    first = approval(app_client)

    replay = press(app_client, f"reject:{target}")  # same callback id, other data
    other = press(app_client, f"reject:{target}", query_id="cb-9")  # a later press

    assert replay.json()["outcome"] == other.json()["outcome"] == "already_decided"
    assert approval(app_client) == first
    assert "Nothing changed" in fake.by_method("answerCallbackQuery")[-1]["text"]


def test_telegram_callbacks_are_off_without_a_secret(settings: Settings, problem: Any) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post("/telegram/webhook", json={"update_id": 1})
    problem(response, 404, "not_found")


def links(client: TestClient, user: str = "op") -> dict[str, str]:
    secret = load_secret(client.app.state.settings.home)  # type: ignore[attr-defined]
    made = link_maker(secret, "https://ap.example.com", 1)(approval_id(client), user)
    return {a.decision: str(a.url) for a in made}


def local(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query)["token"][0]


def test_opening_a_link_decides_nothing_and_its_form_decides_once(app_client: TestClient) -> None:
    path, token = local(links(app_client)["approve"])

    page = app_client.get(path, params={"token": token})
    assert page.status_code == 200 and "You decide as <b>op</b>" in page.text
    assert approval(app_client)["status"] == "pending"  # a mail scanner's fetch is harmless

    done = app_client.post(path, data={"token": token})
    assert done.status_code == 200, done.text
    decided = approval(app_client)
    assert (decided["status"], decided["decided_by"]) == ("approved", "user:op")

    again = app_client.post(path, data={"token": token})
    assert again.status_code == 409 and "already" in again.text
    assert app_client.get(path, params={"token": token}).status_code == 409


def test_a_tampered_expired_or_foreign_link_is_refused(app_client: TestClient) -> None:
    target = approval_id(app_client)
    path, token = local(links(app_client)["approve"])
    secret = load_secret(app_client.app.state.settings.home)  # type: ignore[attr-defined]
    expired = make_token(secret, target, "approve", "op", utcnow() - timedelta(seconds=1))
    foreign = make_token(
        b"another-server-key", target, "approve", "op", utcnow() + timedelta(hours=1)
    )
    other = make_token(secret, target + 1, "approve", "op", utcnow() + timedelta(hours=1))

    for bad, why in [
        (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "not valid"),
        (expired, "expired"),
        (foreign, "not valid"),
        (other, "another approval"),
    ]:
        response = app_client.post(path, data={"token": bad})
        assert response.status_code == 403 and why in response.text, (why, response.text)
    assert approval(app_client)["status"] == "pending"


def test_a_link_made_out_to_a_viewer_or_a_missing_user_decides_nothing(
    app_client: TestClient,
) -> None:
    for user, why in [("viewer", "operator role"), ("ghost", "does not exist")]:
        path, token = local(links(app_client, user)["reject"])
        response = app_client.post(path, data={"token": token})
        assert response.status_code == 403 and why in response.text
    assert approval(app_client)["status"] == "pending"
