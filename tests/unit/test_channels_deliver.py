"""Each channel on its own: one failing channel never blocks or repeats the others, and the
error that follows names the failed ones and says whether to retry."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from sla_digest.archive import DayArchive, LocalArchive
from sla_digest.delivery.channel import Delivery, Message, Receipt
from sla_digest.delivery.ledger import FileLedger
from sla_digest.delivery.once import ExactlyOnce
from sla_digest.exceptions import (
    ConfigError,
    DeliveryRejected,
    DeliveryUnavailable,
    is_retryable,
)
from sla_digest.jobs.run import DELIVERY_MARKER, deliver

DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 21, 7, tzinfo=UTC)
DELIVERY = Delivery(account_id=7, start=DAY)
MESSAGE = Message(digest=None, summary=None)  # type: ignore[arg-type]


@dataclass
class Fake:
    """A channel that fails with the queued errors, then delivers; counts its sends."""

    kind: str
    errors: list[BaseException] = field(default_factory=list)
    sent: int = 0

    def identity(self) -> dict[str, Any]:
        return {"channel": self.kind}

    def deliver(self, message: Message, delivery: Delivery) -> Receipt:
        if self.errors:
            raise self.errors.pop(0)
        self.sent += 1
        return Receipt(channel=self.kind, message_id=f"{self.kind}-{self.sent}")


def archive(tmp_path: Path) -> DayArchive:
    return DayArchive(LocalArchive(tmp_path / "out"), 7, DAY, flat=True)


def run(channels: list[Any], tmp_path: Path) -> tuple[Any, ...]:
    return deliver(MESSAGE, DELIVERY, channels=channels, archive=archive(tmp_path), now=NOW)


def test_every_channel_delivers_and_the_marker_lists_them(tmp_path: Path) -> None:
    # GIVEN three working channels
    channels = [Fake("email"), Fake("slack"), Fake("webhook")]
    # WHEN the digest is delivered
    receipts = run(channels, tmp_path)
    # THEN each sent once, and the delivery marker names all three
    assert [r.channel for r in receipts] == ["email", "slack", "webhook"]
    marker = json.loads(archive(tmp_path).read_marker(DELIVERY_MARKER) or b"{}")
    assert [c["channel"] for c in marker["channels"]] == ["email", "slack", "webhook"]


def test_a_failing_channel_in_the_middle_does_not_stop_the_ones_after_it(tmp_path: Path) -> None:
    # GIVEN Slack unavailable between email and the webhook
    channels = [
        Fake("email"),
        Fake("slack", [DeliveryUnavailable("the Slack hook of account 7: answered 503")]),
        Fake("webhook"),
    ]
    # WHEN the digest is delivered
    with pytest.raises(DeliveryUnavailable) as caught:
        run(channels, tmp_path)
    # THEN email and the webhook delivered, the error names Slack and is retryable
    assert [c.sent for c in channels] == [1, 0, 1]
    text = str(caught.value)
    assert text.startswith("account 7 2026-11-20: 1 of 3 channels failed (slack): slack: ")
    assert "delivered by email, webhook" in text
    # AND no marker, so the job is not taken for done
    assert archive(tmp_path).read_marker(DELIVERY_MARKER) is None


def test_permanent_failures_only_make_a_permanent_error(tmp_path: Path) -> None:
    # GIVEN two revoked hooks beside a working email
    channels = [
        Fake("slack", [DeliveryRejected("the Slack hook of account 7: answered 404")]),
        Fake("email"),
        Fake("teams", [ConfigError("the teams channel of account 7: no secret")]),
    ]
    # WHEN delivered
    with pytest.raises(DeliveryRejected) as caught:
        run(channels, tmp_path)
    # THEN both are named, and no retry is asked for
    assert "2 of 3 channels failed (slack, teams)" in str(caught.value)
    assert not is_retryable(caught.value)


def test_one_retryable_failure_among_permanent_ones_asks_for_a_retry(tmp_path: Path) -> None:
    # GIVEN one revoked hook and one throttled one
    channels = [
        Fake("slack", [DeliveryRejected("answered 410")]),
        Fake("teams", [DeliveryUnavailable("answered 429")]),
    ]
    # WHEN delivered; THEN the error is retryable, so the queue tries again
    with pytest.raises(DeliveryUnavailable):
        run(channels, tmp_path)


def test_a_bug_in_one_channel_does_not_cost_the_others_their_delivery(tmp_path: Path) -> None:
    # GIVEN a channel that crashes
    channels = [Fake("slack", [KeyError("blocks")]), Fake("email")]
    # WHEN delivered
    with pytest.raises(DeliveryUnavailable) as caught:
        run(channels, tmp_path)
    # THEN email went out, and the crash is the error's cause
    assert channels[1].sent == 1
    assert isinstance(caught.value.__cause__, KeyError)


def test_a_single_channel_raises_its_own_error_unchanged(tmp_path: Path) -> None:
    # GIVEN the email channel alone, refused
    refusal = DeliveryRejected("SES rejected the digest")
    # WHEN delivered; THEN its own error comes out, as before there were channels
    with pytest.raises(DeliveryRejected) as caught:
        run([Fake("email", [refusal])], tmp_path)
    assert caught.value is refusal


def test_behind_the_ledger_a_retry_delivers_only_the_channel_that_failed(tmp_path: Path) -> None:
    # GIVEN three channels behind one file ledger; Teams fails the first time
    ledger = FileLedger(tmp_path / "deliveries.json")
    fakes = [Fake("email"), Fake("teams", [DeliveryUnavailable("answered 500")]), Fake("slack")]
    channels = [ExactlyOnce(fake, ledger) for fake in fakes]
    with pytest.raises(DeliveryUnavailable):
        run(channels, tmp_path)
    # WHEN the job is retried
    receipts = run(channels, tmp_path)
    # THEN Teams was delivered now, the others were not sent again
    assert [fake.sent for fake in fakes] == [1, 1, 1]
    assert [(r.channel, r.duplicate) for r in receipts] == [
        ("email", True),
        ("teams", False),
        ("slack", True),
    ]
