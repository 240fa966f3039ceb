"""One account-day run delivers through the channels it is given, and records that it did."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sla_digest.archive import DayArchive, LocalArchive
from sla_digest.chatwoot import ChatwootClient
from sla_digest.delivery.once import ExactlyOnce, NoLedger
from sla_digest.exceptions import DeliveryUnavailable
from sla_digest.jobs.job import DayRequest
from sla_digest.jobs.run import DELIVERY_MARKER, Ports, delivered, run_account_day
from tests.fixtures.channels import MemoryChannel

if TYPE_CHECKING:
    from sla_digest_cli.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def _run(server: SandboxServer, folder: Path, *channels: object, force: bool = False):
    request = DayRequest(
        account_id=server.options.account_id,
        base_url=server.base_url,
        timezone=server.options.timezone,
        day=server.options.day,
    )
    archive = DayArchive(LocalArchive(folder), request.account_id, request.day)
    with ChatwootClient(server.base_url, server.options.admin_token) as client:
        ports = Ports(
            client=client,
            archive=archive,
            templates_dir=ROOT / "templates",
            channels=list(channels),  # type: ignore[arg-type]
            clock=lambda: NOW,
        )
        return run_account_day(request, ports, force=force), archive


def test_the_run_hands_the_rendered_digest_and_summary_to_each_channel(
    sandbox_factory, tmp_path: Path
) -> None:
    # GIVEN two in-memory channels
    server = sandbox_factory(events=60)
    first, second = MemoryChannel("one"), MemoryChannel("two")
    # WHEN the day is run
    result, archive = _run(server, tmp_path, first, second)
    # THEN each got the digest once, for this account and day, with the summary it shows
    for channel in (first, second):
        ((message, delivery),) = channel.delivered
        assert message.digest.subject == result.digest.subject
        assert message.summary == result.summary
        assert (delivery.account_id, delivery.start) == (7, server.options.day)
    # AND the receipts name the channels, and the marker records both deliveries
    assert [r.channel for r in result.receipts] == ["one", "two"]
    marker = json.loads((archive.read_marker(DELIVERY_MARKER) or b"{}").decode())
    assert [item["channel"] for item in marker["channels"]] == ["one", "two"]
    assert delivered(archive)


def test_without_channels_nothing_is_delivered_and_no_marker_is_written(
    sandbox_factory, tmp_path: Path
) -> None:
    # GIVEN no channel WHEN the day is run THEN it is archived and summarised but not delivered
    server = sandbox_factory(events=60)
    result, archive = _run(server, tmp_path)
    assert result.receipts == ()
    assert not delivered(archive)
    assert archive.summary() is not None


def test_a_channel_that_fails_fails_the_run_with_its_typed_error(
    sandbox_factory, tmp_path: Path
) -> None:
    # GIVEN a channel that is unreachable, behind the exactly-once wrapper with no ledger
    server = sandbox_factory(events=60)
    failing = MemoryChannel("hook", fail_with=DeliveryUnavailable("hook unreachable; retryable"))
    # WHEN the day is run THEN the error is the channel's, typed retryable, and no marker says
    # the day went out
    with pytest.raises(DeliveryUnavailable, match="unreachable"):
        _run(server, tmp_path, ExactlyOnce(failing, NoLedger()))
    assert not delivered(DayArchive(LocalArchive(tmp_path), 7, server.options.day))
