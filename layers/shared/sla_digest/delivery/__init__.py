"""Delivery: one :class:`Channel` interface, its email implementation and exactly-once.

A channel takes a rendered digest (:class:`Message`) to one destination and returns a
:class:`Receipt`; :class:`ExactlyOnce` wraps a channel with the idempotency record so SQS's
at-least-once delivery never sends a digest twice. Names load on first use, so importing one
module does not import the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sla_digest.delivery.channel import Channel, Delivery, Message, Receipt
    from sla_digest.delivery.email import EmailChannel, OutboxMailer, SesMailer, build_message
    from sla_digest.delivery.once import ExactlyOnce, IdempotencyLedger, NoLedger

__all__ = [
    "Channel",
    "Delivery",
    "EmailChannel",
    "ExactlyOnce",
    "IdempotencyLedger",
    "Message",
    "NoLedger",
    "OutboxMailer",
    "Receipt",
    "SesMailer",
    "build_message",
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
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
