"""Telegram through the Bot API over httpx: ``sendMessage`` with approve/reject buttons.

A button's ``callback_data`` is ``approve:<approval id>`` or ``reject:<approval id>``;
Telegram posts the press to Autopack's ``POST /telegram/webhook``
(``api/routes/telegram.py``), which decides and then answers through
:meth:`TelegramChannel.answer_callback` and :meth:`TelegramChannel.edit_message`.
``api_base_url`` is configurable so a self-hosted Bot API server (or a test's fake) can
stand in for api.telegram.org.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from autopack.errors import DeliveryError
from autopack.notifications.base import Message, post_json, secret_redactor

#: ``callback_data`` of a decision button (Telegram allows 64 bytes).
CALLBACK_DATA = re.compile(r"^(approve|reject):([1-9][0-9]{0,18})$")


class TelegramConfig(BaseModel):
    """``{"kind": "telegram", "bot_token": ..., "chat_id": ...}``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["telegram"] = "telegram"
    bot_token: SecretStr = Field(description="The bot's token from @BotFather.")
    chat_id: int | str = Field(description="The chat (or @channel) messages go to.")
    api_base_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://")
    user: str | None = Field(default=None, description="Autopack user decision links name.")


def parse_callback_data(data: str) -> tuple[bool, int] | None:
    """``(approve?, approval id)`` from a button's data, or None for anything else."""
    match = CALLBACK_DATA.match(data)
    if match is None:
        return None
    return match.group(1) == "approve", int(match.group(2))


class TelegramChannel:
    kind = "telegram"

    def __init__(self, name: str, config: TelegramConfig) -> None:
        self.name = name
        self.config = config
        self.user = config.user
        self._redactor = secret_redactor([config.bot_token.get_secret_value()])

    @classmethod
    def from_config(cls, name: str, config: TelegramConfig) -> TelegramChannel:
        return cls(name, config)

    def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        url = (
            f"{self.config.api_base_url.rstrip('/')}/bot"
            f"{self.config.bot_token.get_secret_value()}/{method}"
        )
        response = post_json(
            url,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json"},
            redactor=self._redactor,
            channel=self.name,
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not answer.get("ok"):
            raise DeliveryError(
                self._redactor.redact(f"{self.name}: {method} answered {response.text[:300]}"),
                permanent=True,
                channel=self.name,
            )
        return answer

    def send(self, message: Message) -> str:
        text = f"{message.title}\n\n{message.text}"
        if message.url:
            text += f"\n\n{message.url}"
        payload: dict[str, Any] = {"chat_id": self.config.chat_id, "text": text[:4000]}
        if message.approval_id is not None:
            payload["reply_markup"] = {
                "inline_keyboard": [
                    [
                        {"text": "Approve", "callback_data": f"approve:{message.approval_id}"},
                        {"text": "Reject", "callback_data": f"reject:{message.approval_id}"},
                    ]
                ]
            }
        answer = self._call("sendMessage", payload)
        result = answer.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return f"message {message_id}"

    def answer_callback(self, callback_query_id: str, text: str) -> None:
        """Tell the person who pressed a button what happened (a toast in their client)."""
        self._call("answerCallbackQuery", {"callback_query_id": callback_query_id, "text": text})

    def edit_message(self, chat_id: int | str, message_id: int, text: str) -> None:
        """Replace a message's text and drop its buttons (the decision is made)."""
        self._call(
            "editMessageText",
            {"chat_id": chat_id, "message_id": message_id, "text": text[:4000]},
        )
