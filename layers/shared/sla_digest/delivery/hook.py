"""What the Slack, Teams and webhook channels share: a secret URL, one POST, a stable id.

A :class:`HookChannel` is a :class:`~.channel.Channel` whose destination is an HTTP URL kept
as a secret (Secrets Manager in AWS, an environment variable locally). The URL is read only
when the channel delivers, so a missing secret fails that channel alone, and it is never
written anywhere: the channel is named by its type, its account and *where* the URL is kept.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from sla_digest.delivery.channel import Receipt
from sla_digest.delivery.http import HttpPoster

if TYPE_CHECKING:
    from sla_digest.delivery.channel import Delivery, Message
    from sla_digest.delivery.http import HttpAnswer

__all__ = ["HookChannel", "Secret", "delivery_id", "reveal"]

logger = logging.getLogger(__name__)

Secret = str | Callable[[], str]
"""A secret's value, or a function that reads it when it is needed."""


def reveal(secret: Secret) -> str:
    return secret() if callable(secret) else secret


def delivery_id(delivery: Delivery, kind: str, target: str | None = None) -> str:
    """``sla-digest:7:day:2026-11-20:webhook:1f0e…``: the same for every attempt of a delivery.

    Stable per account × period × start × channel, so a receiver can drop a repeat; ``target``
    (where the channel's URL is kept: a name, never the URL) tells two hooks of one type apart.
    """
    text = f"sla-digest:{delivery.account_id}:{delivery.period}:{delivery.start.isoformat()}:{kind}"
    if target:
        text += ":" + hashlib.sha256(target.encode("utf-8")).hexdigest()[:8]
    return text


class HookChannel:
    """Base of the channels that POST to a hook; subclasses say what to send and what is OK.

    ``url`` is the hook's URL or a function reading it; ``where`` names where it is kept (a
    secret's or an environment variable's name), for error messages and the delivery key.
    """

    kind: ClassVar[str] = "hook"
    noun: ClassVar[str] = "hook"

    def __init__(self, url: Secret, *, where: str, poster: HttpPoster | None = None) -> None:
        self._url = url
        self.where = where
        self.poster = poster if poster is not None else HttpPoster()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(where={self.where!r})"

    def identity(self) -> dict[str, Any]:
        """The channel's type and where its URL is kept: each hook has its own delivery key."""
        return {"channel": self.kind, "target": self.where}

    def what(self, delivery: Delivery) -> str:
        """How errors and logs name this channel: ``the Slack hook of account 7``."""
        return f"the {self.noun} of account {delivery.account_id}"

    def request(self, message: Message, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
        """The body to POST and its headers."""
        raise NotImplementedError

    def check(self, answer: HttpAnswer, what: str) -> None:
        """Raise when a 2xx answer still says the message was refused (Slack does this)."""

    def deliver(self, message: Message, delivery: Delivery) -> Receipt:
        what = self.what(delivery)
        body, headers = self.request(message, delivery)
        answer = self.poster.post(
            reveal(self._url), body, headers=headers, what=what, where=self.where
        )
        self.check(answer, what)
        logger.info("%s: delivered (%d bytes, answered %d)", what, len(body), answer.status)
        return Receipt(channel=self.kind, message_id=delivery_id(delivery, self.kind, self.where))
