"""``status``: what the archive and the queues say about each account of a deployed stack.

Per account: the last archived day, the last delivery (its ``delivery.json``), the permanent
failures on record (``failure.json``, and whether catch-up still holds the day back), and the
days overdue by the heartbeat's rule; then the depth of the jobs queue and its dead-letter
queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sla_digest.window import parse_date
from sla_digest_cli.stack import aws_call, read_stack_config

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sla_digest.archive.store import Archive
    from sla_digest.config import AccountConfig
    from sla_digest.jobs.failure import FingerprintOf
    from sla_digest_cli.stack import OperatorClients, Stack

__all__ = ["AccountStatus", "account_status", "queue_depth", "stack_status"]


@dataclass(slots=True)
class AccountStatus:
    """One account as the archive shows it."""

    label: str
    settings: str
    last_archived: str | None = None
    last_delivery: str | None = None
    failures: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        yield f"{self.label}: {self.settings}"
        yield f"  last archived day  {self.last_archived or 'none'}"
        yield f"  last delivery      {self.last_delivery or 'none'}"
        if not self.failures:
            yield "  failures           none on record"
        for line in self.failures:
            yield f"  failure            {line}"
        for line in self.overdue:
            yield f"  overdue            {line}"


def _dates(keys: Sequence[str], prefix: str, name: str) -> list[str]:
    """The dates of ``<prefix>date=<D>/<name>`` keys, oldest first."""
    found = []
    for key in keys:
        rest = key.removeprefix(prefix)
        if rest.startswith("date=") and rest.endswith("/" + name):
            found.append(rest[len("date=") : -len(name) - 1])
    return sorted(found)


def account_status(
    account: AccountConfig,
    *,
    archive: Archive,
    fingerprint: FingerprintOf | None,
    now: datetime,
) -> AccountStatus:
    """The last archived day, the last delivery, failures on record and overdue days.

    ``fingerprint`` reads the current config and secret versions, to tell whether a failed
    day is still held back; ``now`` stands for a schedule tick when finding overdue days.
    """
    from sla_digest.archive.day import DayArchive
    from sla_digest.jobs.dispatch import plan_scheduled
    from sla_digest.jobs.failure import account_secrets, read_failure
    from sla_digest.jobs.run import DELIVERY_MARKER, delivered

    account_id = account.account_id
    status = AccountStatus(
        label=account.label,
        settings=(
            f"{account.timezone}, sent at {account.send_hour:02d}:00, "
            + ("enabled" if account.enabled else "disabled")
        ),
    )
    summaries = _dates(
        archive.list(f"summaries/account_id={account_id}/"),
        f"summaries/account_id={account_id}/",
        "summary.json",
    )
    if summaries:
        last = DayArchive(archive, account_id, parse_date(summaries[-1]))
        manifest = last.manifest() or {}
        state = "complete" if manifest.get("complete") else "INCOMPLETE"
        status.last_archived = f"{summaries[-1]} ({state}; {len(summaries)} days archived)"
    digest_keys = archive.list(f"digests/account_id={account_id}/")
    prefix = f"digests/account_id={account_id}/"
    deliveries = _dates(digest_keys, prefix, DELIVERY_MARKER)
    if deliveries:
        day = DayArchive(archive, account_id, parse_date(deliveries[-1]))
        status.last_delivery = deliveries[-1] + _delivery_note(day.read_marker(DELIVERY_MARKER))
    for text in _dates(digest_keys, prefix, "failure.json"):
        record = read_failure(DayArchive(archive, account_id, parse_date(text)))
        if record is None:
            continue
        held = fingerprint is not None and record.fingerprint == fingerprint(
            account_secrets(account)
        )
        state = (
            "held back until accounts.json or one of the account's secrets changes"
            if held
            else "changed since: the next tick queues it again within two days of its send "
            "time, else run it with sla-digest invoke"
        )
        status.failures.append(
            f"{record.date} {record.error} at {record.recorded_at}: {record.message} ({state})"
        )
    if account.enabled:
        from sla_digest.config import Config

        plan = plan_scheduled(
            Config(accounts=(account,)),
            now,
            delivered=lambda _id, day: delivered(DayArchive(archive, account_id, day)),
        )
        prefix_label = f"{account.label} "
        status.overdue = [line.removeprefix(prefix_label) for line in plan.overdue]
    return status


def _delivery_note(data: bytes | None) -> str:
    try:
        marker = json.loads(data or b"")
    except ValueError:
        return ""
    if not isinstance(marker, dict):
        return ""
    channels = [
        str(item.get("channel"))
        for item in marker.get("channels", [])
        if isinstance(item, dict) and item.get("channel")
    ]
    when = marker.get("recorded_at")
    return (f" at {when}" if isinstance(when, str) else "") + (
        f" by {', '.join(channels)}" if channels else ""
    )


def queue_depth(url: str, *, clients: OperatorClients) -> int:
    attributes = aws_call(
        "reading a queue's depth",
        lambda: clients.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        ),
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def stack_status(
    stack: Stack,
    *,
    clients: OperatorClients,
    account_id: int | None = None,
    now: datetime | None = None,
) -> list[str]:
    """``status`` as lines: each account, then the queues."""
    from sla_digest.archive.store import S3Archive
    from sla_digest.aws import config_version, secret_version
    from sla_digest.jobs.failure import Fingerprint

    config = read_stack_config(stack, clients=clients)
    accounts = list(config.accounts)
    if account_id is not None:
        accounts = [config.account(account_id)]
    archive = S3Archive(stack.bucket, s3=clients.s3)
    etag = config_version(stack.bucket, stack.config_key, s3=clients.s3)

    def fingerprint(names: Sequence[str]) -> Fingerprint:
        versions = tuple(
            (name, secret_version(name, secretsmanager=clients.secretsmanager))
            for name in sorted(set(names))
        )
        return Fingerprint(config=etag, secrets=versions)

    lines: list[str] = []
    for error in config.errors:
        lines.append(f"left out of accounts.json: {error}")
    moment = now or datetime.now(tz=UTC)
    for account in accounts:
        status = account_status(account, archive=archive, fingerprint=fingerprint, now=moment)
        lines.extend(status.lines())
    waiting = queue_depth(stack.jobs_dlq_url, clients=clients)
    queued = queue_depth(stack.jobs_queue_url, clients=clients)
    lines.append(
        f"jobs queue: {queued} waiting; dead-letter queue: {waiting} failed job(s)"
        + (f" (after a fix: sla-digest redrive --stack {stack.name})" if waiting else "")
    )
    return lines
