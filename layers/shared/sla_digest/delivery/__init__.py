"""Delivery: one :class:`Channel` interface; email, Slack, Teams and webhooks; exactly-once.

A channel takes a rendered digest (:class:`Message`) to one destination and returns a
:class:`Receipt`; :class:`ExactlyOnce` wraps a channel with a ledger (DynamoDB in AWS,
``deliveries.json`` locally) so SQS's at-least-once delivery never sends a digest twice on the
same channel. :func:`channels_for` builds an account's configured channels. Names load on first
use, so importing one module does not import the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sla_digest.delivery.channel import Channel, Delivery, Message, Receipt
    from sla_digest.delivery.configured import ChannelEntry, channels_for
    from sla_digest.delivery.email import EmailChannel, OutboxMailer, SesMailer, build_message
    from sla_digest.delivery.http import HttpPolicy, HttpPoster
    from sla_digest.delivery.ledger import FileLedger
    from sla_digest.delivery.once import ExactlyOnce, IdempotencyLedger, NoLedger
    from sla_digest.delivery.slack import SlackChannel
    from sla_digest.delivery.teams import TeamsChannel
    from sla_digest.delivery.webhook import WebhookChannel

__all__ = [
    "Channel",
    "ChannelEntry",
    "Delivery",
    "EmailChannel",
    "ExactlyOnce",
    "FileLedger",
    "HttpPolicy",
    "HttpPoster",
    "IdempotencyLedger",
    "Message",
    "NoLedger",
    "OutboxMailer",
    "Receipt",
    "SesMailer",
    "SlackChannel",
    "TeamsChannel",
    "WebhookChannel",
    "build_message",
    "channels_for",
]

_HOME = {
    "Channel": "channel",
    "Delivery": "channel",
    "Message": "channel",
    "Receipt": "channel",
    "EmailChannel": "email",
    "OutboxMailer": "email",
    "SesMailer": "email",
    "build_message": "email",
    "ExactlyOnce": "once",
    "IdempotencyLedger": "once",
    "NoLedger": "once",
    "ChannelEntry": "configured",
    "channels_for": "configured",
    "FileLedger": "ledger",
    "HttpPolicy": "http",
    "HttpPoster": "http",
    "SlackChannel": "slack",
    "TeamsChannel": "teams",
    "WebhookChannel": "webhook",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
