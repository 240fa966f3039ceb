"""An account's configured channels (``accounts.json`` ``channels``) as delivery channels.

The configuration names secrets, never holds them: ``url_secret`` is where a Slack, Teams or
webhook URL is kept and ``signing_secret`` a webhook's signing key. ``read_secret`` reads one
by name (Secrets Manager in AWS, an environment variable locally), and it is called only when
the channel delivers, so a missing or unreadable secret fails that channel alone.

A secret holds the value itself, or JSON with one key: ``{"url": "https://…"}`` for a URL,
``{"signing_secret": "…"}`` for a signing key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sla_digest.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from sla_digest.delivery.channel import Channel
    from sla_digest.delivery.http import HttpPoster
    from sla_digest.delivery.once import DeliveryLedger

__all__ = [
    "CHAT_TYPES",
    "DIGEST_OF_PERIOD",
    "ChannelEntry",
    "ChannelSettings",
    "channels_for",
    "email_only",
    "secret_field",
]

CHAT_TYPES = ("slack", "teams", "webhook")
DIGEST_OF_PERIOD = {"day": "daily", "week": "weekly", "month": "monthly"}
"""The ``periods`` word (``digests`` in accounts.json) of each delivery period."""


class ChannelSettings(Protocol):
    """One entry of an account's ``channels``, as the configuration gives it."""

    @property
    def type(self) -> str: ...
    @property
    def recipients(self) -> Sequence[str]: ...
    @property
    def url_secret(self) -> str | None: ...
    @property
    def signing_secret(self) -> str | None: ...
    @property
    def periods(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class ChannelEntry:
    """A channel entry built in code: the email default, or the CLI's ``--deliver`` choices."""

    type: str
    recipients: tuple[str, ...] = ()
    url_secret: str | None = None
    signing_secret: str | None = None
    periods: tuple[str, ...] = ()


def email_only(recipients: Sequence[str]) -> tuple[ChannelEntry, ...]:
    """What an account without ``channels`` has: one email channel to its recipients."""
    return (ChannelEntry(type="email", recipients=tuple(recipients)),)


def secret_field(text: str, *, name: str, field: str, what: str) -> str:
    """The value kept in secret ``name``: the text itself, or ``field`` of a JSON object.

    Errors name the secret and what it should hold, never its value.
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            document: Any = json.loads(stripped)
        except ValueError:
            document = None
        value = document.get(field) if isinstance(document, dict) else None
        stripped = value.strip() if isinstance(value, str) else ""
    if not stripped:
        raise ConfigError(
            f'secret {name!r} holds no {what}: store the {what} itself or {{"{field}": "..."}}'
        )
    return stripped


def _reader(
    read_secret: Callable[[str], str], name: str | None, *, field: str, what: str, needed: str
) -> Callable[[], str]:
    def read() -> str:
        if not name:
            raise ConfigError(f"{needed}: the channel names no secret ({field})")
        return secret_field(read_secret(name), name=name, field=field, what=what)

    return read


def channels_for(
    entries: Iterable[ChannelSettings],
    *,
    account_id: int,
    read_secret: Callable[[str], str],
    email: Callable[[Sequence[str]], Channel],
    period: str = "day",
    poster: HttpPoster | None = None,
    ledger: DeliveryLedger | None = None,
) -> list[Channel]:
    """The channels that deliver ``period``'s digest, each behind ``ledger`` when given.

    ``email(recipients)`` builds the email channel (SES in AWS, the outbox locally). An entry
    whose ``periods`` leaves out this period's digest is skipped; no ``periods`` means all.
    """
    from sla_digest.delivery.once import ExactlyOnce

    digest = DIGEST_OF_PERIOD.get(period, period)
    channels: list[Channel] = []
    for entry in entries:
        if entry.periods and digest not in entry.periods:
            continue
        channel = _channel(entry, account_id=account_id, read_secret=read_secret, email=email,
                           poster=poster)  # fmt: skip
        channels.append(ExactlyOnce(channel, ledger) if ledger is not None else channel)
    return channels


def _channel(
    entry: ChannelSettings,
    *,
    account_id: int,
    read_secret: Callable[[str], str],
    email: Callable[[Sequence[str]], Channel],
    poster: HttpPoster | None,
) -> Channel:
    # Imported here: the message builders load the report's view, which a job that finds its
    # digest already delivered never needs.
    from sla_digest.delivery.slack import SlackChannel
    from sla_digest.delivery.teams import TeamsChannel
    from sla_digest.delivery.webhook import WebhookChannel

    kind = entry.type
    if kind == "email":
        return email(tuple(entry.recipients))
    if kind not in CHAT_TYPES:
        raise ConfigError(
            f"account {account_id}: channel type {kind!r} is not one of email, "
            f"{', '.join(CHAT_TYPES)}"
        )
    where = entry.url_secret or "url_secret"
    needed = f"the {kind} channel of account {account_id}"
    url = _reader(read_secret, entry.url_secret, field="url", what="URL", needed=needed)
    if kind == "slack":
        return SlackChannel(url, where=where, poster=poster)
    if kind == "teams":
        return TeamsChannel(url, where=where, poster=poster)
    key = _reader(
        read_secret, entry.signing_secret, field="signing_secret", what="signing key",
        needed=needed,
    )  # fmt: skip
    return WebhookChannel(
        url,
        signing_key=key,
        where=where,
        key_where=entry.signing_secret or "signing_secret",
        poster=poster,
    )
