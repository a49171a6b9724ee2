"""Channels from configuration: ``AUTOPACK_NOTIFY_CHANNELS`` maps names to configs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import pydantic
from pydantic import Field, TypeAdapter

from autopack.errors import ConfigurationError
from autopack.notifications.base import Channel
from autopack.notifications.slack import SlackChannel, SlackConfig
from autopack.notifications.smtp import EmailChannel, EmailConfig
from autopack.notifications.telegram import TelegramChannel, TelegramConfig
from autopack.notifications.webhook import WebhookChannel, WebhookConfig

ChannelConfig = Annotated[
    WebhookConfig | SlackConfig | TelegramConfig | EmailConfig, Field(discriminator="kind")
]
_ADAPTER: TypeAdapter[ChannelConfig] = TypeAdapter(ChannelConfig)
KINDS = ("webhook", "slack", "telegram", "email")


def build_channel(name: str, config: ChannelConfig) -> Channel:
    """The channel a config describes."""
    if isinstance(config, WebhookConfig):
        return WebhookChannel.from_config(name, config)
    if isinstance(config, SlackConfig):
        return SlackChannel.from_config(name, config)
    if isinstance(config, TelegramConfig):
        return TelegramChannel.from_config(name, config)
    return EmailChannel.from_config(name, config)


def load_channels(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, Channel]:
    """Every configured channel by name; ConfigurationError names the channel and field
    that is wrong (never its value: it may be a secret)."""
    channels: dict[str, Channel] = {}
    for name, data in raw.items():
        try:
            config = _ADAPTER.validate_python(dict(data))
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
                for err in exc.errors(include_url=False, include_input=False)[:4]
            )
            raise ConfigurationError(
                f"notification channel {name!r}: {problems} (AUTOPACK_NOTIFY_CHANNELS; "
                f"kind is one of {', '.join(KINDS)}; see docs/operations.md, Notifications)",
                channel=name,
            ) from None
        channels[name] = build_channel(name, config)
    return channels
