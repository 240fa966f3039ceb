"""``--deliver email,slack,teams,webhook`` for local runs: channels from environment variables.

Locally a hook's URL comes from an environment variable (``SLA_DIGEST_SLACK_URL``,
``SLA_DIGEST_TEAMS_URL``, ``SLA_DIGEST_WEBHOOK_URL``) and the webhook's signing key from
``SLA_DIGEST_WEBHOOK_SECRET``, read only when the channel delivers. Every chosen channel goes
through the ledger ``DIR/deliveries.json``, so a rerun delivers only what has not succeeded
(``--force`` delivers again); Slack and Teams also leave an HTML preview of what they posted
in ``DIR/previews/``.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from sla_digest.delivery.channel import Channel, Delivery, Message, Receipt
    from sla_digest.delivery.http import HttpPoster

__all__ = [
    "CHOICES",
    "LEDGER_FILE",
    "PREVIEWS",
    "SECRET_VARIABLE",
    "URL_VARIABLES",
    "Previewing",
    "describe",
    "local_channels",
    "parse_deliver",
]

logger = logging.getLogger(__name__)

CHOICES = ("email", "slack", "teams", "webhook")
URL_VARIABLES = {
    "slack": "SLA_DIGEST_SLACK_URL",
    "teams": "SLA_DIGEST_TEAMS_URL",
    "webhook": "SLA_DIGEST_WEBHOOK_URL",
}
SECRET_VARIABLE = "SLA_DIGEST_WEBHOOK_SECRET"  # noqa: S105 - a variable's name, not a secret
LEDGER_FILE = "deliveries.json"
PREVIEWS = "previews"


def parse_deliver(text: str) -> tuple[str, ...]:
    """``email,slack`` → ``("email", "slack")``: known names, each once, in the order given."""
    chosen: list[str] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        if part not in CHOICES:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not a channel; choose from {','.join(CHOICES)}"
            )
        if part not in chosen:
            chosen.append(part)
    if not chosen:
        raise argparse.ArgumentTypeError(f"name at least one of {','.join(CHOICES)}")
    return tuple(chosen)


def _read_variable(name: str) -> str:
    value = os.environ.get(name, "")
    if not value.strip():
        what = "the webhook's signing key" if name == SECRET_VARIABLE else "the hook's URL"
        raise ConfigError(f"environment variable {name} is not set: set it to {what}")
    return value


class Previewing:
    """A channel that first writes an HTML preview of what it posts, then delivers as usual.

    It wraps the exactly-once channel, so a rerun that delivers nothing still shows the message.
    A preview that cannot be written is logged, never a reason not to deliver.
    """

    def __init__(
        self, channel: Channel, render: Callable[[Any], str], folder: Path, *, nested: bool
    ) -> None:
        self.channel = channel
        self.render = render
        self.folder = folder
        self.nested = nested

    @property
    def kind(self) -> str:
        return self.channel.kind

    def identity(self) -> dict[str, Any]:
        return self.channel.identity()

    def path(self, delivery: Delivery) -> Path:
        folder = self.folder
        if self.nested:
            folder = folder / f"account_id={delivery.account_id}" / f"date={delivery.start}"
        return folder / f"{self.kind}.html"

    def deliver(self, message: Message, delivery: Delivery) -> Receipt:
        path = self.path(delivery)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.render(message.summary), encoding="utf-8")
        except OSError as exc:
            logger.warning("%s preview not written to %s: %s", self.kind, path, exc.strerror)
        return self.channel.deliver(message, delivery)


def _renderers() -> dict[str, Callable[[Any], str]]:
    from sla_digest.delivery.slack import slack_payload
    from sla_digest.delivery.teams import teams_payload
    from sla_digest_cli.previews import slack_preview, teams_preview

    return {
        "slack": lambda summary: slack_preview(slack_payload(summary)),
        "teams": lambda summary: teams_preview(teams_payload(summary)),
    }


def local_channels(
    chosen: Sequence[str],
    *,
    account_id: int,
    recipients: Sequence[str],
    email: Callable[[Sequence[str]], Channel],
    out: Path,
    nested: bool = False,
    poster: HttpPoster | None = None,
) -> list[Channel]:
    """The ``--deliver`` channels of one account, exactly once through ``out/deliveries.json``.

    ``nested`` keeps previews apart per account and day (``run --config`` writes many).
    """
    from sla_digest.delivery.configured import ChannelEntry, channels_for
    from sla_digest.delivery.ledger import FileLedger

    entries = [
        ChannelEntry("email", recipients=tuple(recipients))
        if kind == "email"
        else ChannelEntry(
            kind,
            url_secret=URL_VARIABLES[kind],
            signing_secret=SECRET_VARIABLE if kind == "webhook" else None,
        )
        for kind in chosen
    ]
    channels = channels_for(
        entries,
        account_id=account_id,
        read_secret=_read_variable,
        email=email,
        poster=poster,
        ledger=FileLedger(out / LEDGER_FILE),
    )
    renderers = _renderers()
    return [
        Previewing(channel, renderers[channel.kind], out / PREVIEWS, nested=nested)
        if channel.kind in renderers
        else channel
        for channel in channels
    ]


def describe(receipts: Sequence[Receipt]) -> list[str]:
    """One line per channel for the terminal: delivered now, or found in the ledger."""
    return [
        f"{receipt.channel}: "
        + ("already delivered (deliveries.json); --force sends again" if receipt.duplicate
           else "delivered")
        for receipt in receipts
    ]  # fmt: skip
