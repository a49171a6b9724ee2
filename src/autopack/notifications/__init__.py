"""Notifications: tell a person what needs them, through the channels they read.

A capability: it knows nothing of services, the API or the database. A
:class:`~autopack.notifications.base.Message` is sent through a
:class:`~autopack.notifications.base.Channel`; four kinds exist, each a pydantic config
with ``kind`` and ``from_config`` (:mod:`.registry` builds them from settings):

=========  ==============================================================================
webhook    a JSON body, signed: ``X-Autopack-Timestamp`` and ``X-Autopack-Signature:
           sha256=<HMAC-SHA256 of "<timestamp>.<body>">`` (:mod:`.signing`)
slack      a Slack-compatible incoming webhook: ``text`` and ``blocks`` with links
telegram   the Bot API ``sendMessage``, approve/reject buttons as ``callback_data``
email      SMTP (STARTTLS optional), plain text with the decision links
=========  ==============================================================================

Every channel raises :class:`~autopack.errors.DeliveryError` when it cannot deliver
(``permanent`` when a retry cannot help); its message never holds the channel's secret.
The outbox that queues and retries deliveries is ``services/notifications.py``.
"""

from __future__ import annotations

from autopack.notifications.base import Action, Channel, Message
from autopack.notifications.registry import ChannelConfig, build_channel, load_channels
from autopack.notifications.signing import sign_body, verify_signature

__all__ = [
    "Action",
    "Channel",
    "ChannelConfig",
    "Message",
    "build_channel",
    "load_channels",
    "sign_body",
    "verify_signature",
]
