"""The generic webhook: the message as JSON, signed so a receiver can trust and date it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from autopack.notifications.base import Message, post_json, secret_redactor
from autopack.notifications.signing import sign_body


class WebhookConfig(BaseModel):
    """``{"kind": "webhook", "url": ..., "secret": ...}``: POSTs the message as JSON with
    ``X-Autopack-Timestamp`` and ``X-Autopack-Signature`` (see :mod:`.signing`)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://", description="Where the JSON body is POSTed.")
    secret: SecretStr = Field(description="The HMAC-SHA256 key the receiver shares.")
    user: str | None = Field(default=None, description="Autopack user decision links name.")


class WebhookChannel:
    kind = "webhook"

    def __init__(
        self, name: str, config: WebhookConfig, *, clock: Callable[[], float] | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.user = config.user
        self._clock = clock
        self._redactor = secret_redactor([config.secret.get_secret_value()])

    @classmethod
    def from_config(cls, name: str, config: WebhookConfig) -> WebhookChannel:
        return cls(name, config)

    def send(self, message: Message) -> str:
        body = json.dumps(message.as_json(), sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        now = self._clock() if self._clock is not None else None
        headers.update(sign_body(self.config.secret.get_secret_value(), body, now=now))
        response = post_json(
            self.config.url, body, headers, redactor=self._redactor, channel=self.name
        )
        return f"HTTP {response.status_code}"
