"""The one delivery interface: a :class:`Channel` takes a finished digest to its readers.

Email through SES (or an outbox folder) is the first channel; Slack, Teams and signed webhooks
follow the same shape. Exactly-once is not a channel's concern: :class:`~.once.ExactlyOnce`
wraps any channel with the idempotency record, keyed by what :meth:`Channel.identity` returns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from datetime import date

    from sla_digest.report.render import Digest
    from sla_digest.report.summary import Summary

__all__ = ["Channel", "Delivery", "Message", "Period", "Receipt"]

Period = Literal["day", "week", "month"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """What is being delivered: one account's digest for the period starting at ``start``."""

    account_id: int
    start: date
    period: Period = "day"
    force: bool = False

    def key(self) -> dict[str, Any]:
        """The part of the exactly-once key that names the digest (a day keeps its old key)."""
        key: dict[str, Any] = {"account_id": int(self.account_id), "date": self.start.isoformat()}
        if self.period != "day":
            key["period"] = self.period
        return key

    def label(self) -> str:
        """``account 7 2026-11-20`` (or ``… week 2026-11-16``): how logs and errors name it."""
        period = "" if self.period == "day" else f" {self.period}"
        return f"account {self.account_id}{period} {self.start.isoformat()}"


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered digest and the summary it was rendered from, ready for any channel."""

    digest: Digest
    summary: Summary


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of one delivery: ``duplicate`` when an earlier run had already sent it."""

    channel: str
    message_id: str
    sent: bool = True
    duplicate: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Channel(Protocol):
    """Delivers a digest to one destination and says where it went.

    ``kind`` names the channel in logs, metrics and the exactly-once key (never its address).
    ``identity`` is what, beside the digest itself, makes two deliveries different (the email
    recipients); ``deliver`` raises a ``DeliveryError`` subclass that says whether to retry.
    """

    @property
    def kind(self) -> str: ...

    def identity(self) -> dict[str, Any]: ...

    def deliver(self, message: Message, delivery: Delivery) -> Receipt: ...
