"""Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat): ``text`` for
notifications and clients without blocks, ``blocks`` with the links as buttons."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from autopack.notifications.base import Message, post_json, secret_redactor


class SlackConfig(BaseModel):
    """``{"kind": "slack", "url": "https://hooks.slack.com/services/..."}``. The URL is
    the secret (whoever has it can post), so it is kept and shown as one."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["slack"] = "slack"
    url: SecretStr = Field(description="The incoming-webhook URL.")
    user: str | None = Field(default=None, description="Autopack user decision links name.")


def slack_payload(message: Message) -> dict[str, Any]:
    """The incoming-webhook body for ``message``."""
    links = [(a.label, a.url) for a in message.actions if a.url]
    if message.url:
        links.insert(0, ("Open run", message.url))
    text = f"*{message.title}*\n{message.text}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}
    ]
    if links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
                    for label, url in links
                ],
            }
        )
    fallback = "\n".join([f"{message.title}: {message.text}", *(f"{k}: {u}" for k, u in links)])
    return {"text": fallback, "blocks": blocks}


class SlackChannel:
    kind = "slack"

    def __init__(self, name: str, config: SlackConfig) -> None:
        self.name = name
        self.config = config
        self.user = config.user
        self._redactor = secret_redactor([config.url.get_secret_value()])

    @classmethod
    def from_config(cls, name: str, config: SlackConfig) -> SlackChannel:
        return cls(name, config)

    def send(self, message: Message) -> str:
        body = json.dumps(slack_payload(message)).encode()
        response = post_json(
            self.config.url.get_secret_value(),
            body,
            {"Content-Type": "application/json"},
            redactor=self._redactor,
            channel=self.name,
        )
        return f"HTTP {response.status_code}"
